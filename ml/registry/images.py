"""Push the serving image to the stack's ECR repository and learn its digest from ECR.

The repository's tags are immutable, so each image gets one tag per commit, `git-<sha>`,
and is referred to by digest from then on. The digest comes from ECR itself
(DescribeImages), the bytes the registry stores, not from the local engine's view. A
rerun for the same commit finds its tag taken and reuses the digest already pushed.
The container engine (docker or podman) is run through `runner`, ECR through its boto3
client, both passed in.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from common.commands import Runner, run_command
from common.errors import MlopsError

ENGINES = ("docker", "podman")
REPOSITORY_URL = re.compile(
    r"^(?P<registry>\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?)/(?P<name>[a-z0-9._/-]+)$"
)
COMMIT_TAG = re.compile(r"^git-[0-9a-f]{40}$")


def commit_tag(commit: str) -> str:
    """`git-<40 hex>`: the immutable tag of the image built from `commit`."""
    tag = f"git-{commit}"
    if not COMMIT_TAG.match(tag):
        raise MlopsError(f"--commit {commit!r}: expected a full 40-hex commit id")
    return tag


def find_engine(preferred: str | None = None, which=shutil.which) -> str:
    """docker or podman, whichever is installed (or `preferred`); one line if none is."""
    for name in (preferred,) if preferred else ENGINES:
        if which(name):
            return name
    wanted = preferred or " or ".join(ENGINES)
    raise MlopsError(f"no container engine: install {wanted} (or pass --engine)")


@dataclass(frozen=True)
class Repository:
    url: str
    registry: str
    name: str

    @classmethod
    def parse(cls, url: str) -> Repository:
        match = REPOSITORY_URL.match(url or "")
        if match is None:
            raise MlopsError(
                f"--repository-url {url!r}: expected <account>.dkr.ecr.<region>.amazonaws.com/"
                "<name> (the stack output repositoryUrl)"
            )
        return cls(url, match["registry"], match["name"])


def pushed_digest(ecr, repository: Repository, tag: str) -> str | None:
    """The digest ECR holds under `tag`, or None when the tag is free."""
    try:
        found = ecr.describe_images(repositoryName=repository.name, imageIds=[{"imageTag": tag}])
    except ecr.exceptions.ImageNotFoundException:
        return None
    details = found.get("imageDetails") or []
    return details[0]["imageDigest"] if details else None


def _login(ecr, repository: Repository, engine: str, runner: Runner) -> None:
    """Log the engine in to the registry with a 12-hour ECR token, password on stdin."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    runner([engine, "login", "--username", user, "--password-stdin", repository.registry],
           password)  # fmt: skip


@dataclass(frozen=True)
class Pushed:
    reference: str
    """`<repository>@sha256:<hex>`: what a stack file's mlops:image.digest points at."""
    digest: str
    already_there: bool


def push_image(
    ecr,
    *,
    local: str,
    repository: Repository,
    tag: str,
    engine: str,
    runner: Runner = run_command,
) -> Pushed:
    """Tag `local` as `<repository>:<tag>`, push it, and return the digest ECR stored."""
    existing = pushed_digest(ecr, repository, tag)
    if existing is not None:
        return Pushed(f"{repository.url}@{existing}", existing, already_there=True)
    target = f"{repository.url}:{tag}"
    _login(ecr, repository, engine, runner)
    steps: Sequence[list[str]] = ([engine, "tag", local, target], [engine, "push", target])
    for command in steps:
        runner(command, None)
    digest = pushed_digest(ecr, repository, tag)
    if digest is None:
        raise MlopsError(f"{target}: pushed, but ECR does not list it; check the repository")
    return Pushed(f"{repository.url}@{digest}", digest, already_there=False)
