"""`mlops quality` as the scheduled job runs it: a process holding the monitor role's
credentials against the emulator (IAM enforced), reading captured predictions and the
ground-truth labels from the stack's capture bucket. And the labels attacked: neither the
monitor nor the endpoint's role may rewrite them.

The grants themselves are read from the rendered graph in tests/infra/test_iam.py and
tests/contracts/test_grants.py; this is the same policy, exercised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from infra.contracts import capture_prefix, ground_truth_prefix, s3_uri
from ml.demo.runner import Progress
from ml.demo.steps import DemoRun, DemoSettings
from ml.emulator.identities import credentials_for
from tests.ml.quality.cases import AWS_CAPTURE_LINE, ROWS

STACK = "prod"


@dataclass(frozen=True)
class Stack:
    run: DemoRun
    bucket: str
    endpoint: str


@pytest.fixture(scope="module")
def stack(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # given the emulator holding the prod stack, and (put there as the administrator, as the
    # endpoint's data capture and the labelling process would) a day of captured
    # predictions and their labels
    out = tmp_path_factory.mktemp("quality-emulated")
    with ExitStack() as exits:
        run = DemoRun(DemoSettings(stack=STACK, out=out / "demo", root=repo_root), exits)
        quiet = Progress(lambda _: None)
        run.render(quiet)
        run.start_emulator(quiet)
        bucket = run.emulated.buckets["capture"]
        endpoint = f"mlops-{STACK}-{run.model_name}"
        lines = []
        for minute, (key, score, _) in enumerate(ROWS):
            record = json.loads(AWS_CAPTURE_LINE)
            record["captureData"]["endpointOutput"]["data"] = repr(score)
            record["eventMetadata"].update(
                inferenceId=key, inferenceTime=f"2026-01-06T17:{minute:02d}:00Z"
            )
            lines.append(json.dumps(record))
        capture = out / "capture.jsonl"
        capture.write_text("\n".join(lines) + "\n")
        labels = out / "labels.csv"
        labels.write_text("inference_id,label\n" + "".join(f"{k},{y}\n" for k, _, y in ROWS))
        run._put(bucket, f"{capture_prefix(endpoint)}2026/01/06/17/capture.jsonl", capture)
        run._put(bucket, f"{ground_truth_prefix(endpoint)}2026-01-06.csv", labels)
        yield Stack(run, bucket, endpoint)


def _as(stack: Stack, duty: str) -> dict[str, str]:
    session = credentials_for(stack.run.emulated, duty, stack.run.clients["sts"])
    return {**os.environ, **session.environment()}


@pytest.mark.slow
def test_monitor_role_scores_capture_against_labels_from_s3(stack: Stack, tmp_path: Path) -> None:
    # when the scheduled job's command runs as the monitor role (accuracy 4/6 vs 0.71)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"accuracy": 0.71, "roc_auc": 0.85}))
    mlops = Path(sys.executable).parent / "mlops"
    argv = [
        str(mlops), "quality",
        "--captures", s3_uri(stack.bucket, capture_prefix(stack.endpoint)),
        "--labels", s3_uri(stack.bucket, ground_truth_prefix(stack.endpoint)),
        "--since", "2026-01-06", "--until", "2026-01-07",
        "--baseline", str(baseline), "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    done = subprocess.run(
        argv,
        env=_as(stack, "monitor"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # then it read both prefixes with its own grants, and found the accuracy regression
    assert done.returncode == 1, f"exit {done.returncode}: {done.stdout} {done.stderr}"
    report = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert report["counts"]["joined"] == 6, report["counts"]
    assert report["regressions"] == ["accuracy"], report["checks"]


def _s3_as(stack: Stack, duty: str):
    credentials = credentials_for(stack.run.emulated, duty, stack.run.clients["sts"])
    return credentials.session().client("s3")


def _put(s3, stack: Stack, key: str, body: bytes) -> None:
    s3.put_object(
        Bucket=stack.bucket,
        Key=key,
        Body=body,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=stack.run.emulated.data_key_arn,
    )


@pytest.mark.slow
@pytest.mark.parametrize("duty", ["monitor", "inference"])
def test_ground_truth_cannot_be_rewritten_by_the_judged_or_the_judge(
    stack: Stack, duty: str
) -> None:
    # given the role's own credentials
    s3 = _s3_as(stack, duty)
    # when it tries to flip a label (f was a positive the model missed: hide the miss)
    key = f"{ground_truth_prefix(stack.endpoint)}2026-01-06.csv"
    with pytest.raises(ClientError) as refused:
        _put(s3, stack, key, b"inference_id,label\nf,0\n")
    # then IAM refuses it
    assert refused.value.response["Error"]["Code"] == "AccessDenied", refused.value.response


@pytest.mark.slow
def test_endpoint_role_still_writes_its_capture(stack: Stack) -> None:
    # the refusal above is the prefix, not a role that can write nothing
    key = f"{capture_prefix(stack.endpoint)}2026/01/06/18/more.jsonl"
    _put(_s3_as(stack, "inference"), stack, key, (AWS_CAPTURE_LINE + "\n").encode())
