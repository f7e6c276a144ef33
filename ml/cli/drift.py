"""`mlops drift`: drift of current data (e.g. captured endpoint requests) vs a reference."""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from common.errors import MlopsError
from ml.cli.usage import LazyConsole, existing_path

if TYPE_CHECKING:
    from ml.params import DriftParams

console: Any = LazyConsole(highlight=False, soft_wrap=True)


def resolve_thresholds(params: Path | None, overrides: dict[str, object]) -> "DriftParams":
    """The params file's `drift:` section (or the defaults), with explicit options on top."""
    from pydantic import ValidationError

    from ml.params import DriftParams, load_params, one_line

    base = load_params(params).drift if params is not None else DriftParams()
    values = {**base.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return DriftParams.model_validate(values)
    except ValidationError as error:
        raise MlopsError(one_line(error, "drift thresholds")) from None


def drift(
    reference: Annotated[
        str,
        typer.Option(
            "--reference",
            "-r",
            help="Reference sample: one CSV file with a header, local or s3:// (e.g. the "
            "reference channel training wrote, <data>/reference/reference.csv).",
        ),
    ],
    current: Annotated[
        str | None,
        typer.Option(
            "--current",
            "-c",
            help="Current data: a CSV file with a header, a SageMaker data-capture JSON-lines "
            "file, or a directory or s3:// prefix of them.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory for drift.md, drift.json, drift.html."),
    ] = None,
    categorical: Annotated[
        list[str] | None,
        typer.Option(
            "--categorical",
            help="Compare this column as categories (repeatable); text columns always are, "
            "and so are those the schema.json beside the reference declares categorical.",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Reference column to leave out, e.g. a label (repeatable)."),
    ] = None,
    since_hours: Annotated[
        float | None,
        typer.Option(help="For an s3:// prefix: only objects written in the last N hours."),
    ] = None,
    new_only: Annotated[
        bool,
        typer.Option(
            "--new-only",
            help="For an endpoint variant's s3:// capture prefix: read only the captures "
            "after the marker the last successful run left (under monitor-state/ in the "
            "capture bucket), then advance it. Nothing new: exit 0, marker unchanged.",
        ),
    ] = False,
    publish_metrics: Annotated[
        bool,
        typer.Option(
            "--publish-metrics",
            help="Publish the drifted-feature count to CloudWatch (DriftedFeatures in "
            "mlops/monitoring) for the endpoint whose capture prefix --current names.",
        ),
    ] = False,
    on: Annotated[
        str,
        typer.Option(
            "--on",
            help="Where the comparison runs: runner (this process) or sagemaker (a Processing "
            "job with --image as --role, for a window that outgrows a runner; same reports).",
        ),
    ] = "runner",
    role: Annotated[
        str | None, typer.Option(help="--on sagemaker: the job's role (the monitor role's ARN).")
    ] = None,
    image: Annotated[
        str | None, typer.Option(help="--on sagemaker: the mlops image (by digest).")
    ] = None,
    kms_key: Annotated[
        str | None,
        typer.Option(help="--on sagemaker: the stack's data key ARN (volume, output, manifest)."),
    ] = None,
    job_prefix: Annotated[
        str | None,
        typer.Option(help="--on sagemaker: job name prefix, mlops-<stack> (the grant's)."),
    ] = None,
    subnet: Annotated[
        list[str] | None,
        typer.Option(help="--on sagemaker: a private subnet of the stack (repeatable)."),
    ] = None,
    security_group: Annotated[
        list[str] | None,
        typer.Option(help="--on sagemaker: the stack's job security group (repeatable)."),
    ] = None,
    instance_type: Annotated[
        str, typer.Option(help="--on sagemaker: the processing instance type.")
    ] = "ml.m5.xlarge",
    params: Annotated[
        Path | None,
        typer.Option(
            "--params",
            callback=existing_path,
            help="Take thresholds from this params file's drift section.",
        ),
    ] = None,
    ks_pvalue: Annotated[
        float | None, typer.Option(help="KS p-value threshold before correction (default 0.05).")
    ] = None,
    ks_statistic: Annotated[
        float | None, typer.Option(help="KS statistic threshold (default 0.2).")
    ] = None,
    psi: Annotated[float | None, typer.Option(help="PSI threshold (default 0.2).")] = None,
    chi2_pvalue: Annotated[
        float | None,
        typer.Option(help="Chi-square p-value threshold before correction (default 0.05)."),
    ] = None,
    psi_bins: Annotated[
        int | None, typer.Option(help="Reference quantile bins for PSI (default 10).")
    ] = None,
    write_stats: Annotated[
        bool,
        typer.Option(
            "--write-reference-stats",
            help="Sort the reference once and store its statistics beside it "
            "(<reference>.stats.json and .stats.npy); later runs use them while the "
            "reference is unchanged.",
        ),
    ] = False,
    correction: Annotated[
        str | None,
        typer.Option(help="Multiple-testing correction of p-value thresholds: bonferroni or none."),
    ] = None,
) -> None:
    """Compare current data (CSV or captured requests) with a reference sample.

    Exit 0 if nothing drifts, 1 if drift is found, 2 on bad input. Writes drift.md,
    drift.json and drift.html into --out.
    """
    if "numpy" not in sys.modules:
        # numpy's OpenBLAS starts a thread per core as it loads (0.07 s of CPU, twice that
        # in wall time on a busy runner); the comparison does no linear algebra. A user's
        # own setting wins, and a process that loaded numpy already is left as it is.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    prefetch = None
    if on == "runner" and current is not None and out is not None and not write_stats:
        # polars reads the local files while the rest of the command imports
        from ml.drift.prefetch import Prefetch

        prefetch = Prefetch.start(reference, current, exclude or [])
    from ml.drift.monitor import Inputs, raise_on_drift, run_drift, write_reference_stats
    from ml.drift.sources import is_s3
    from ml.drift.window import NoNewCaptures

    if write_stats:
        if is_s3(reference):
            raise MlopsError(
                "--write-reference-stats needs a local reference file: write the statistics "
                "beside it, then upload both (training does, for its reference channel)"
            )
        written = write_reference_stats(Path(reference))
        console.print(f"reference statistics written to {written[0]} and {written[1]}")
        if current is None and out is None:
            return
    if current is None or out is None:
        raise MlopsError("--current and --out are required (unless --write-reference-stats)")
    thresholds = resolve_thresholds(
        params,
        {
            "ks_pvalue": ks_pvalue,
            "ks_statistic": ks_statistic,
            "psi": psi,
            "chi2_pvalue": chi2_pvalue,
            "psi_bins": psi_bins,
            "correction": correction,
        },
    )
    clients: dict[str, object] = {}

    def client(service: str) -> object:
        if service not in clients:
            from ml import aws  # boto3: only for s3:// inputs and metrics

            clients[service] = aws.client(service)
        return clients[service]

    inputs = Inputs(
        reference,
        current,
        categorical or [],
        exclude or [],
        since_hours,
        thresholds,
        new_only=new_only,
        publish=publish_metrics,
    )
    if on not in ("runner", "sagemaker"):
        raise MlopsError(f"--on {on}: choose runner or sagemaker")
    try:
        if on == "sagemaker":
            from ml.drift.processing import ProcessingSpec, run_on_sagemaker

            missing = [f"--{n}" for n, v in (("role", role), ("image", image),
                       ("kms-key", kms_key), ("job-prefix", job_prefix)) if not v]  # fmt: skip
            if missing:
                raise MlopsError(f"--on sagemaker needs {', '.join(missing)}")
            spec = ProcessingSpec(
                str(job_prefix),
                str(role),
                str(image),
                str(kms_key),
                instance_type=instance_type,
                subnet_ids=tuple(subnet or ()),
                security_group_ids=tuple(security_group or ()),
            )
            job = run_on_sagemaker(inputs, out, spec, client)  # type: ignore[arg-type]
            console.print(f"processing job {job.job_name} read {job.objects} capture object(s)")
            summary = (job.drifted, job.features, job.reference_rows, job.current_rows)
        else:
            run = run_drift(
                inputs, out, lambda: client("s3"), lambda: client("cloudwatch"), prefetch
            )
            result = run.result
            summary = (
                result.drifted,
                len(result.features),
                result.reference_rows,
                result.current_rows,
            )
    except NoNewCaptures as nothing:
        console.print(f"{nothing}: no reports, marker unchanged")
        return
    drifted, features, reference_rows, current_rows = summary
    markdown = out / "drift.md"
    console.print(
        f"compared {features} features ({reference_rows:,} reference rows, "
        f"{current_rows:,} current rows); reports in {out}"
    )
    raise_on_drift(drifted, features, markdown)
    console.print("no drift detected")
