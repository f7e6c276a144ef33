"""Publish a stack's rendered Kubernetes manifests where a GitOps controller reads them.

`pulumi up` of a stack with `serving.kubernetes.renderYamlToDirectory` writes the manifests
on the CI runner (pulumi-kubernetes' `renderYamlToDirectory`, relative to the program's
working directory, `main:` of Pulumi.yaml). `publish_manifests` commits exactly those
files to `deploy/k8s/<stack>/` on the dedicated branch `gitops` (infra/contracts.py) and
pushes it; Argo CD or Flux watch that path (docs/kubernetes.md). Every publish replaces
the whole stack directory, so a manifest Pulumi no longer renders disappears from the
cluster too (the controller prunes), and publishing the same files twice commits nothing.

Git runs in a scratch repository, never in the caller's checkout. The token (`GH_TOKEN`,
the job's `contents: write` GITHUB_TOKEN) reaches git through `GIT_CONFIG_*` variables
as an HTTP header, never on a command line or in a file.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from common.errors import MlopsError
from common.files import read_yaml
from infra.contracts import GITOPS_BRANCH, gitops_path

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
MANIFEST_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Published:
    path: str
    """`deploy/k8s/<stack>/` on the branch."""
    files: int
    commit: str | None
    """The new commit, or None when the branch already held exactly these manifests."""


def rendered_directory(root: Path, configured: str) -> Path:
    """Where `pulumi up` wrote the manifests: `configured` relative to the program's
    working directory (Pulumi.yaml's `main`), as Pulumi runs it."""
    path = Path(configured)
    if path.is_absolute():
        return path
    project = read_yaml(root / "Pulumi.yaml", "Pulumi.yaml")
    main = project.get("main", ".") if isinstance(project, dict) else "."
    return root / str(main) / path


def manifest_files(source: Path) -> list[Path]:
    """The YAML files under `source` (relative), refusing anything a controller should not
    apply: no manifests at all, a symlink, or a file that is not YAML."""
    if not source.is_dir():
        raise MlopsError(f"{source}: no rendered manifests there (did pulumi up render them?)")
    files: list[Path] = []
    for path in sorted(source.rglob("*")):
        if path.is_symlink():
            raise MlopsError(f"{path}: a symlink among the manifests; refusing to publish")
        if path.is_file():
            if path.suffix not in MANIFEST_SUFFIXES:
                raise MlopsError(f"{path}: not a YAML manifest; refusing to publish")
            files.append(path.relative_to(source))
    if not files:
        raise MlopsError(f"{source}: no YAML manifests to publish")
    return files


def publish_manifests(
    source: Path,
    stack: str,
    remote: str,
    *,
    message: str,
    token: str | None = None,
    branch: str = GITOPS_BRANCH,
) -> Published:
    """Replace `deploy/k8s/<stack>/` on `branch` of `remote` with the files under `source`,
    commit as the Actions bot and push (a new orphan branch if there is none yet)."""
    files = manifest_files(source)
    target = gitops_path(stack)
    env = _git_env(remote, token)
    with tempfile.TemporaryDirectory(prefix="mlops-gitops-") as scratch:
        work = Path(scratch)
        git = _Git(work, env)
        git("init", "--quiet")
        if git("ls-remote", "--heads", remote, branch).strip():
            git("fetch", "--quiet", "--depth=1", remote, f"refs/heads/{branch}")
            git("checkout", "--quiet", "-B", branch, "FETCH_HEAD")
        else:
            git("checkout", "--quiet", "--orphan", branch)
        destination = work / target
        shutil.rmtree(destination, ignore_errors=True)
        for relative in files:
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, destination / relative)
        git("add", "--all", "--", target)
        if not git("status", "--porcelain", "--", target).strip():
            return Published(target, len(files), None)
        git("-c", f"user.name={BOT_NAME}", "-c", f"user.email={BOT_EMAIL}", "commit",
            "--quiet", "-m", message)  # fmt: skip
        git("push", "--quiet", remote, f"HEAD:refs/heads/{branch}")
        return Published(target, len(files), git("rev-parse", "HEAD").strip())


def _git_env(remote: str, token: str | None) -> Mapping[str, str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0=f"http.{remote}.extraheader",
            GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}",
        )
    return env


class _Git:
    def __init__(self, cwd: Path, env: Mapping[str, str]):
        self._cwd, self._env = cwd, dict(env)

    def __call__(self, *args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=self._cwd,
                env=self._env,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
        except FileNotFoundError:
            raise MlopsError("git: command not found") from None
        except subprocess.TimeoutExpired:
            raise MlopsError(f"git {args[0]}: timed out") from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise MlopsError(f"git {args[0]} failed: {lines[-1] if lines else done.returncode}")
        return done.stdout
