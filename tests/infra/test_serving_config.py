"""Serving config: what SageMaker or the cluster would reject fails at deploy time, in one line.

These run before any resource is declared (`load_stack` / the Pulumi program's first
step). Whether a model package version really exists in the registry needs AWS and is
checked by `mlops release verify`; here the stack must at least name a declared model
group and a version.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import ConfigError, load_stack, parse_stack_config

BASE = {
    "aws:region": "eu-west-1",
    "mlops:environment": "dev",
    "mlops:owner": "ml-platform",
    "mlops:github": {"org": "acme", "repo": "mlops-gitops", "deployEnvironment": "dev"},
    "mlops:iam": {"auditorPrincipalArns": ["arn:aws:iam::111122223333:user/auditor"]},
    "mlops:models": {"churn-classifier": {"version": 3}},
}


def _error_for(serving: dict, **extra: object) -> str:
    values = {**BASE, "mlops:serving": serving, **extra}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values)
    message = str(caught.value)
    assert "\n" not in message, f"the error must be one line: {message!r}"
    return message


def _routing(**routing: object) -> dict:
    return {"trafficRouting": routing}


def test_parse_defaults_are_canary_ten_percent_for_ten_minutes() -> None:
    routing = parse_stack_config(BASE).serving.traffic_routing
    assert routing.type == "CANARY", f"default traffic routing: {routing.type}"
    assert routing.canary_size_percent == 10, f"default canary: {routing.canary_size_percent}%"
    assert routing.wait_interval_seconds == 600, f"default bake: {routing.wait_interval_seconds}s"


def test_parse_default_alarms_are_p99_120ms_and_one_percent_errors() -> None:
    alarms = parse_stack_config(BASE).serving.alarms
    assert alarms.latency_p99_ms == 120, f"default p99 threshold: {alarms.latency_p99_ms} ms"
    assert alarms.error_rate_percent == 1, f"default error rate: {alarms.error_rate_percent}%"
    assert set(alarms.rollback_alarms) == {
        "model-latency-p99",
        "invocation-5xx-errors",
        "model-errors",
    }, f"all three alarms roll back by default: {alarms.rollback_alarms}"


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        ({"canarySizePercent": 0}, "canarySizePercent: invalid value 0"),
        ({"canarySizePercent": 60}, "canarySizePercent: invalid value 60"),
        ({"linearStepPercent": 5}, "linearStepPercent: invalid value 5"),
        ({"waitIntervalSeconds": 3601}, "waitIntervalSeconds: invalid value 3601"),
        ({"waitIntervalSeconds": -1}, "waitIntervalSeconds: invalid value -1"),
        ({"terminationWaitSeconds": 7200}, "terminationWaitSeconds: invalid value 7200"),
        ({"maximumExecutionTimeoutSeconds": 300}, "maximumExecutionTimeoutSeconds: invalid"),
        ({"type": "BLUE_GREEN"}, 'type: invalid value "BLUE_GREEN"'),
    ],
)
def test_parse_traffic_shift_sagemaker_would_reject_names_key_and_value(
    routing: dict, expected: str
) -> None:
    message = _error_for(_routing(**routing))
    assert message.startswith("mlops:serving.trafficRouting."), message
    assert expected in message, f"expected {expected!r} in {message!r}"


def test_parse_canary_larger_than_half_the_fleet_says_the_limit() -> None:
    message = _error_for(_routing(canarySizePercent=51))
    assert "less than or equal to 50" in message, message


def test_parse_canary_on_one_instance_is_refused() -> None:
    message = _error_for({"initialInstanceCount": 1, **_routing(type="CANARY")})
    assert message.startswith(
        "mlops:serving.trafficRouting.type CANARY needs initialInstanceCount >= 2 (found 1)"
    ), message
    assert "ALL_AT_ONCE" in message, f"the message should offer the alternative: {message}"


def test_parse_all_at_once_on_one_instance_is_accepted() -> None:
    serving = {"initialInstanceCount": 1, "maxInstanceCount": 1, **_routing(type="ALL_AT_ONCE")}
    cfg = parse_stack_config({**BASE, "mlops:serving": serving})
    assert cfg.serving.traffic_routing.type == "ALL_AT_ONCE", "one instance, one step"


def test_parse_timeout_shorter_than_the_waits_is_refused() -> None:
    message = _error_for(
        _routing(
            waitIntervalSeconds=600, terminationWaitSeconds=600, maximumExecutionTimeoutSeconds=900
        )
    )
    assert message.startswith(
        "mlops:serving.trafficRouting.maximumExecutionTimeoutSeconds 900 must exceed"
    ), message
    assert "1200 s" in message, f"the message should give the total wait: {message}"


def test_parse_linear_timeout_counts_every_step() -> None:
    # 20% steps are five waits of 600 s, plus the termination wait: 3600 s in all.
    message = _error_for(
        _routing(
            type="LINEAR",
            linearStepPercent=20,
            waitIntervalSeconds=600,
            terminationWaitSeconds=600,
            maximumExecutionTimeoutSeconds=3600,
        )
    )
    assert "total wait of 3600 s" in message, message


def test_parse_bake_shorter_than_the_alarm_window_is_refused() -> None:
    serving = {**_routing(waitIntervalSeconds=60), "alarms": {"evaluationPeriods": 3}}
    message = _error_for(serving)
    assert message.startswith(
        "mlops:serving.trafficRouting.waitIntervalSeconds 60 is shorter than the alarms' "
        "evaluation window of 180 s"
    ), message


def test_parse_unknown_rollback_alarm_name_lists_the_alarms_that_exist() -> None:
    message = _error_for({"alarms": {"rollbackAlarms": ["model-latency-p99", "p99-latency"]}})
    assert message.startswith(
        'mlops:serving.alarms.rollbackAlarms.1: invalid value "p99-latency"'
    ), message
    assert "'model-latency-p99', 'invocation-5xx-errors' or 'model-errors'" in message, message


def test_parse_rollback_alarm_listed_twice_is_refused() -> None:
    message = _error_for({"alarms": {"rollbackAlarms": ["model-errors", "model-errors"]}})
    assert "rollbackAlarms" in message and "listed once" in message, message


def test_parse_prod_must_roll_back_on_every_alarm() -> None:
    prod = {
        "mlops:environment": "prod",
        "mlops:buckets": {"artifactObjectLock": {"enabled": True}},
    }
    message = _error_for({"alarms": {"rollbackAlarms": ["model-latency-p99"]}}, **prod)
    assert message.startswith("mlops:serving.alarms.rollbackAlarms must include"), message
    assert "invocation-5xx-errors, model-errors in prod" in message, message


def test_parse_alarm_period_shorter_than_sagemakers_metrics_is_refused() -> None:
    message = _error_for({"alarms": {"periodSeconds": 10}})
    assert message.startswith("mlops:serving.alarms.periodSeconds: invalid value 10"), message
    assert "multiple of 60" in message, message


def test_parse_endpoint_log_retention_must_be_a_cloudwatch_period() -> None:
    message = _error_for({"logRetentionDays": 100})
    assert message.startswith("mlops:serving.logRetentionDays: invalid value 100"), message


def test_parse_kubernetes_model_not_in_the_registry_is_refused() -> None:
    message = _error_for({"kubernetes": {"enabled": True, "model": "fraud-detector"}})
    assert message == (
        "mlops:serving.kubernetes.model 'fraud-detector' is not a model group of this stack "
        "(declared in mlops:models: churn-classifier)"
    ), message


def test_parse_kubernetes_model_without_a_version_is_refused() -> None:
    message = _error_for(
        {"kubernetes": {"enabled": True}}, **{"mlops:models": {"churn-classifier": {}}}
    )
    assert message.startswith("mlops:serving.kubernetes.model 'churn-classifier' has no version"), (
        message
    )
    assert "mlops:models.churn-classifier.version" in message, f"say what to set: {message}"


def test_parse_kubernetes_model_must_be_named_when_several_are_declared() -> None:
    models = {"churn-classifier": {"version": 1}, "fraud-detector": {"version": 2}}
    message = _error_for({"kubernetes": {"enabled": True}}, **{"mlops:models": models})
    assert message.startswith("mlops:serving.kubernetes.model is required"), message


def test_parse_kubernetes_disabled_needs_no_model() -> None:
    cfg = parse_stack_config({**BASE, "mlops:models": {}})
    assert not cfg.serving.kubernetes.enabled and cfg.served_models == {}, "nothing to serve"


def test_parse_kubernetes_min_replicas_above_max_is_refused() -> None:
    message = _error_for({"kubernetes": {"replicas": 4, "maxReplicas": 2}})
    assert message == "mlops:serving.kubernetes.maxReplicas 2 must be >= replicas 4", message


def test_parse_kubernetes_cpu_limit_below_request_is_refused() -> None:
    message = _error_for({"kubernetes": {"cpuRequest": "2", "cpuLimit": "500m"}})
    assert message == "mlops:serving.kubernetes.cpuLimit 500m must be >= cpuRequest 2", message


def test_parse_kubernetes_memory_quantity_in_decimal_units_is_refused() -> None:
    message = _error_for({"kubernetes": {"memoryRequest": "1G"}})
    assert message.startswith('mlops:serving.kubernetes.memoryRequest: invalid value "1G"'), message


def test_parse_kubernetes_root_user_is_refused() -> None:
    message = _error_for({"kubernetes": {"runAsUser": 0}})
    assert message.startswith("mlops:serving.kubernetes.runAsUser: invalid value 0"), message


def test_load_stack_served_version_comes_from_the_stack_file(
    tmp_path: Path, repo_root: Path
) -> None:
    text = (repo_root / "Pulumi.dev.yaml").read_text()
    assert "      version: 1\n" in text, "the dev stack file pins churn-classifier to version 1"
    (tmp_path / "Pulumi.dev.yaml").write_text(
        text.replace("      version: 1\n", "      version: 4\n")
    )
    assert load_stack("dev", tmp_path).served_models == {"churn-classifier": 4}, "from the file"


def test_load_stack_staging_serves_on_kubernetes_too(repo_root: Path) -> None:
    cfg = load_stack("staging", repo_root)
    assert cfg.serving.kubernetes.enabled, "staging runs the Kubernetes component"
    assert cfg.kubernetes_model == "churn-classifier", cfg.kubernetes_model


def test_cli_bad_canary_prints_one_line_and_exits_2(tmp_path: Path, repo_root: Path) -> None:
    text = (repo_root / "Pulumi.prod.yaml").read_text()
    assert "canarySizePercent: 10" in text, "prod declares its canary size"
    (tmp_path / "Pulumi.prod.yaml").write_text(
        text.replace("canarySizePercent: 10", "canarySizePercent: 75")
    )
    exe = Path(sys.executable).with_name("mlops")
    result = subprocess.run(
        [str(exe), "infra", "render", "--stack", "prod", "--out", "g.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, f"expected exit 2, got {result.returncode}: {result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"one line on stderr, got: {result.stderr}"
    assert "mlops:serving.trafficRouting.canarySizePercent: invalid value 75" in lines[0], lines[0]
    assert not (tmp_path / "g.json").exists(), "nothing is rendered for an invalid stack"


K8S_IRSA = {
    "oidcIssuerUrl": "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
    "fetchEgressCidrs": ["10.60.0.0/24"],
}


@pytest.mark.parametrize("missing", ["oidcIssuerUrl", "fetchEgressCidrs"])
def test_parse_kubernetes_enabled_without_the_fetch_identity_or_egress_is_refused(
    missing: str,
) -> None:
    given = {key: value for key, value in K8S_IRSA.items() if key != missing}
    message = _error_for({"kubernetes": {"enabled": True, **given}})
    assert message.startswith(f"mlops:serving.kubernetes.{missing} is required"), message


def test_parse_kubernetes_public_egress_cidr_is_refused() -> None:
    # an attacker widening the pods' egress to the internet
    message = _error_for({"kubernetes": {**K8S_IRSA, "fetchEgressCidrs": ["0.0.0.0/0"]}})
    assert "0.0.0.0/0 must be a private IPv4 CIDR" in message, message


def test_parse_kubernetes_issuer_must_be_an_https_url() -> None:
    message = _error_for({"kubernetes": {**K8S_IRSA, "oidcIssuerUrl": "oidc.eks.example/id/X"}})
    assert message.startswith("mlops:serving.kubernetes.oidcIssuerUrl"), message
