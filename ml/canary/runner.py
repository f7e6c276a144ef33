"""Run one canary rehearsal: settings, the two server processes, traffic, the report."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.errors import MlopsError
from common.validation import one_line
from infra.config import load_stack
from ml.canary import report
from ml.canary.drill import DRILL_ENV, Drill
from ml.canary.rehearsal import CANDIDATE, PRODUCTION, Outcome, run_traffic
from ml.canary.schedule import Plan, plan
from ml.reports import ReportPaths
from ml.serving.process import serve_in_background
from ml.serving.settings import ServeSettings

TRAFFIC_ROWS = 256
"""Distinct rows in the synthetic traffic (cycled); seeded, so every run sends the same."""


class CanarySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stack: str
    root: Path = Path(".")
    production: Path
    candidate: Path
    out: Path = Path("build/canary")
    rehearsal_seconds: Annotated[float, Field(gt=0, le=3600)] = 20.0
    rps: Annotated[float, Field(gt=0, le=5000)] = 200.0
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    require_signature: bool = True
    public_key: Path | None = None
    key_id: Annotated[str, Field(min_length=1)] | None = None
    traffic: Path | None = None
    """CSV rows (no header) to send instead of the seeded synthetic rows."""
    drill: Drill = Drill()
    startup_timeout: Annotated[float, Field(gt=0, le=1800)] = 120.0

    @model_validator(mode="after")
    def _one_key(self) -> CanarySettings:
        if self.public_key is not None and self.key_id is not None:
            raise ValueError("give either a public key or a KMS key id, not both")
        return self


@dataclass(frozen=True)
class CanaryResult:
    plan: Plan
    outcome: Outcome
    paths: ReportPaths


def validated(**values: object) -> CanarySettings:
    try:
        return CanarySettings.model_validate(values)
    except ValidationError as error:
        raise MlopsError(
            one_line(error, lambda where: f"canary {'.'.join(where) or 'settings'}")
        ) from None


def rehearse(settings: CanarySettings) -> CanaryResult:
    """Start both servers, rehearse the stack's schedule, write the report."""
    config = load_stack(settings.stack, settings.root)
    schedule = plan(
        config.serving.traffic_routing, config.serving.alarms, settings.rehearsal_seconds
    )
    features = _features(settings.production)
    bodies = _traffic(settings.traffic, features)
    logs = settings.out / "logs"
    serve = ServeSettings(
        workers=1,
        require_signature=settings.require_signature,
        public_key=settings.public_key,
        key_id=settings.key_id,
        access_log="errors",
    )
    drill_env = {DRILL_ENV: settings.drill.model_dump_json()} if settings.drill.active else {}
    with (
        serve_in_background(
            PRODUCTION,
            serve.model_copy(update={"model_dir": settings.production}),
            logs / "production.log",
        ) as production,
        serve_in_background(
            CANDIDATE,
            serve.model_copy(update={"model_dir": settings.candidate}),
            logs / "candidate.log",
            module="ml.canary.drill" if settings.drill.active else "ml.serving",
            env=drill_env,
        ) as candidate,
    ):
        ready, why = production.wait_ready(settings.startup_timeout)
        if not ready:
            raise MlopsError(f"production model cannot be served, nothing to compare with: {why}")
        ready, why = candidate.wait_ready(settings.startup_timeout)
        if ready:
            outcome = _run(
                run_traffic(
                    schedule,
                    {PRODUCTION: production.port, CANDIDATE: candidate.port},
                    bodies,
                    rps=settings.rps,
                    concurrency=settings.concurrency,
                )
            )
        else:
            outcome = Outcome("rolled back", f"candidate never became healthy: {why}")
    context = report.Context(
        stack=settings.stack,
        production=str(settings.production),
        candidate=str(settings.candidate),
        production_sha256=_sha256(settings.production / "model.txt"),
        candidate_sha256=_sha256(settings.candidate / "model.txt"),
        rps=settings.rps,
        concurrency=settings.concurrency,
        drill=settings.drill.model_dump() if settings.drill.active else {},
        logs={PRODUCTION: str(logs / "production.log"), CANDIDATE: str(logs / "candidate.log")},
    )
    paths = report.write(settings.out, schedule, outcome, context)
    return CanaryResult(schedule, outcome, paths)


def _run(coroutine):
    import uvloop

    return uvloop.run(coroutine)


def _features(artifact: Path) -> int:
    card = artifact / "model.json"
    try:
        document = json.loads(card.read_text(encoding="utf-8"))
        return len(document["features"])
    except (OSError, ValueError, KeyError, TypeError):
        raise MlopsError(f"{card}: not a readable model card with a features list") from None


def _traffic(path: Path | None, features: int) -> list[bytes]:
    """Single-row CSV request bodies shaped like the production model's input."""
    if path is None:
        rows = np.random.default_rng(20261123).normal(size=(TRAFFIC_ROWS, features))
        return [",".join(map(repr, row)).encode() for row in rows.tolist()]
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except OSError as error:
        raise MlopsError(f"traffic file {path}: {error.strerror}") from None
    bodies = [line.encode() for line in lines if line]
    if not bodies:
        raise MlopsError(f"traffic file {path}: no rows")
    return bodies


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
