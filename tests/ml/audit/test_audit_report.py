"""The audit report: evidence per control, waivers, inventory, IAM lint, the writers."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import jsonschema
import pytest

from ml.audit.markdown import render_markdown
from ml.audit.report import build_report, lint_documents
from ml.audit.sarif import SCHEMA_PATH, render_sarif
from policies.pack import BY_NAME, POLICIES
from policies.waivers import DEFAULT_WAIVERS, WaiverSet, load_waivers, parse_waivers

TODAY = date(2026, 11, 23)
WHEN = datetime(2026, 11, 23, 12, 0)


def _report(graph, waivers: WaiverSet | None = None, today: date = TODAY) -> dict:
    if waivers is None:
        waivers = load_waivers(DEFAULT_WAIVERS, BY_NAME)
    return build_report(graph, waivers, today=today, generated_at=WHEN)


@pytest.fixture(scope="module")
def dev_report(graph_of) -> dict:
    return _report(graph_of("dev"))


def _evaluation(report: dict, policy: str, resource: str) -> dict:
    matches = [
        e for e in report["evaluations"] if e["policy"] == policy and e["resource"] == resource
    ]
    assert len(matches) == 1, f"expected one {policy} evaluation of {resource}, got {matches}"
    return matches[0]


def test_report_dev_stack_with_shipped_waivers_passes(dev_report):
    # Given the dev stack and the shipped waivers
    # When the report is built
    summary = dev_report["summary"]
    # Then the audit passes, with the waived findings counted, not hidden
    assert summary["status"] == "pass", summary["failures"]
    assert summary["waived"] == 2, f"the two log-bucket waivers must show: {summary}"


def test_report_control_lists_resources_with_exact_input_values(dev_report):
    # Given a control versioning evidences (NIST CP-10, system recovery)
    control = next(c for c in dev_report["controls"] if c["id"] == "NIST CP-10")
    # When its evidence is looked up
    evaluations = [e for e in dev_report["evaluations"] if e["id"] in control["evaluations"]]
    data = next(
        e
        for e in evaluations
        if e["resource"] == "mlops-dev-data" and e["policy"] == "s3-bucket-versioning-enabled"
    )
    # Then the data bucket is evidenced by the exact input of its BucketVersioning
    assert (
        data["values"]["mlops-dev-data-versioning.versioningConfiguration.status"] == "Enabled"
    ), data
    assert data["status"] == "pass", data


def test_report_waived_finding_stays_visible_with_its_waiver(dev_report):
    # Given the log bucket's SSE-S3 encryption (an AWS constraint, waived)
    evaluation = _evaluation(
        dev_report, "s3-bucket-encrypted-with-customer-kms-key", "mlops-dev-logs"
    )
    # When its evaluation is read
    # Then it is marked waived, keeps its message and carries the waiver's owner and expiry
    assert evaluation["status"] == "waived", evaluation
    assert "found sse_algorithm AES256" in evaluation["messages"][0], evaluation
    assert evaluation["waiver"]["owner"] == "ml-platform", evaluation["waiver"]


def test_report_expired_waiver_fails_the_audit(graph_of):
    # Given the shipped waivers, audited after they expired
    waivers = load_waivers(DEFAULT_WAIVERS, BY_NAME)
    later = max(w.expiry for w in waivers.waivers).replace(year=2099)
    # When the report is built
    report = _report(graph_of("dev"), waivers, today=later)
    # Then the audit fails and says which waiver expired
    assert report["summary"]["status"] == "fail", report["summary"]
    assert any("expired on" in f for f in report["summary"]["failures"]), report["summary"]
    statuses = {e["status"] for e in report["evaluations"] if e["resource"] == "mlops-dev-logs"}
    assert "expired-waiver" in statuses, statuses


def test_report_without_waivers_fails_on_log_bucket(graph_of):
    # Given the dev stack and no waivers at all
    # When the report is built
    report = _report(graph_of("dev"), WaiverSet(()))
    # Then the log bucket's findings fail the audit
    assert report["summary"]["failed"] == 2, report["summary"]["failures"]


def test_inventory_signing_key_grants_sign_to_release_role_only(dev_report):
    # Given the inventory of the dev stack
    key = next(k for k in dev_report["inventory"]["keys"] if k["usage"] == "SIGN_VERIFY")
    # When the principals able to sign are listed
    signers = {g["principal"] for g in key["grants"] if "sign" in g["capabilities"]}
    # Then only the release role can sign (the blast radius of the signing key)
    assert signers == {"IAM role mlops-dev-gh-release"}, key["grants"]


def test_inventory_data_key_lists_what_it_encrypts(dev_report):
    # Given the data CMK in the inventory
    key = next(k for k in dev_report["inventory"]["keys"] if k["usage"] == "ENCRYPT_DECRYPT")
    # When the resources that use it are listed
    protected = {p["resource"] for p in key["protects"]}
    # Then the data bucket's encryption and the image repository are among them
    assert "mlops-dev-data-encryption" in protected, protected
    assert any(p["type"] == "aws:ecr/repository:Repository" for p in key["protects"]), protected


def test_inventory_roles_show_who_may_assume_them(dev_report):
    # Given the roles in the inventory
    deploy = next(r for r in dev_report["inventory"]["roles"] if r["role"] == "mlops-dev-gh-deploy")
    # When the deploy role's trust is read
    conditions = deploy["trusted_by"][0]["conditions"]
    # Then the pinned GitHub subject is shown
    assert conditions["token.actions.githubusercontent.com:sub"] == [
        "repo:acme/mlops-gitops:environment:dev"
    ], conditions


def test_inventory_lists_endpoints_of_each_serving_kind(graph_of):
    # Given staging, which serves on SageMaker and on Kubernetes
    report = _report(graph_of("staging"))
    # When the endpoints are listed
    kinds = {e["kind"] for e in report["inventory"]["endpoints"]}
    # Then both appear
    assert kinds == {"SageMaker endpoint", "Kubernetes Deployment"}, report["inventory"][
        "endpoints"
    ]


def test_iam_lint_covers_every_policy_document(graph_of):
    # Given prod's policy documents
    graph = graph_of("prod")
    documents = list(graph.policy_documents())
    # When they are linted with parliament
    findings = lint_documents(graph)
    # Then there are documents of every kind, and the shipped ones lint clean
    kinds = {r.type for r, _, _ in documents}
    assert {"aws:iam/role:Role", "aws:kms/key:Key", "aws:s3/bucketPolicy:BucketPolicy"} <= kinds, (
        kinds
    )
    assert findings == [], f"shipped IAM documents must lint clean: {findings}"


def test_sarif_report_validates_against_the_sarif_schema(graph_of):
    # Given the prod report (with a failure and waived findings) as SARIF
    report = _report(graph_of("prod"))
    document = json.loads(render_sarif(report, Path(__file__).resolve().parents[3]))
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    # When it is validated against the official SARIF 2.1.0 schema
    jsonschema.Draft4Validator(schema).validate(document)
    # Then it is valid, has one rule per policy and marks waived results as suppressed
    run = document["runs"][0]
    assert len(run["tool"]["driver"]["rules"]) == len(POLICIES), "one rule per policy"
    suppressed = [r for r in run["results"] if r.get("suppressions")]
    assert len(suppressed) == 2, f"the two waived findings must be suppressed: {suppressed}"


def test_sarif_result_points_at_the_declaring_component(graph_of, repo_root):
    # Given a waived finding on the log bucket
    report = _report(graph_of("dev"))
    run = json.loads(render_sarif(report, repo_root))["runs"][0]
    # When its location is read
    location = run["results"][0]["locations"][0]
    uri = location["physicalLocation"]["artifactLocation"]["uri"]
    # Then it is the SecureBucket component's source, and the URN is the logical location
    assert uri == "infra/components/secure_bucket.py", uri
    assert (repo_root / uri).is_file(), uri
    assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("urn:pulumi:dev::"), (
        location
    )


def test_sarif_schema_rejects_a_broken_document():
    # Given a SARIF document missing its required `runs`
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    # When it is validated
    # Then the schema catches it (the validation above is not vacuous)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate({"version": "2.1.0"})


def test_markdown_report_puts_summary_before_controls(dev_report):
    # Given the Markdown report
    text = render_markdown(dev_report)
    # When its sections are located
    # Then the summary comes first, every control has a section, and waivers are shown
    assert text.index("## Summary") < text.index("## Controls") < text.index("## Inventory"), text[
        :500
    ]
    for control in dev_report["controls"]:
        assert f"#### {control['id']}:" in text, f"{control['id']} has no section"
    assert "## Waivers" in text and "mlops-*-logs" in text, "the waivers must be listed"


def test_json_report_round_trips(dev_report):
    # Given the report document
    from ml.audit.report import to_json

    # When written as JSON and read back
    data = json.loads(to_json(dev_report))
    # Then it keeps its schema version, summary and evaluations
    assert data["schema_version"] == 1 and data["summary"] == dev_report["summary"], data["summary"]
    assert len(data["evaluations"]) == dev_report["summary"]["evaluations"], "evaluations lost"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "waivers": [
                    {
                        "policy": "s3-bucket-versioning-enable",
                        "resource": "x",
                        "justification": "x" * 30,
                        "owner": "me",
                        "expiry": "2027-01-01",
                    }
                ]
            },
            "unknown policy 's3-bucket-versioning-enable'; "
            "did you mean 's3-bucket-versioning-enabled'?",
        ),
        (
            {
                "waivers": [
                    {
                        "policy": "s3-bucket-versioning-enabled",
                        "resource": "x",
                        "owner": "me",
                        "expiry": "2027-01-01",
                    }
                ]
            },
            "justification is required",
        ),
        (
            {
                "waivers": [
                    {
                        "policy": "s3-bucket-versioning-enabled",
                        "resource": "x",
                        "owner": "me",
                        "justification": "x" * 30,
                        "expiry": "soon",
                    }
                ]
            },
            "expiry:",
        ),
        (
            {
                "waivers": [
                    {
                        "policy": "s3-bucket-versioning-enabled",
                        "resource": "x",
                        "owner": "me",
                        "justification": "x" * 30,
                        "expiry": "2027-01-01",
                        "approver": "x",
                    }
                ]
            },
            "unknown field 'approver'",
        ),
        ([], "expected a mapping with one key"),
    ],
    ids=["unknown-policy", "missing-justification", "bad-expiry", "extra-field", "not-a-mapping"],
)
def test_waiver_file_invalid_entry_is_one_line_error(data, message):
    # Given a waiver document with one mistake
    # When it is parsed
    from policies.waivers import WaiverError

    with pytest.raises(WaiverError) as error:
        parse_waivers(data, BY_NAME, "waivers.yaml")
    # Then the error is one line naming the file, the entry and the mistake
    text = str(error.value)
    assert message in text and "\n" not in text, text
    assert text.startswith("waivers.yaml"), text


def test_waiver_glob_matches_logical_name_in_listed_stacks_only():
    # Given a waiver for one stack, by glob
    waivers = parse_waivers(
        {
            "waivers": [
                {
                    "policy": "s3-bucket-versioning-enabled",
                    "resource": "mlops-*-logs",
                    "stacks": ["prod"],
                    "justification": "x" * 30,
                    "owner": "me",
                    "expiry": "2027-01-01",
                }
            ]
        },
        BY_NAME,
    )
    from policies.core import Subject

    logs = Subject("aws:s3/bucket:Bucket", "mlops-prod-logs", "urn:x", {})
    # When matched in prod and in dev
    # Then it covers prod only
    assert waivers.match("s3-bucket-versioning-enabled", logs, "prod") is not None, "prod matches"
    assert waivers.match("s3-bucket-versioning-enabled", logs, "dev") is None, "dev must not match"


def test_report_prod_shows_who_can_do_what_with_pull_request_reach(graph_of):
    # Given prod's audit report
    report = _report(graph_of("prod"), load_waivers(DEFAULT_WAIVERS, BY_NAME))
    matrix = {row["role"]: row for row in report["inventory"]["who_can_do_what"]}
    # Then the one role a pull request can assume is the metadata-only plan role, with no
    # release power, and each release duty has its own role
    reachable = {name for name, row in matrix.items() if row["pull_request_subject"]}
    assert reachable == {"mlops-prod-gh-plan"}, reachable
    assert matrix["mlops-prod-gh-plan"]["powers"] == {}, matrix["mlops-prod-gh-plan"]
    assert "repo:acme/mlops-gitops:pull_request" in matrix["mlops-prod-gh-plan"]["assumed_by"]
    assert list(matrix["mlops-prod-gh-release"]["powers"]) == [
        "sign",
        "register",
        "write-models",
        "decrypt",
        "read-models",
    ], matrix["mlops-prod-gh-release"]["powers"]
    assert list(matrix["mlops-prod-gh-approve"]["powers"]) == ["approve"]
    assert "sign" not in matrix["mlops-prod-gh-deploy"]["powers"]
    assert "approve" not in matrix["mlops-prod-gh-deploy"]["powers"]
    # And the Markdown an auditor reads has the same rows
    markdown = render_markdown(report)
    assert "### Who can do what (release powers)" in markdown
    assert (
        "| `mlops-prod-gh-approve` | repo:acme/mlops-gitops:environment:model-approval-prod"
        in markdown
    ), markdown.split("### Who can do what")[1][:1500]


def test_report_retention_section_evidences_capture_expiry_and_personal_data(graph_of):
    # Given the prod stack's audit report
    report = _report(graph_of("prod"))
    # Then the capture bucket's retention is the declared 90 days (old versions 1 day),
    # the artifacts' object lock is there, and the logs keep what prod's stack file says
    buckets = {b["bucket"]: b for b in report["retention"]["buckets"]}
    capture = buckets["mlops-prod-capture"]
    assert (capture["expires_after_days"], capture["old_versions_expire_after_days"]) == (90, 1)
    assert buckets["mlops-prod-artifacts"]["locked_for_days"] == 365, buckets
    assert buckets["mlops-prod-logs"]["expires_after_days"] == 730, buckets
    assert buckets["mlops-prod-data"]["expires_after_days"] is None, "datasets do not expire"
    # and the personal-data columns are the schema's marks
    personal = [c["column"] for c in report["retention"]["personal_data_columns"]]
    assert sorted(personal) == ["age", "late_payments_12m", "payment_failures_12m", "region"]
    # and the Markdown shows both as evidence
    markdown = render_markdown(report)
    assert "## Retention and classification" in markdown
    assert "| `mlops-prod-capture` | every request and response" in markdown, markdown
    assert "| 90 days | 1 day |" in markdown, markdown
    assert (
        "Personal-data columns: `payment_failures_12m`, `age`, `late_payments_12m`, `region`."
        in markdown
    ), markdown
    # and so does the HTML page
    from ml.audit.html import render_html

    page = render_html(report)
    assert '<section id="retention"><h2>Retention and classification</h2>' in page
    assert "<td>mlops-prod-capture</td>" in page and "<td>1 day</td>" in page
