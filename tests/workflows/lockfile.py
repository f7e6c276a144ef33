"""Does requirements.lock pin what pyproject.toml asks for, with hashes?

`disagreements(pyproject_text, lock_text)` returns one message per problem: a dependency
(runtime or `test` extra) the lock does not pin for a supported Python, a pin its
specifier rejects, an entry without `==`, an entry without a `--hash`. The supported
environments are Linux x86_64 with CPython 3.11 and 3.12, what CI and the images run.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

EXTRAS = ("test",)
PYTHONS = ("3.11", "3.12")


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: tuple[str, ...]


def environments() -> list[dict[str, str]]:
    """Marker environments of the supported Pythons on Linux x86_64."""
    envs = []
    for python in PYTHONS:
        env = dict(default_environment())
        env.update(
            python_version=python,
            python_full_version=f"{python}.0",
            sys_platform="linux",
            platform_system="Linux",
            platform_machine="x86_64",
            os_name="posix",
            implementation_name="cpython",
            platform_python_implementation="CPython",
        )
        envs.append(env)
    return envs


def declared(pyproject_text: str) -> list[Requirement]:
    project = tomllib.loads(pyproject_text)["project"]
    lines = list(project.get("dependencies", []))
    for extra in EXTRAS:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    return [Requirement(line) for line in lines]


def pins(lock_text: str) -> list[Pin]:
    """The lock's entries, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for raw in lock_text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("--hash") else raw
        line = line.strip()
        if not line:
            continue
        current += " " + line.removesuffix("\\").strip()
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    if current.strip():
        logical.append(current.strip())
    result = []
    for entry in logical:
        spec, *options = entry.split(" --")
        hashes = tuple(o.removeprefix("hash=") for o in options if o.startswith("hash="))
        result.append(Pin(Requirement(spec), hashes))
    return result


def disagreements(pyproject_text: str, lock_text: str) -> list[str]:
    problems = []
    locked = pins(lock_text)
    for pin in locked:
        specifiers = list(pin.requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            problems.append(f"lock: {pin.requirement} is not pinned with ==")
        if not pin.hashes:
            problems.append(f"lock: {pin.requirement.name} has no --hash")
    for env in environments():
        python = env["python_version"]
        for wanted in declared(pyproject_text):
            if wanted.marker is not None and not wanted.marker.evaluate(env):
                continue
            name = canonicalize_name(wanted.name)
            applying = [
                pin
                for pin in locked
                if canonicalize_name(pin.requirement.name) == name
                and (pin.requirement.marker is None or pin.requirement.marker.evaluate(env))
            ]
            if len(applying) != 1:
                problems.append(
                    f"lock: {wanted.name} needs exactly one pin for Python {python} on Linux "
                    f"x86_64 (found {len(applying)}); run `make lock`"
                )
                continue
            version = str(next(iter(applying[0].requirement.specifier)).version)
            if not wanted.specifier.contains(version, prereleases=True):
                problems.append(
                    f"lock: {wanted.name}=={version} does not satisfy pyproject.toml's "
                    f"{wanted} (Python {python}); run `make lock`"
                )
    return problems
