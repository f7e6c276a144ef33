"""`mlops drift`: drift of current data (e.g. captured endpoint requests) vs a reference."""

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
    from ml.drift.monitor import Inputs, raise_on_drift, run_drift, write_reference_stats
    from ml.drift.sources import is_s3

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

    def s3() -> object:
        if "s3" not in clients:
            from ml import aws  # boto3: only for s3:// inputs

            clients["s3"] = aws.client("s3")
        return clients["s3"]

    inputs = Inputs(reference, current, categorical or [], exclude or [], since_hours, thresholds)
    result, paths = run_drift(inputs, out, s3)
    console.print(
        f"compared {len(result.features)} features ({result.reference_rows:,} reference rows, "
        f"{result.current_rows:,} current rows); reports in {paths.markdown.parent}"
    )
    raise_on_drift(result, paths)
    console.print("no drift detected")
