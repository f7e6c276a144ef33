"""Processing jobs that process: the emulator runs the job's command (a fix for a moto gap).

Gap (moto 5.2.5): `CreateProcessingJob` records the job as Completed at once; it drops
`ProcessingResources` and `Environment`, downloads no input, runs nothing, uploads no
output and never sets `ExitMessage` or `FailureReason`. On AWS the job runs the image as
its `RoleArn`. The fix wraps moto's `SageMakerResponse.create_processing_job` (installed
by `Emulator.start`, removed by `Emulator.stop`), as `ml.emulator.training` does for
training jobs; tests/ml/drift/test_drift_processing.py shows moto's own behaviour without it.

What a job does here, as SageMaker does on its instance:

1. Assume the job's `RoleArn` (session `SageMaker`, `ml.emulator.training.assume_job_role`):
   every S3 call below is that role's, so IAM enforcement applies to it.
2. Downloading: each `S3Input` into its `LocalPath` (below the instance directory, which
   stands for the container's `/`): an `S3Prefix` all objects under it, a `ManifestFile`
   exactly the objects the manifest names (`[{"prefix": ...}, "<key>", ...]`), each at
   its key below the prefix.
3. Running: `AppSpecification.ContainerEntrypoint` + `ContainerArguments` as a child
   process (`python` is this interpreter; the image is not pulled), arguments under
   `/opt/ml/` pointed at the instance directory, with the job's `Environment`,
   `MLOPS_CONTAINER_ROOT` (the instance directory) and no AWS credentials (network
   isolation).
4. Uploading (exit code 0): every file under each output's `LocalPath` to its `S3Uri`,
   SSE-KMS under `ProcessingOutputConfig.KmsKeyId`.
5. Completed; or Failed with `FailureReason` `AlgorithmError: ...` or `ClientError: <the
   S3 error>`. Either way `ExitMessage` is the first KB of `/opt/ml/output/message`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core.utils import utcnow
from moto.sagemaker.responses import SageMakerResponse

from ml.artifacts import S3Object, parse_s3_uri
from ml.drift.job import CONTAINER_ROOT, MESSAGE
from ml.emulator.training import (
    _client_errors,
    _download_prefix,
    _JobError,
    _put,
    assume_job_role,
)


@dataclass
class ProcessingRun:
    """What the emulator did for one processing job (tests read it)."""

    name: str
    role_arn: str
    log: Path
    caller_arn: str | None = None
    downloaded: list[str] = field(default_factory=list)
    """`s3://` URIs of every object the job's inputs fetched."""
    done: threading.Event = field(default_factory=threading.Event)


class ProcessingJobs:
    """Runs the emulator's processing jobs, each in a background thread."""

    def __init__(
        self,
        endpoint_url: str,
        service_credentials: Mapping[str, str],
        python: str = sys.executable,
    ):
        self.endpoint_url = endpoint_url
        self._service = dict(service_credentials)
        self._root = Path(tempfile.mkdtemp(prefix="mlops-emulator-processing-"))
        self._python = python
        self._lock = threading.Lock()
        self._runs: dict[str, ProcessingRun] = {}
        self._threads: list[threading.Thread] = []

    def run(self, name: str) -> ProcessingRun:
        with self._lock:
            return self._runs[name]

    def wait(self, name: str, timeout: float = 300.0) -> ProcessingRun:
        run = self.run(name)
        if not run.done.wait(timeout):
            raise TimeoutError(f"processing job {name} still running after {timeout:g}s")
        return run

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=30)
        shutil.rmtree(self._root, ignore_errors=True)

    def start(self, job: Any, request: Mapping[str, Any]) -> None:
        """Take over moto's just-created job: InProgress, with what moto dropped, then run."""
        logs = self._root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        run = ProcessingRun(
            job.processing_job_name, job.role_arn, logs / f"{job.processing_job_name}.log"
        )
        job.processing_job_status = "InProgress"
        job.processing_start_time = utcnow()
        job.processing_end_time = None
        job.processing_resources = request.get("ProcessingResources")
        job.environment = dict(request.get("Environment") or {})
        job.exit_message = None
        job.failure_reason = None
        thread = threading.Thread(target=self._work, args=(job, run), daemon=True)
        with self._lock:
            self._runs[run.name] = run
            self._threads.append(thread)
        thread.start()

    def _work(self, job: Any, run: ProcessingRun) -> None:
        status, reason = "Failed", None
        instance = self._root / run.name
        try:
            session, run.caller_arn = assume_job_role(
                self.endpoint_url, self._service, run.role_arn, job.arn.split(":")[3]
            )
            s3 = session.client("s3", endpoint_url=self.endpoint_url)
            for spec in job.processing_inputs or []:
                self._download(s3, spec["S3Input"], instance, run)
            code = self._command(job, instance, run)
            if code == 0:
                kms = (job.processing_output_config or {}).get("KmsKeyId")
                for output in (job.processing_output_config or {}).get("Outputs", []):
                    _upload_directory(s3, output["S3Output"], instance, kms)
                status = "Completed"
            else:
                reason = f"AlgorithmError: the processing command exited with code {code}"
        except _JobError as error:
            reason = str(error)
        except Exception as error:  # a bug here must still end the job, with a reason
            reason = f"InternalServerError: {type(error).__name__}: {error}"
        finally:
            message = instance / MESSAGE
            if message.is_file():
                job.exit_message = message.read_text(encoding="utf-8")[:1024]
            shutil.rmtree(instance, ignore_errors=True)
            job.failure_reason = reason
            job.processing_end_time = utcnow()
            job.last_modified_time = job.processing_end_time
            job.processing_job_status = status
            run.done.set()

    def _download(self, s3: Any, spec: Mapping[str, Any], instance: Path, run: Any) -> None:
        local = _inside(instance, spec["LocalPath"])
        kind = spec.get("S3DataType", "S3Prefix")
        if kind == "S3Prefix":
            names = _download_prefix(s3, spec["S3Uri"], local, "Input download")
            prefix = spec["S3Uri"].rstrip("/") + "/"
            run.downloaded += [prefix + name for name in names]
            return
        if kind != "ManifestFile":
            raise _JobError(f"ClientError: S3DataType {kind} is not emulated")
        manifest = parse_s3_uri(spec["S3Uri"])
        with _client_errors(f"ClientError: reading the manifest {spec['S3Uri']}"):
            body = s3.get_object(Bucket=manifest.bucket, Key=manifest.key)["Body"].read()
        head, *keys = json.loads(body)
        bucket, _, base = str(head["prefix"]).removeprefix("s3://").partition("/")
        for key in keys:
            source = S3Object(bucket, base + key)
            with _client_errors(f"ClientError: Input download failed for {source.uri}"):
                data = s3.get_object(Bucket=source.bucket, Key=source.key)["Body"].read()
            target = local / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            run.downloaded.append(source.uri)

    def _command(self, job: Any, instance: Path, run: ProcessingRun) -> int:
        app = job.app_specification or {}
        command = [*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])]
        if not command:
            raise _JobError("ClientError: the job names no ContainerEntrypoint")
        if command[0] in ("python", "python3"):
            command[0] = self._python
        command = [str(_inside(instance, a)) if a.startswith("/opt/ml/") else a for a in command]
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(job.environment or {})
        env[CONTAINER_ROOT] = str(instance)
        instance.mkdir(parents=True, exist_ok=True)
        with run.log.open("ab") as log:
            process = subprocess.run(
                command, env=env, cwd=instance, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        return process.returncode


def _inside(instance: Path, container_path: str) -> Path:
    """A container path (`/opt/ml/...`) on the instance directory that stands for `/`."""
    return instance / container_path.lstrip("/")


def _upload_directory(
    s3: Any, output: Mapping[str, Any], instance: Path, kms_key: str | None
) -> None:
    local = _inside(instance, output["LocalPath"])
    target = parse_s3_uri(output["S3Uri"]) if output["S3Uri"].count("/") > 2 else None
    if target is None:
        raise _JobError(f"ClientError: output {output['S3Uri']} names no key prefix")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = f"{target.key.rstrip('/')}/{path.relative_to(local).as_posix()}"
        _put(s3, S3Object(target.bucket, key), path.read_bytes(), kms_key, "Output upload")


# ---- installing the fix ----------------------------------------------------------------

_ORIGINAL = SageMakerResponse.__dict__["create_processing_job"]
_INSTALLED: list[ProcessingJobs] = []


def _create_processing_job(self: SageMakerResponse) -> Any:
    """moto's CreateProcessingJob, then the job handed to the installed `ProcessingJobs`."""
    result = _ORIGINAL(self)
    if _INSTALLED:
        name = self._get_param("ProcessingJobName")
        job = self.sagemaker_backend.processing_jobs[name]
        request = {
            "ProcessingResources": self._get_param("ProcessingResources"),
            "Environment": self._get_param("Environment"),
        }
        _INSTALLED[-1].start(job, request)
    return result


def install(jobs: ProcessingJobs) -> None:
    _INSTALLED.append(jobs)
    SageMakerResponse.create_processing_job = _create_processing_job  # type: ignore[method-assign]


def uninstall(jobs: ProcessingJobs) -> None:
    if jobs in _INSTALLED:
        _INSTALLED.remove(jobs)
    jobs.close()
    if not _INSTALLED:
        SageMakerResponse.create_processing_job = _ORIGINAL  # type: ignore[method-assign]
