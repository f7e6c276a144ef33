"""The control catalogue: every mapping resolves in a shipped, dated list of its standard's
version, and a mapping to a made-up ID, an ID of another version or no standard fails."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re

import pytest
import yaml

from infra.graph import Graph
from ml.audit.report import build_report
from policies import cloudtrail, iam, kms, s3
from policies.controls import (
    CONTROLS,
    STANDARDS,
    STANDARDS_DIR,
    UnknownControl,
    check_mappings,
    load_standards,
)
from policies.pack import POLICIES
from tests.policies.fixtures import allow, doc


def test_shipped_lists_are_the_three_aws_standards_at_their_versions():
    # Given the files under policies/standards/
    # When they are loaded
    labels = {prefix: s.label for prefix, s in STANDARDS.items()}
    # Then each prefix is one standard at one version
    assert labels == {
        "FSBP": "AWS Foundational Security Best Practices v1.0.0",
        "CIS": "CIS Amazon Web Services Foundations Benchmark v3.0.0",
        "NIST": "NIST SP 800-53 Revision 5",
        "CIS-K8S": "CIS Kubernetes Benchmark v1.8.0",
    }, labels


@pytest.mark.parametrize("prefix", sorted(STANDARDS))
def test_shipped_list_names_its_source_date_and_how_it_was_taken(prefix):
    # Given one shipped control list
    standard = STANDARDS[prefix]
    # Then it says where it comes from, when it was taken, and that it was transcribed offline
    assert standard.source.strip().startswith(("AWS", "CIS", "NIST")), standard.source
    assert "https://" in standard.source, f"{prefix}: the source needs its address"
    assert standard.retrieved.isoformat() == "2026-11-30", standard.retrieved
    assert "Transcribed offline" in standard.note, f"{prefix}: say how the list was taken"


@pytest.mark.parametrize(
    ("control_id", "title"),
    [
        ("CIS 3.8", "Ensure that Object-level logging for write events is enabled for S3 bucket"),
        ("CIS 3.9", "Ensure that Object-level logging for read events is enabled for S3 bucket"),
        ("CIS 4.7", "Ensure disabling or scheduled deletion of customer created CMKs is monitored"),
        ("FSBP KMS.3", "AWS KMS keys should not be deleted unintentionally"),
        (
            "FSBP IAM.21",
            "IAM customer managed policies that you create should not allow wildcard actions "
            "for services",
        ),
        ("NIST SC-28", "Protection of Information at Rest"),
    ],
)
def test_shipped_list_holds_control_with_its_published_title(control_id, title):
    # Given a control whose number and title were checked against the published standard
    # Then the catalogue holds it under that number with that title
    assert CONTROLS[control_id].title == title, CONTROLS[control_id]


@pytest.mark.parametrize(
    "control_id",
    ["FSBP KMS.4", "FSBP S3.14", "FSBP S3.17", "FSBP CloudTrail.7", "CIS 3.10", "CIS 3.11"],
)
def test_catalogue_lacks_controls_outside_the_standard_version(control_id):
    # Given Security Hub controls AWS enables only through its CIS or NIST standards, and the
    # v1.4.0/v2.0.0 numbers of object-level logging
    # Then none of them is a control of the shipped versions
    assert control_id not in CONTROLS, f"{control_id} is not in that standard's version"


def test_every_policy_mapping_resolves_in_the_shipped_list():
    # Given the pack (whose import already ran check_mappings on every policy)
    # When each mapping is looked up in the catalogue
    unversioned = [
        (policy.name, control_id)
        for policy in POLICIES
        for control_id in policy.controls
        if not CONTROLS[control_id].standard.version
    ]
    # Then each names a catalogued control of a standard with a version
    assert not unversioned, unversioned


@pytest.mark.parametrize(
    ("control_id", "expected"),
    [
        ("FSBP S3.99", "is not in AWS Foundational Security Best Practices v1.0.0"),
        ("CIS 3.10", "is not in CIS Amazon Web Services Foundations Benchmark v3.0.0"),
        ("CIS 1.22", "is not in CIS Amazon Web Services Foundations Benchmark v3.0.0"),
        ("FSBP KMS.4", "is not in AWS Foundational Security Best Practices v1.0.0"),
        ("S3.5", "names no shipped standard"),
        ("SecurityHub S3.5", "names no shipped standard"),
    ],
    ids=[
        "made-up-id",
        "cis-v1.4-number",
        "cis-v1.2-number",
        "not-fsbp",
        "no-standard",
        "bad-prefix",
    ],
)
def test_attack_mapping_outside_the_shipped_lists_fails_the_check(control_id, expected):
    # Given a policy an attacker (or a hurried author) maps to a control the standard lacks
    forged = dataclasses.replace(
        s3.DENIES_INSECURE_TRANSPORT, controls=(*s3.DENIES_INSECURE_TRANSPORT.controls, control_id)
    )
    # When the catalogue checks it
    with pytest.raises(UnknownControl) as raised:
        check_mappings([forged])
    # Then it fails with one line naming the policy, the ID and the standard's version
    message = str(raised.value)
    assert "\n" not in message, message
    assert message.startswith(
        f"policy {s3.DENIES_INSECURE_TRANSPORT.name}: control {control_id!r}"
    ), message
    assert expected in message, message


def test_attack_unknown_mapping_fails_the_pack_import(monkeypatch):
    # Given a domain module whose policy claims a made-up control
    import policies.pack as pack

    forged = dataclasses.replace(
        s3.DENIES_INSECURE_TRANSPORT, name="forged-policy", controls=("NIST SC-8", "FSBP S3.99")
    )
    monkeypatch.setattr(s3, "POLICIES", (*s3.POLICIES, forged))
    try:
        # When the pack is imported (as CrossGuard and the audit do)
        with pytest.raises(
            UnknownControl, match=re.escape("policy forged-policy: control 'FSBP S3.99'")
        ):
            importlib.reload(pack)
    finally:
        monkeypatch.undo()
        importlib.reload(pack)
    # Then the import failed; with the forgery gone it loads again
    assert "forged-policy" not in pack.BY_NAME


def test_attack_control_list_without_version_fails_to_load(tmp_path):
    # Given a shipped list whose version an editor dropped
    data = yaml.safe_load((STANDARDS_DIR / "cis-aws-foundations-3.0.0.yaml").read_text())
    del data["version"]
    (tmp_path / "cis.yaml").write_text(yaml.safe_dump(data))
    # When the lists are loaded
    # Then loading fails, naming the missing field
    with pytest.raises(ValueError, match="version"):
        load_standards(tmp_path)


@pytest.mark.parametrize(
    ("policy", "control_id"),
    [
        (cloudtrail.ARTIFACT_DATA_EVENTS, "CIS 3.8"),
        (cloudtrail.ARTIFACT_DATA_EVENTS, "CIS 3.9"),
        (kms.DELETION_WINDOW, "FSBP KMS.3"),
    ],
)
def test_policy_not_checking_what_the_control_asks_does_not_claim_it(policy, control_id):
    # Given a rule narrower than the control (one bucket in prod, not every bucket; a window
    # length, not "no key pending deletion")
    # Then it does not claim the control
    assert control_id not in policy.controls, f"{policy.name} must not claim {control_id}"


def _policy_resource(type_: str, name: str) -> dict:
    document = doc(allow("Broad", ["s3:*"], ["arn:aws:s3:::mlops-prod-data/*"]))
    return {
        "urn": f"urn:pulumi:prod::mlops::{type_}::{name}",
        "type": type_,
        "name": name,
        "parent": None,
        "inputs": {"policy": document, "role": "r"}
        if "rolePolicy" in type_
        else {"policy": document},
        "id": name,
        "outputs": {},
    }


def test_attack_inline_policy_finding_is_not_counted_as_customer_managed_control():
    # Given an inline role policy and a customer managed policy, both allowing s3:*
    graph = Graph.from_json(
        {
            "stack": "prod",
            "resources": [
                _policy_resource("aws:iam/rolePolicy:RolePolicy", "inline"),
                _policy_resource("aws:iam/policy:Policy", "managed"),
            ],
        }
    )
    # When the audit report maps the wildcard-action rule's verdicts to controls
    report = build_report(graph, policies=[iam.NO_WILDCARD_ACTIONS])
    controls = {c["id"]: c for c in report["controls"]}
    resources = {e["id"]: e["resource"] for e in report["evaluations"]}
    # Then IAM.21 (customer managed policies) cites the managed policy alone, NIST AC-6 both
    assert [resources[i] for i in controls["FSBP IAM.21"]["evaluations"]] == ["managed"], (
        json.dumps(controls["FSBP IAM.21"])
    )
    assert sorted(resources[i] for i in controls["NIST AC-6"]["evaluations"]) == [
        "inline",
        "managed",
    ]


def test_attack_scope_naming_a_type_the_policy_does_not_judge_is_refused():
    # Given a policy whose control scope names a resource type it never evaluates
    # When it is built
    # Then it is refused: the scope would make the control look evidenced by nothing
    with pytest.raises(ValueError, match=re.escape("scope of FSBP IAM.21")):
        dataclasses.replace(
            iam.NO_WILDCARD_ACTIONS, control_scopes={"FSBP IAM.21": ("aws:s3/bucket:Bucket",)}
        )
