"""No S3 prefix of the contract and no contract environment variable is spelled as a
literal in infra/, ml/ or policies/ outside infra/contracts.py: code that needs one
imports it, so renaming it there renames it everywhere the code builds a URI or reads
a variable (docstrings may still describe them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contracts.literals import findings, scan

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = "infra/contracts.py"


def test_no_contract_literal_outside_the_contracts_module():
    found = scan(ROOT, ("infra", "ml", "policies"), allowed=(CONTRACTS,))
    assert not found, "import these from infra/contracts.py instead:\n" + "\n".join(map(str, found))


def test_the_contracts_module_itself_is_found():
    # the scanner sees what it must: the one allowed module spells every prefix
    found = {f.name for f in findings((ROOT / CONTRACTS).read_text(encoding="utf-8"))}
    assert {"training-output/", "checkpoints/", "models/", "datasets/", "datacapture/"} <= found
    assert {"MLOPS_MODEL_NAME", "MLOPS_SIGNING_PUBLIC_KEY_PEM"} <= found, found


@pytest.mark.parametrize(
    ("snippet", "name"),
    [
        ('uri = f"s3://{bucket}/training-output/{scope}/{model}/"', "training-output/"),
        ('key = "checkpoints/" + scope', "checkpoints/"),
        ('prefix = f"models/{group}/{digest}"', "models/"),
        ('channel = f"datasets/{model}/{digest}/train"', "datasets/"),
        ('destination = "s3://capture/datacapture/"', "datacapture/"),
        ('env = {"MLOPS_MODEL_NAME": name}', "MLOPS_MODEL_NAME"),
        (
            'raise MlopsError(f"set MLOPS_REQUIRE_SIGNATURE=true for {stack}")',
            "MLOPS_REQUIRE_SIGNATURE",
        ),
        ('os.environ.get("MLOPS_SIGNING_PUBLIC_KEY_PEM")', "MLOPS_SIGNING_PUBLIC_KEY_PEM"),
    ],
)
def test_literal_prefix_or_variable_is_caught(snippet: str, name: str):
    # attack: code spells the contract's name instead of importing it
    assert [f.name for f in findings(snippet)] == [name], f"{snippet!r} should be caught"


@pytest.mark.parametrize(
    "snippet",
    [
        'def f():\n    """Writes under `models/<group>/` and reads MLOPS_STACK."""',
        'X = 1\n"""Attribute doc naming training-output/ and MLOPS_MODEL_NAME."""',
        'uri = f"s3://{bucket}/{MODELS_PREFIX}{group}/"',
        'path = "/opt/ml/checkpoints"',  # SageMaker's local checkpoint directory, not a key
        'key = outputs["models"]',  # a word, not a prefix
        'name = "MLOPS_SERVE_SETTINGS"',  # internal to the server, not a contract name
    ],
)
def test_docstrings_imports_and_other_names_pass(snippet: str):
    assert list(findings(snippet)) == [], f"{snippet!r} is not a literal contract name"
