"""`mlops validate`: a trained candidate against the production model, with gates."""

from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import MlopsError
from ml.cli.usage import LazyConsole, existing_path, existing_path_or_s3
from ml.paths import DEFAULT_PARAMS

console: Any = LazyConsole(highlight=False, soft_wrap=True)


def validate(
    candidate: Annotated[
        Path,
        typer.Option(
            "--candidate",
            callback=existing_path,
            help="Candidate artifact directory (model.txt + model.json).",
        ),
    ] = Path("build/train/model"),
    production: Annotated[
        Path | None,
        typer.Option(
            "--production",
            callback=existing_path,
            help="Production artifact directory; without it only the "
            "absolute gates (latency, drift) apply.",
        ),
    ] = None,
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            callback=existing_path,
            help="Data channels the candidate was trained from (train/, validation/, reference/).",
        ),
    ] = Path("build/train/data"),
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            callback=existing_path_or_s3,
            help="Production's reference sample (CSV, local or s3://) for the drift gate; "
            "never a split of the candidate's own snapshot. Default: the reference channel "
            "of the data production was trained on (see --reference-bucket).",
        ),
    ] = None,
    reference_bucket: Annotated[
        str | None,
        typer.Option(
            "--reference-bucket",
            help="Data bucket holding production's reference channel, staged by the launcher "
            "under the hash of production's training data (its model.json names it).",
        ),
    ] = None,
    params: Annotated[
        Path,
        typer.Option(
            "--params",
            callback=existing_path,
            help="Params file with the gates and drift thresholds.",
        ),
    ] = DEFAULT_PARAMS,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for validation.md/.json/.html.")
    ] = Path("build/validation"),
    training_record: Annotated[
        Path | None,
        typer.Option(
            callback=existing_path,
            help="The candidate's training.json, whose MLflow run the reports link; "
            "default: training.json beside the candidate directory, if there is one.",
        ),
    ] = None,
) -> None:
    """Validate a candidate against production: metrics, latency, drift, gates.

    Exit 0 when every gate passes, 1 when a gate fails (the report says which and by how
    much), 2 on bad input. Writes validation.md, validation.json and validation.html.
    """
    from rich.table import Table

    from ml.params import load_params
    from ml.training.record import training_run_of
    from ml.validation.report import write_validation_reports
    from ml.validation.run import validate as run_validation

    settings = load_params(params)
    result = run_validation(candidate, production, data, settings, reference, reference_bucket)
    paths = write_validation_reports(out, result, training_run_of(candidate, training_record))
    table = Table(title="gates")
    for column in ("gate", "result", "detail"):
        table.add_column(column)
    for gate in result.gates:
        table.add_row(gate.name, "pass" if gate.passed else "FAIL", gate.message)
    console.print(table)
    console.print(f"reports: {paths.markdown}, {paths.json}, {paths.html}")
    if not result.passed:
        failed = "; ".join(g.message for g in result.failed)
        raise MlopsError(f"{len(result.failed)} gate(s) failed: {failed}", exit_code=1)
