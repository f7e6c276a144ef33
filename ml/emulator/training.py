"""Training jobs that train: the emulator runs the job's entry point (a fix for a moto gap).

Gap (moto 5.2.5): `CreateTrainingJob` records the job as Completed at once; it runs
nothing, downloads no channel, syncs no checkpoint, writes no `model.tar.gz` and reports
neither `TrainingTimeInSeconds` nor `BillableTimeInSeconds`. On AWS the job runs the
training image as the job's execution role. The fix wraps moto's
`SageMakerResponse.create_training_job` (installed by `Emulator.start`, removed by
`Emulator.stop`, the way `ml.emulator.patches` wraps moto); tests/ml/emulator/test_emulator.py
shows moto's own behaviour without it. It will not be fixed upstream: moto runs no
containers.

What a job does here, as SageMaker does on its instance (`TrainingJobs._attempt`):

1. Assume the job's `RoleArn` (`sts:AssumeRole`, session `SageMaker`): every S3 call of
   the job is made with that role's credentials, so under IAM enforcement the job can do
   exactly what the execution role's policies allow.
2. Downloading: each `S3Prefix` channel of `InputDataConfig` into
   `<instance>/opt/ml/input/data/<channel>/`; `hyperparameters.json` (string values),
   `inputdataconfig.json` and `resourceconfig.json` into `input/config/`; every object
   under `CheckpointConfig.S3Uri` into `LocalPath` (an interrupted job's checkpoints).
3. Training: the training image's `train` command, `python -m ml.training`, as a child
   process of this interpreter (the image named in the job is not pulled). It gets the
   job's `Environment`, the `SM_*` path variables that point the container layout at the
   instance directory (it cannot be `/opt/ml` here), and no AWS credentials (network
   isolation). New or changed checkpoint files are uploaded to the checkpoint URI while
   it runs, and once more when it exits.
4. Uploading: `model/` as `model.tar.gz` and `output/data/` as `output.tar.gz`, to
   `<S3OutputPath><job>/output/`, SSE-KMS under `OutputDataConfig.KmsKeyId`. The tarballs
   are deterministic (sorted names, zero times and owners), so equal models give equal
   bytes.
5. Completed; or Failed with `FailureReason` `AlgorithmError: <the failure file>` (the
   entry point's one line) or `ClientError: <the S3 error>`.

A spot interruption (`interrupt_next_job()`): once the job's first checkpoint is in S3,
the process gets SIGTERM (what a reclaimed spot instance sends), the instance directory
is discarded, the job waits for capacity and starts again from step 2, so it resumes from
its S3 checkpoints. Times follow `DescribeTrainingJob`: `TrainingTimeInSeconds` is the
wall clock from the first start to the end, the wait for capacity included;
`BillableTimeInSeconds` is that time without the wait (both rounded up to whole
seconds; the clock starts once the execution role is assumed). An uninterrupted job
bills all of its time (the emulator knows no spot price), so spot savings show only when
a job was interrupted.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from moto.core.utils import utcnow
from moto.sagemaker.responses import SageMakerResponse

from ml.artifacts import S3Object, parse_s3_uri, sse_kms_arguments
from ml.aws import describe_error
from ml.training.entry import EXIT_INTERRUPTED, ContainerPaths
from ml.training.sagemaker import MODEL_TARBALL, OUTPUT_TARBALL

SESSION_NAME = "SageMaker"
"""The role session the job's S3 calls run under (`assumed-role/<role>/SageMaker`)."""
SYNC_SECONDS = 0.1
"""How often the running job's checkpoint directory is synced to S3."""
_INTERRUPTED = "interrupted"


@dataclass
class JobRun:
    """What the emulator did for one training job (tests and the demo read it)."""

    name: str
    role_arn: str
    log: Path
    """The training container's stdout and stderr, every attempt (CloudWatch on AWS)."""
    interrupt: bool = False
    caller_arn: str | None = None
    """`sts:GetCallerIdentity` of the session the job's S3 calls used."""
    attempts: int = 0
    interruptions: int = 0
    restored: list[str] = field(default_factory=list)
    """Checkpoint files restored from S3 at the start of each attempt."""
    done: threading.Event = field(default_factory=threading.Event)


class TrainingJobs:
    """Runs the emulator's training jobs, each in a background thread."""

    def __init__(
        self,
        endpoint_url: str,
        service_credentials: Mapping[str, str],
        log_dir: Path | None = None,
        python: str = sys.executable,
    ):
        self.endpoint_url = endpoint_url
        self._service = dict(service_credentials)
        self._root = Path(tempfile.mkdtemp(prefix="mlops-emulator-training-"))
        self.log_dir = log_dir or self._root / "logs"
        self._python = python
        self._lock = threading.Lock()
        self._interrupt_next: float | None = None
        self._runs: dict[str, JobRun] = {}
        self._threads: list[threading.Thread] = []
        self._processes: set[subprocess.Popen[bytes]] = set()
        self._closing = threading.Event()

    # ---- what tests and the demo use ------------------------------------------------

    def interrupt_next_job(self, capacity_wait_seconds: float = 2.0) -> None:
        """The next job created gets one spot interruption after its first checkpoint
        reached S3, then waits `capacity_wait_seconds` (unbilled) for a new instance."""
        if capacity_wait_seconds < 0:
            raise ValueError("capacity wait must be >= 0 seconds")
        with self._lock:
            self._interrupt_next = capacity_wait_seconds

    def run(self, name: str) -> JobRun:
        with self._lock:
            return self._runs[name]

    def wait(self, name: str, timeout: float = 300.0) -> JobRun:
        """Block until job `name` has ended (Completed or Failed)."""
        run = self.run(name)
        if not run.done.wait(timeout):
            raise TimeoutError(f"training job {name} still running after {timeout:g}s")
        return run

    def close(self) -> None:
        """Stop every running job's process and remove the instances' directories."""
        self._closing.set()
        with self._lock:
            processes = list(self._processes)
        for process in processes:
            if process.poll() is None:
                process.kill()
        for thread in self._threads:
            thread.join(timeout=30)
        shutil.rmtree(self._root, ignore_errors=True)

    # ---- the job ---------------------------------------------------------------------

    def start(self, job: Any, environment: Mapping[str, str]) -> None:
        """Take over moto's just-created job: InProgress, then run it in a thread."""
        with self._lock:
            capacity_wait, self._interrupt_next = self._interrupt_next, None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        run = JobRun(
            job.training_job_name,
            job.role_arn,
            self.log_dir / f"{job.training_job_name}.log",
            interrupt=capacity_wait is not None,
        )
        # every attribute DescribeTrainingJob reads exists before the thread starts, so a
        # concurrent describe never sees the object's attributes change in number
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.training_start_time = None
        job.training_end_time = None
        job.training_time_in_seconds = None
        job.billable_time_in_seconds = None
        job.failure_reason = None
        job.environment = dict(environment)
        job.final_metric_data_list = None
        job.secondary_status_transitions = []
        _transition(job, "Starting", "Preparing the instances for training")
        thread = threading.Thread(
            target=self._work,
            args=(job, run, capacity_wait or 0.0),
            name=f"training-job-{run.name}",
            daemon=True,
        )
        with self._lock:
            self._runs[run.name] = run
            self._threads.append(thread)
        thread.start()

    def _work(self, job: Any, run: JobRun, capacity_wait: float) -> None:
        started: float | None = None
        unbilled = 0.0  # waiting for spot capacity: part of the training time, not billed
        status, reason = "Failed", None
        try:
            s3 = self._role_client(job, run)
            started = time.monotonic()
            job.training_start_time = utcnow()
            while True:
                run.attempts += 1
                instance = self._root / run.name / f"attempt-{run.attempts}"
                try:
                    outcome = self._attempt(job, run, s3, instance)
                finally:
                    shutil.rmtree(instance, ignore_errors=True)
                if outcome != _INTERRUPTED:
                    break
                run.interruptions += 1
                _transition(job, "Interrupted", "The spot instance was reclaimed (SIGTERM)")
                waited = time.monotonic()
                time.sleep(capacity_wait)
                unbilled += time.monotonic() - waited
                _transition(job, "Restarting", "Restarting from the job's S3 checkpoints")
            status, reason = ("Completed", None) if outcome is None else ("Failed", outcome)
        except _JobError as error:
            reason = str(error)
        except Exception as error:  # a bug here must still end the job, with a reason
            reason = f"InternalServerError: {type(error).__name__}: {error}"
        finally:
            if started is not None:
                elapsed = time.monotonic() - started
                job.training_end_time = utcnow()
                job.training_time_in_seconds = math.ceil(elapsed)
                job.billable_time_in_seconds = math.ceil(elapsed - unbilled)
            job.failure_reason = reason
            _transition(job, status, reason or "Training job completed")
            job.training_job_status = status
            run.done.set()

    def _role_client(self, job: Any, run: JobRun) -> Any:
        """S3 as the job's execution role, the way SageMaker acts for the job."""
        session, run.caller_arn = assume_job_role(
            self.endpoint_url, self._service, run.role_arn, job.arn.split(":")[3]
        )
        return session.client("s3", endpoint_url=self.endpoint_url)

    def _attempt(self, job: Any, run: JobRun, s3: Any, instance: Path) -> str | None:
        """One instance's life: download, train, upload. None when the job completed,
        `_INTERRUPTED` after a spot interruption, else the job's failure reason."""
        opt = instance / "opt" / "ml"
        checkpoint = job.checkpoint_config or {}
        local_checkpoints = instance / str(checkpoint.get("LocalPath", "/opt/ml/checkpoints"))[1:]
        names = [spec["ChannelName"] for spec in job.input_data_config or []]
        channels = {name: opt / "input" / "data" / name for name in names}
        paths = ContainerPaths(
            model_dir=opt / "model",
            train_dir=channels.get("train", opt / "input" / "data" / "train"),
            validation_dir=channels.get("validation", opt / "input" / "data" / "validation"),
            config_dir=opt / "input" / "config",
            output_dir=opt / "output",
            checkpoint_dir=local_checkpoints,
            output_data_dir=opt / "output" / "data",
        )
        for directory in (paths.model_dir, paths.config_dir, paths.output_data_dir):
            directory.mkdir(parents=True, exist_ok=True)

        _transition(job, "Downloading", "Downloading the input data and checkpoints")
        for spec in job.input_data_config or []:
            source = spec["DataSource"]["S3DataSource"]
            if source.get("S3DataType", "S3Prefix") != "S3Prefix":
                raise _JobError(f"ClientError: S3DataType {source['S3DataType']} is not emulated")
            _download_prefix(s3, source["S3Uri"], channels[spec["ChannelName"]], "Data download")
        _write_config(job, paths.config_dir)
        if checkpoint.get("S3Uri"):
            restored = _download_prefix(
                s3, checkpoint["S3Uri"], local_checkpoints, "Checkpoint download"
            )
            run.restored.extend(sorted(restored))

        _transition(job, "Training", "Training in progress")
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(job.environment)
        env.update(paths.environment(None, channels))
        env.update({"TRAINING_JOB_NAME": run.name, "TRAINING_JOB_ARN": job.arn})
        sync = _CheckpointSync(s3, checkpoint.get("S3Uri"), local_checkpoints, _kms_key(job))
        interrupt = run.interrupt and run.interruptions == 0
        with run.log.open("ab") as log:
            log.write(f"--- attempt {run.attempts}\n".encode())
            log.flush()
            process = subprocess.Popen(
                [self._python, "-m", "ml.training"],
                env=env,
                cwd=instance,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        with self._tracked(process):
            while process.poll() is None:
                if self._closing.is_set():
                    process.kill()
                    process.wait()
                    raise _JobError("InternalServerError: the emulator stopped")
                sync()
                if interrupt and sync.uploaded:
                    process.send_signal(signal.SIGTERM)
                    interrupt = False
                time.sleep(SYNC_SECONDS)
            sync()
        code = process.returncode
        if code in (EXIT_INTERRUPTED, -signal.SIGTERM) and run.interrupt:
            return _INTERRUPTED
        if code != 0:
            failure = paths.output_dir / "failure"
            text = failure.read_text(encoding="utf-8").strip() if failure.is_file() else ""
            return "AlgorithmError: " + (
                text or f"the training process exited with code {code}; see its log"
            )

        _transition(job, "Uploading", "Uploading the generated training model")
        output = job.output_data_config["S3OutputPath"].rstrip("/") + f"/{run.name}/output/"
        _upload_tarball(s3, paths.model_dir, f"{output}{MODEL_TARBALL}", _kms_key(job))
        if any(paths.output_data_dir.iterdir()):
            _upload_tarball(s3, paths.output_data_dir, f"{output}{OUTPUT_TARBALL}", _kms_key(job))
        return None

    @contextmanager
    def _tracked(self, process: subprocess.Popen[bytes]) -> Iterator[None]:
        with self._lock:
            self._processes.add(process)
        try:
            yield
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            with self._lock:
                self._processes.discard(process)


def assume_job_role(
    endpoint_url: str, service: Mapping[str, str], role_arn: str, region: str
) -> tuple[Any, str]:
    """A session of the job's role, as SageMaker assumes it (session `SageMaker`), and
    `sts:GetCallerIdentity` of that session."""
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=service["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=service["AWS_SECRET_ACCESS_KEY"],
    )
    with _client_errors("ClientError: assuming the execution role"):
        issued = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)
    credentials = issued["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )
    caller = session.client("sts", endpoint_url=endpoint_url).get_caller_identity()
    return session, caller["Arn"]


class _JobError(Exception):
    """Ends the job as Failed with this message as its FailureReason."""


class _CheckpointSync:
    """Uploads new or changed files of the checkpoint directory (what SageMaker's sync of
    `LocalPath` to `S3Uri` does while the job runs)."""

    def __init__(self, s3: Any, uri: str | None, directory: Path, kms_key: str | None):
        self._s3, self._uri, self._directory, self._kms_key = s3, uri, directory, kms_key
        self._seen: dict[Path, tuple[int, int]] = {}
        self.uploaded = 0

    def __call__(self) -> None:
        if not self._uri or not self._directory.is_dir():
            return
        target = parse_s3_uri(self._uri)
        for path in sorted(p for p in self._directory.rglob("*") if p.is_file()):
            try:
                stat = path.stat()
                if self._seen.get(path) == (stat.st_size, stat.st_mtime_ns):
                    continue
                body = path.read_bytes()
            except FileNotFoundError:
                continue  # a temporary file renamed or a pruned checkpoint: gone already
            key = f"{target.key.rstrip('/')}/{path.relative_to(self._directory).as_posix()}"
            _put(self._s3, S3Object(target.bucket, key), body, self._kms_key, "Checkpoint upload")
            self._seen[path] = (stat.st_size, stat.st_mtime_ns)
            self.uploaded += 1


def _transition(job: Any, status: str, message: str) -> None:
    """Close the current secondary status and open `status` (a new list each time, so a
    concurrent DescribeTrainingJob never iterates a list being changed)."""
    now = utcnow()
    transitions = [dict(t) for t in job.secondary_status_transitions or []]
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    entry = {"Status": status, "StartTime": now, "StatusMessage": message}
    if status in ("Completed", "Failed"):
        entry["EndTime"] = now
    job.secondary_status_transitions = [*transitions, entry]
    job.secondary_status = status
    job.last_modified_time = now


def _kms_key(job: Any) -> str | None:
    return (job.output_data_config or {}).get("KmsKeyId") or None


def _download_prefix(s3: Any, uri: str, destination: Path, what: str) -> list[str]:
    """Every object under `uri` into `destination`, keeping the key below the prefix."""
    source = parse_s3_uri(uri) if uri.count("/") > 2 else S3Object(uri[5:].rstrip("/"), "")
    destination.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    with _client_errors(f"ClientError: {what} failed for {uri}"):
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=source.bucket, Prefix=source.key
        )
        for page in pages:
            for item in page.get("Contents", []):
                relative = item["Key"][len(source.key) :].lstrip("/")
                if not relative or relative.endswith("/"):
                    continue
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                body = s3.get_object(Bucket=source.bucket, Key=item["Key"])["Body"].read()
                target.write_bytes(body)
                names.append(relative)
    return names


def _write_config(job: Any, config: Path) -> None:
    """The job's configuration files, as SageMaker writes them into input/config/."""
    files = {
        "hyperparameters.json": job.hyper_parameters or {},
        "inputdataconfig.json": {
            c["ChannelName"]: {
                key: c[key] for key in ("ContentType", "TrainingInputMode") if key in c
            }
            for c in job.input_data_config or []
        },
        "resourceconfig.json": {"current_host": "algo-1", "hosts": ["algo-1"]},
    }
    for name, content in files.items():
        (config / name).write_text(json.dumps(content), encoding="utf-8")


def deterministic_tarball(directory: Path) -> bytes:
    """`directory`'s files as a gzipped tar whose bytes depend on their names and
    contents only: sorted members, zero mtimes, root owner, mode 0644, no gzip time."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(path.relative_to(directory).as_posix())
            body = path.read_bytes()
            info.size, info.mtime, info.mode = len(body), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            archive.addfile(info, io.BytesIO(body))
    return gzip.compress(raw.getvalue(), mtime=0)


def _upload_tarball(s3: Any, directory: Path, uri: str, kms_key: str | None) -> None:
    _put(s3, parse_s3_uri(uri), deterministic_tarball(directory), kms_key, "Model upload")


def _put(s3: Any, target: S3Object, body: bytes, kms_key: str | None, what: str) -> None:
    extra = sse_kms_arguments(kms_key) if kms_key else {}
    with _client_errors(f"ClientError: {what} failed for {target.uri}"):
        s3.put_object(Bucket=target.bucket, Key=target.key, Body=body, **extra)


@contextmanager
def _client_errors(prefix: str) -> Iterator[None]:
    """Turn an AWS error into the job's failure reason: `<prefix>: <what AWS said>`."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise _JobError(f"{prefix}: {describe_error(error)}") from None


# ---- installing the fix ----------------------------------------------------------------

_ORIGINAL = SageMakerResponse.__dict__["create_training_job"]
_INSTALLED: list[TrainingJobs] = []


def _create_training_job(self: SageMakerResponse) -> Any:
    """moto's CreateTrainingJob, then the job handed to the installed `TrainingJobs`."""
    result = _ORIGINAL(self)
    if _INSTALLED:
        job = self.sagemaker_backend.training_jobs[self._get_param("TrainingJobName")]
        _INSTALLED[-1].start(job, self._get_param("Environment") or {})
    return result


def install(jobs: TrainingJobs) -> None:
    """Run every training job created from now on with `jobs` (this process's moto)."""
    _INSTALLED.append(jobs)
    SageMakerResponse.create_training_job = _create_training_job  # type: ignore[method-assign]


def uninstall(jobs: TrainingJobs) -> None:
    """Stop `jobs` and, when no other emulator runs jobs, give moto its own handler back."""
    if jobs in _INSTALLED:
        _INSTALLED.remove(jobs)
    jobs.close()
    if not _INSTALLED:
        SageMakerResponse.create_training_job = _ORIGINAL  # type: ignore[method-assign]


def installed() -> bool:
    return SageMakerResponse.create_training_job is _create_training_job
