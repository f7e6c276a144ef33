"""The Kubernetes pod's init step, run as the pod runs it: `mlops model fetch` as a process
with the IRSA role's credentials against the emulator (IAM enforced), then the server on
what it fetched, answering a prediction LightGBM agrees with; and a tampered artifact
refused by the fetch in one line with a nonzero exit, leaving nothing to serve.

The role's trust and its reach are attacked on the rendered graph in
tests/infra/test_kubernetes_delivery.py; this is the same role's policy, exercised.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from infra.contracts import Env
from ml.artifacts import parse_s3_uri, sse_kms_arguments
from ml.demo.runner import Progress
from ml.demo.steps import DemoRun, DemoSettings
from ml.emulator.identities import credentials_for
from ml.provenance.kms import export_public_key_pem
from ml.registry.packages import find_package
from ml.serving.process import serve_in_background
from ml.serving.settings import ServeSettings

STACK = "staging"  # the stack that serves on Kubernetes


@dataclass(frozen=True)
class Cluster:
    """What the pod has: the fetch role's session, the mounted public key, its env."""

    run: DemoRun
    env: dict[str, str]
    public_key: Path


@pytest.fixture(scope="module")
def cluster(  # the emulator, the stack, and production v1 trained: about 20 s
    repo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    # given the emulator holding the staging stack with production v1 signed and approved
    out = tmp_path_factory.mktemp("k8s-fetch")
    with ExitStack() as exits:
        run = DemoRun(DemoSettings(stack=STACK, out=out / "demo", root=repo_root), exits)
        quiet = Progress(lambda _: None)
        run.render(quiet)
        run.start_emulator(quiet)
        run.build_production(quiet)
        _, pem = export_public_key_pem(run.clients["kms"], run.emulated.signing_key_alias)
        public_key = out / "signing-public-key.pem"  # the ConfigMap the pod mounts
        public_key.write_bytes(pem)
        # and the IRSA role's session, which the pod identity webhook hands the init container
        session = credentials_for(run.emulated, "kubernetes", run.clients["sts"])
        env = {
            **os.environ,
            **session.environment(),
            Env.SIGNING_PUBLIC_KEY: str(public_key),
            Env.REQUIRE_SIGNATURE: "true",
            Env.MODEL_NAME: run.model_name,
            Env.STACK: STACK,
            Env.MODEL_VERSION: str(run.production_version),
        }
        yield Cluster(run, env, public_key)


def fetch(cluster: Cluster, to: Path) -> subprocess.CompletedProcess[str]:
    """The init container's command, as the Deployment renders it."""
    mlops = Path(sys.executable).parent / "mlops"
    return subprocess.run(
        [str(mlops), "model", "fetch", "--group", cluster.run.group, "--to", str(to)],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_fetched_model_is_what_the_server_then_serves(cluster: Cluster, tmp_path: Path) -> None:
    # when the init step runs as the pod's role
    model_dir = tmp_path / "model"
    done = fetch(cluster, model_dir)
    assert done.returncode == 0, done.stderr
    assert "signature valid" in done.stdout, done.stdout
    # then the server, told only what the Deployment tells it, verifies and serves it
    settings = ServeSettings(
        model_dir=model_dir,
        workers=1,
        public_key=cluster.public_key,
        model_name=cluster.run.model_name,
        stack=STACK,
        model_version=cluster.run.production_version,
    )
    with serve_in_background("k8s", settings, tmp_path / "server.log") as server:
        ready, why = server.wait_ready(timeout=60)
        assert ready, why
        oracle = lgb.Booster(model_file=str(model_dir / "model.txt"))
        row = np.linspace(-1.0, 1.0, oracle.num_feature())
        body = ",".join(f"{value:.6f}" for value in row).encode()
        status, _, answer = server.request(
            "POST", "/invocations", body, {"Content-Type": "text/csv"}
        )
    assert status == 200, answer
    expected = oracle.predict(np.array([[float(f"{v:.6f}") for v in row]]))[0]
    assert float(answer.decode().strip()) == pytest.approx(expected, abs=1e-9), answer


@pytest.mark.slow
def test_tampered_artifact_is_refused_in_one_line_and_nothing_is_left_to_serve(
    cluster: Cluster, tmp_path: Path
) -> None:
    # given someone with write access to the bucket swaps model.txt inside v1's archive
    run = cluster.run
    package = find_package(run.clients["sagemaker"], run.group, run.production_version)
    source = parse_s3_uri(str(package.model_data_url))
    s3 = run.clients["s3"]
    original = s3.get_object(Bucket=source.bucket, Key=source.key)["Body"].read()
    tampered = _with_changed_model(original)
    data_key = run.emulated.outputs()["dataKeyArn"]
    s3.put_object(
        Bucket=source.bucket, Key=source.key, Body=tampered, **sse_kms_arguments(data_key)
    )
    try:
        # when the pod's init step fetches it
        model_dir = tmp_path / "model"
        done = fetch(cluster, model_dir)
    finally:
        s3.put_object(
            Bucket=source.bucket, Key=source.key, Body=original, **sse_kms_arguments(data_key)
        )
    # then it refuses, in one line, exit 1, and the server's directory stays empty
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: not fetching"), (
        done.stderr
    )
    assert "model.txt" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert not model_dir.exists() or not any(model_dir.iterdir()), list(model_dir.iterdir())


def _with_changed_model(archive: bytes) -> bytes:
    """The same archive (signature included) with one more line in model.txt."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source,
        tarfile.open(fileobj=out, mode="w:gz") as target,
    ):
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("model.txt") and data is not None:
                data += b"\n"
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def test_fetch_without_the_servers_version_and_key_fails_in_one_line(tmp_path: Path) -> None:
    # given a pod spec that lost MLOPS_MODEL_VERSION (or the key): nothing to verify against
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    mlops = Path(sys.executable).parent / "mlops"
    done = subprocess.run(
        [str(mlops), "model", "fetch", "--group", "mlops-staging-churn-classifier",
         "--to", str(tmp_path / "model")],
        env={**env, "AWS_REGION": "eu-west-1"}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    # then it stops before any AWS call, in one line, as bad input
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith("error: set MLOPS_MODEL_VERSION and MLOPS_SIGNING_PUBLIC_KEY")
    assert done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "model").exists(), "nothing fetched"
