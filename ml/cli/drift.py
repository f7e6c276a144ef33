"""`mlops drift`: drift of current data (e.g. captured endpoint requests) vs a reference."""

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ml.cli.usage import LazyConsole, existing_path
from ml.errors import MlopsError

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
        str,
        typer.Option(
            "--current",
            "-c",
            help="Current data: a CSV file with a header, a SageMaker data-capture JSON-lines "
            "file, or a directory or s3:// prefix of them.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for drift.md, drift.json, drift.html.")
    ],
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
    correction: Annotated[
        str | None,
        typer.Option(help="Multiple-testing correction of p-value thresholds: bonferroni or none."),
    ] = None,
) -> None:
    """Compare current data (CSV or captured requests) with a reference sample.

    Exit 0 if nothing drifts, 1 if drift is found, 2 on bad input. Writes drift.md,
    drift.json and drift.html into --out.
    """
    from ml import aws
    from ml.drift.detect import detect_drift_frames
    from ml.drift.readers import load_pair
    from ml.drift.report import write_drift_reports
    from ml.drift.sources import materialize, schema_categoricals

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
            clients["s3"] = aws.client("s3")
        return clients["s3"]

    with tempfile.TemporaryDirectory(prefix="mlops-drift-") as work:
        reference_path = materialize(reference, Path(work, "reference"), s3)
        current_path = materialize(current, Path(work, "current"), s3, since_hours)
        declared = schema_categoricals(reference, reference_path, s3)
        categories = sorted({*(categorical or []), *declared})
        pair = load_pair(reference_path, current_path, categories, exclude or [])
    result = detect_drift_frames(
        pair.reference, pair.current, pair.categorical, thresholds, pair.ignored
    )
    paths = write_drift_reports(out, result, reference, current)
    drifted = result.drifted
    console.print(
        f"compared {len(result.features)} features ({result.reference_rows:,} reference rows, "
        f"{result.current_rows:,} current rows); reports in {paths.markdown.parent}"
    )
    if drifted:
        raise MlopsError(
            f"drift detected in {len(drifted)} of {len(result.features)} features: "
            f"{', '.join(drifted)} (see {paths.markdown})",
            exit_code=1,
        )
    console.print("no drift detected")
