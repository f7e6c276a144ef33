"""The canary rehearsal: schedule, alarms, routing, and both outcomes with real servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.config import AlarmConfig, TrafficRoutingConfig
from ml.canary.alarms import ERRORS, LATENCY, AlarmState, Datapoint
from ml.canary.rehearsal import CANDIDATE, Router
from ml.canary.runner import CanaryResult, rehearse, validated
from ml.canary.schedule import plan, traffic_steps
from tests.conftest import Cli
from tests.ml.serving_support import (
    N_FEATURES,
    booster,
    new_key,
    sign,
    write_artifact,
    write_public_key,
)

ROOT = Path(__file__).resolve().parents[3]
SECONDS = 3.0  # the prod stack's 2 x 600 s of baking, rehearsed in 3 s (scale 1:400)


# schedule, alarms and routing (pure) ------------------------------------------------


def test_canary_schedule_is_canary_step_then_final_bake() -> None:
    steps = traffic_steps(
        TrafficRoutingConfig(type="CANARY", canary_size_percent=10, wait_interval_seconds=600)
    )
    assert [(s.share, s.seconds) for s in steps] == [(0.1, 600), (1.0, 600)], f"got {steps}"


def test_linear_schedule_steps_up_to_all_traffic() -> None:
    steps = traffic_steps(
        TrafficRoutingConfig(type="LINEAR", linear_step_percent=25, wait_interval_seconds=60)
    )
    assert [s.share for s in steps] == [0.25, 0.5, 0.75, 1.0], f"got {[s.share for s in steps]}"


def test_plan_compresses_every_duration_by_one_scale() -> None:
    routing = TrafficRoutingConfig(type="ALL_AT_ONCE", wait_interval_seconds=300)
    compressed = plan(routing, AlarmConfig(period_seconds=60), rehearsal_seconds=5)
    assert compressed.scale == pytest.approx(5 / 300), f"scale {compressed.scale}"
    assert compressed.period == pytest.approx(1.0), (
        f"60 s period should become 1 s: {compressed.period}"
    )


def test_alarm_fires_only_after_consecutive_breaching_periods() -> None:
    state = AlarmState(AlarmConfig(latency_p99_ms=120, evaluation_periods=2))
    slow, fast = Datapoint(10, 300.0, 0.0), Datapoint(10, 5.0, 0.0)
    fired = [state.update(point) for point in (slow, fast, slow, slow)]
    assert fired == [False, False, False, True], f"2-of-2 evaluation expected, got {fired}"
    assert state.fired == LATENCY and "300.0 ms" in (state.reason or ""), state.reason


def test_alarm_treats_a_period_without_requests_as_not_breaching() -> None:
    state = AlarmState(AlarmConfig(error_rate_percent=1, evaluation_periods=2))
    fired = [
        state.update(p)
        for p in (Datapoint(5, 1.0, 40.0), Datapoint(0, None, None), Datapoint(5, 1.0, 40.0))
    ]
    assert fired == [False, False, False], f"missing data must not breach: {fired}"


def test_router_sends_exactly_the_share_evenly() -> None:
    router = Router()
    router.share = 0.1
    picks = [router.pick() for _ in range(1000)]
    first = [index for index, pick in enumerate(picks) if pick == CANDIDATE][:3]
    assert picks.count(CANDIDATE) == 100, f"10% of 1000 expected, got {picks.count(CANDIDATE)}"
    assert first == [9, 19, 29], f"candidate requests should be evenly spread: {first}"


# rehearsals with real server processes ----------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Signed production and candidate models, an unsigned and a schema-changed one."""
    tmp = tmp_path_factory.mktemp("models")
    key = new_key()
    built = {
        "production": write_artifact(tmp / "production", booster(seed=0)),
        "candidate": write_artifact(tmp / "candidate", booster(seed=1)),
        "unsigned": write_artifact(tmp / "unsigned", booster(seed=2)),
        "other-schema": write_artifact(
            tmp / "other-schema",
            booster(n_features=N_FEATURES + 2, seed=3),
            features=[f"z{i}" for i in range(N_FEATURES + 2)],
        ),
    }
    for name in ("production", "candidate", "other-schema"):
        sign(built[name], key)
    built["public-key"] = write_public_key(key, tmp / "signing.pem")
    return built


def run(
    models: dict[str, Path], out: Path, candidate: str = "candidate", **extra: object
) -> CanaryResult:
    settings = validated(
        stack="prod",
        root=ROOT,
        production=models["production"],
        candidate=models[candidate],
        out=out,
        rehearsal_seconds=SECONDS,
        rps=150,
        public_key=models["public-key"],
        **extra,
    )
    return rehearse(settings)


def test_rehearse_healthy_candidate_is_promoted_with_report(
    models: dict[str, Path], tmp_path: Path
) -> None:
    # given a signed, healthy candidate and the prod stack's CANARY 10% schedule
    result = run(models, tmp_path)
    # then it is promoted after both baking periods, having served its share
    assert result.outcome.decision == "promoted", f"healthy candidate: {result.outcome.reason}"
    data = json.loads(result.paths.json.read_text())
    served = data["traffic"]["requests"]
    assert served["candidate"] > 0 and served["production"] > 0, f"both must serve: {served}"
    assert [s["share"] for s in data["shares"]] == [0.1, 1.0], f"shares: {data['shares']}"
    assert "<svg" in result.paths.html.read_text(), "the HTML report must embed the plot"


def test_rehearse_slow_candidate_is_rolled_back_on_latency(
    models: dict[str, Path], tmp_path: Path
) -> None:
    # given a candidate whose every answer takes 200 ms (threshold: p99 120 ms)
    result = run(models, tmp_path, drill={"latency_ms": 200})
    # then the latency alarm rolls it back during the canary step, all traffic to production
    outcome = result.outcome
    assert outcome.decision == "rolled back" and outcome.alarm == LATENCY, outcome.reason
    assert outcome.shares[-1][1] == 0.0, f"traffic must return to production: {outcome.shares}"
    assert max(share for _, share in outcome.shares) == 0.1, "it must never pass the canary step"


def test_rehearse_candidate_slower_than_an_alarm_period_is_still_rolled_back(
    models: dict[str, Path], tmp_path: Path
) -> None:
    # given answers slower (400 ms) than a compressed alarm period plus its grace (~225 ms):
    # counted by send time they would reach no datapoint before it is judged
    result = run(models, tmp_path, drill={"latency_ms": 400})
    # then, counted when they complete (as CloudWatch does), they breach and roll back
    outcome = result.outcome
    assert outcome.decision == "rolled back" and outcome.alarm == LATENCY, outcome.reason
    assert max(share for _, share in outcome.shares) == 0.1, "it must never pass the canary step"


def test_rehearse_erring_candidate_is_rolled_back_on_errors(
    models: dict[str, Path], tmp_path: Path
) -> None:
    # given a candidate trained on another feature set: production traffic gets 400s
    result = run(models, tmp_path, candidate="other-schema")
    assert result.outcome.decision == "rolled back" and result.outcome.alarm == ERRORS, (
        result.outcome.reason
    )


def test_rehearse_unsigned_candidate_is_never_deployed(
    models: dict[str, Path], tmp_path: Path
) -> None:
    result = run(models, tmp_path, candidate="unsigned")
    outcome = result.outcome
    assert outcome.decision == "rolled back", "an unsigned candidate must not take traffic"
    assert "never became healthy" in outcome.reason and "signature" in outcome.reason, (
        outcome.reason
    )
    assert not outcome.samples, "no request may reach it"


def test_canary_command_rollback_exits_1_with_one_line(
    models: dict[str, Path], tmp_path: Path, cli: Cli
) -> None:
    argv = [
        "canary",
        "--stack",
        "prod",
        "--root",
        str(ROOT),
        "--production",
        str(models["production"]),
        "--candidate",
        str(models["candidate"]),
        "--out",
        str(tmp_path),
        "--seconds",
        str(SECONDS),
        "--public-key",
        str(models["public-key"]),
        "--inject-error-percent",
        "50",
    ]
    code, _, err = cli(*argv)
    err = err.strip()
    assert code == 1, f"a rollback is a failed check: exit 1, got {code}"
    assert err.startswith("error: canary rolled back: candidate error rate"), f"stderr: {err!r}"
    assert (tmp_path / "canary.md").is_file(), "the report is written before the failure"
