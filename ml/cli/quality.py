"""`mlops quality`: the production model's predictions scored against ground truth."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import MlopsError
from ml.cli.usage import LazyConsole

console: Any = LazyConsole(highlight=False, soft_wrap=True)


def _instant(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 date or time, UTC unless it says otherwise."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MlopsError(
            f"{option} {value!r} is not an ISO 8601 time (e.g. 2026-01-06 or 2026-01-06T17:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _TerminalProgress:
    """A rich progress bar over the capture bytes read: on a terminal only."""

    def __init__(self, terminal: Any) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self.bar = Progress(
            "reading captures",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=terminal,
            transient=True,
        )
        self.task: Any = None

    def start(self, total_bytes: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("captures", total=total_bytes)

    def advance(self, done_bytes: int) -> None:
        self.bar.advance(self.task, done_bytes)

    def stop(self) -> None:
        self.bar.stop()


def quality(
    captures: Annotated[
        str,
        typer.Option(
            "--captures",
            "-c",
            help="SageMaker data-capture JSON lines (Input and Output captured): a file, a "
            "directory or an s3:// prefix (one endpoint's, in the capture bucket).",
        ),
    ],
    labels: Annotated[
        str,
        typer.Option(
            "--labels",
            "-l",
            help="Ground truth: CSV or JSON lines with inference_id and label (0/1), or "
            "SageMaker ground-truth JSON lines; a file, directory or s3:// location.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for quality.md, .json and .html.")
    ],
    since: Annotated[
        str | None,
        typer.Option(
            help="Window start (inference time, ISO 8601, UTC unless given). Default: 24 hours "
            "ago for s3:// captures, the first capture for local ones."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Window end, exclusive (ISO 8601). Default: now / the last capture."),
    ] = None,
    lag_hours: Annotated[
        float,
        typer.Option(
            help="For s3:// captures without --since/--until: end the 24-hour window this many "
            "hours ago (labels arrive after the predictions)."
        ),
    ] = 0.0,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            "-e",
            help="The endpoint judged: its served model's registered metrics are the baseline "
            "(unless --baseline), and the published metric's dimension.",
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Baseline metrics from a JSON file instead of the registry (offline use): "
            "{accuracy, roc_auc, log_loss}, or a validation.json report.",
        ),
    ] = None,
    accuracy_tolerance: Annotated[
        float | None,
        typer.Option(help="Relative drop of accuracy below the baseline tolerated (0.05)."),
    ] = None,
    roc_auc_tolerance: Annotated[
        float | None,
        typer.Option(help="Relative drop of ROC AUC below the baseline tolerated (0.05)."),
    ] = None,
    log_loss_tolerance: Annotated[
        float | None,
        typer.Option(help="Relative rise of log loss above the baseline tolerated (0.25)."),
    ] = None,
    publish_metrics: Annotated[
        bool,
        typer.Option(
            "--publish-metrics",
            help="Put the count of regressed metrics to CloudWatch (QualityRegressions, "
            "namespace mlops/monitoring, per --endpoint).",
        ),
    ] = False,
) -> None:
    """Score captured predictions against ground-truth labels over a window.

    Exit 0 if no metric is worse than its tolerance, 1 if one is, 2 on bad input.
    """
    from pydantic import ValidationError

    from ml.params import one_line
    from ml.quality.evaluate import Tolerances
    from ml.quality.run import Inputs, run_quality

    overrides = {
        "accuracy": accuracy_tolerance,
        "roc_auc": roc_auc_tolerance,
        "log_loss": log_loss_tolerance,
    }
    try:
        tolerances = Tolerances(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        raise MlopsError(one_line(error, "tolerances")) from None
    inputs = Inputs(
        captures=captures,
        labels=labels,
        since=_instant(since, "--since"),
        until=_instant(until, "--until"),
        baseline_file=baseline,
        endpoint=endpoint,
        tolerances=tolerances,
        publish=publish_metrics,
        lag_hours=lag_hours,
    )
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            from ml import aws  # boto3: only for S3, the registry, CloudWatch

            clients[service] = aws.client(service)
        return clients[service]

    from rich.console import Console

    terminal = Console(stderr=True)
    progress = _TerminalProgress(terminal) if terminal.is_terminal else None
    try:
        result, paths, base = run_quality(inputs, out, client, progress)
    finally:
        if progress is not None:
            progress.stop()
    console.print(
        f"scored {result.joined:,} labelled predictions against {base.source}; "
        f"reports in {paths.markdown.parent}"
    )
    if result.regressions:
        raise MlopsError(
            f"quality regressed in {', '.join(result.regressions)} (see {paths.markdown})",
            exit_code=1,
        )
    console.print("no metric worse than tolerated")
