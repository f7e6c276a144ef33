"""`mlops serve` settings: SageMaker's environment, CLI overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import MlopsError
from ml.serving.healthcheck import serving
from ml.serving.settings import DEFAULT_MODEL_DIR, settings_from_env
from tests.conftest import Cli


def test_settings_default_to_sagemaker_contract() -> None:
    settings = settings_from_env({})
    assert settings.port == 8080, f"SageMaker expects port 8080, got {settings.port}"
    assert settings.model_dir == DEFAULT_MODEL_DIR, f"default model dir: {settings.model_dir}"
    assert settings.require_signature, "signatures must be required by default"


def test_settings_read_sagemaker_environment() -> None:
    env = {
        "SM_MODEL_DIR": "/models/a",
        "SAGEMAKER_BIND_TO_PORT": "9000",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
        "MLOPS_SIGNING_KEY_ID": "alias/sign",
        "MLOPS_MODEL_NAME": "churn-classifier",
        "MLOPS_STACK": "staging",
        "MLOPS_MODEL_VERSION": "3",
    }
    settings = settings_from_env(env)
    assert (settings.model_dir, settings.port, settings.workers, settings.key_id) == (
        Path("/models/a"),
        9000,
        3,
        "alias/sign",
    ), f"environment not honoured: {settings}"


def test_settings_read_inline_public_key_and_model_identity() -> None:
    # given the environment the SageMaker Model sets (see infra/components/serving_sagemaker.py)
    env = {
        "MLOPS_SIGNING_PUBLIC_KEY_PEM": "-----BEGIN PUBLIC KEY-----...",
        "MLOPS_MODEL_NAME": "churn-classifier",
        "MLOPS_STACK": "prod",
        "MLOPS_MODEL_VERSION": "3",
    }
    settings = settings_from_env(env)
    assert settings.public_key_pem and settings.has_key, "the inline PEM must configure a key"
    identity = (settings.model_name, settings.stack, settings.model_version)
    assert identity == ("churn-classifier", "prod", 3), settings


def test_settings_cli_public_key_replaces_environment_kms_key() -> None:
    # given a KMS key in the environment and a public key on the command line
    settings = settings_from_env({"MLOPS_SIGNING_KEY_ID": "alias/sign"}, public_key=Path("k.pem"))
    # then the explicit choice wins instead of failing as "both configured"
    assert settings.public_key == Path("k.pem") and settings.key_id is None, f"got {settings}"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT='http'"),
        ({"MLOPS_REQUIRE_SIGNATURE": "maybe"}, "expected true or false"),
        ({"MLOPS_SERVE_WORKERS": "0"}, "workers"),
        ({"MLOPS_ACCESS_LOG": "verbose"}, "access_log"),
        ({"MLOPS_SIGNING_KEY_ID": "k", "MLOPS_SIGNING_PUBLIC_KEY": "p.pem"}, "not both"),
        ({"MLOPS_SIGNING_KEY_ID": "k", "MLOPS_SIGNING_PUBLIC_KEY_PEM": "---"}, "not both"),
        ({"MLOPS_MODEL_VERSION": "latest"}, "MLOPS_MODEL_VERSION='latest': expected an integer"),
    ],
    ids=["port", "flag", "workers", "access-log", "two-keys", "kms-and-pem", "version"],
)
def test_settings_bad_value_is_one_line_error(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(MlopsError) as caught:
        settings_from_env(env)
    message = str(caught.value)
    assert fragment in message and "\n" not in message, f"{fragment!r} not in {message!r}"


def test_serve_command_bad_setting_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "eighty")
    code, _, err = cli("serve")
    err = err.strip()
    assert code == 2, f"bad input must exit 2, got {code}"
    assert err.startswith("error: ") and len(err.splitlines()) == 1, f"one line expected: {err!r}"


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (b"/opt/venv/bin/python\0/opt/venv/bin/mlops\0serve\0", True),
        (b"python\0-m\0ml.serving\0", True),
        (b"python\0-m\0ml.training\0", False),
    ],
    ids=["serve", "module", "train"],
)
def test_healthcheck_probes_only_serving_containers(cmdline: bytes, expected: bool) -> None:
    assert serving(cmdline) is expected, f"{cmdline!r}: serving should be {expected}"


SAGEMAKER_MODEL_ENV = {
    "SAGEMAKER_SAFE_PORT_RANGE": "9000-9999",  # set by SageMaker AI, not by the Model
    "MLOPS_SIGNING_PUBLIC_KEY_PEM": "-----BEGIN PUBLIC KEY-----...",
    "MLOPS_REQUIRE_SIGNATURE": "true",
    "MLOPS_MODEL_NAME": "churn-classifier",
    "MLOPS_STACK": "prod",
    "MLOPS_MODEL_VERSION": "3",
}
"""The environment a SageMaker endpoint container sees (infra's Model plus SageMaker's)."""


def test_settings_inside_sagemaker_as_infra_sets_them_start() -> None:
    settings = settings_from_env(SAGEMAKER_MODEL_ENV)
    assert settings.require_signature and settings.has_key, settings


UNSIGNED = {"MLOPS_REQUIRE_SIGNATURE": "false", "MLOPS_SIGNING_PUBLIC_KEY_PEM": None}
"""The local-development way to serve an unsigned model."""


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (UNSIGNED, "refusing to start inside SageMaker without signature enforcement"),
        ({"MLOPS_REQUIRE_SIGNATURE": "false"}, "without signature enforcement"),
        ({**UNSIGNED, "SAGEMAKER_SAFE_PORT_RANGE": ""}, "without signature enforcement"),
        ({"MLOPS_STACK": None}, "refusing to start inside SageMaker without MLOPS_STACK"),
    ],
    ids=["unsigned", "flag-off-with-key", "platform-variable-emptied", "no-stack"],
)
def test_settings_inside_sagemaker_without_enforcement_refuse_to_start(
    change: dict[str, str | None], fragment: str
) -> None:
    # given the SageMaker endpoint's environment with one change a rogue deployer makes
    merged = {**SAGEMAKER_MODEL_ENV, **change}
    env = {key: value for key, value in merged.items() if value is not None}
    # when the server reads its settings, then it refuses to start, on one line
    with pytest.raises(MlopsError) as caught:
        settings_from_env(env)
    message = str(caught.value)
    assert fragment in message and "\n" not in message, message
