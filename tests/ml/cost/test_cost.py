"""`mlops cost`: a month of a stack from its graph and a dated price table."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.errors import MlopsError
from infra.config import STACKS, load_stack
from infra.graph import Graph
from ml.cost.estimate import PRICES, Assumptions, PriceTable, RegionPrices, estimate, load_prices
from ml.cost.report import render_diff, render_markdown
from ml.cost.service import estimate_change, estimate_stack, estimate_stacks
from tests.conftest import Cli

REGION = "eu-west-1"
PRICES_FOR_TESTS = PriceTable(
    source="test prices",
    as_of=date(2026, 1, 1),
    hours_per_month=730,
    regions={
        REGION: RegionPrices(
            sagemaker_hosting_per_hour={"ml.m5.large": 0.1},
            sagemaker_training_per_hour={"ml.m5.large": 0.1},
            mlflow_tracking_server_per_hour={"Small": 0.5},
            s3_standard_per_gb_month=0.02,
            kms_key_per_month=1.0,
            interface_endpoint_per_az_hour=0.01,
            cloudtrail_data_events_per_100k=0.1,
            cloudwatch_alarm_per_month=0.1,
        )
    },
    assumptions=Assumptions(
        storage_gb_per_bucket={"data": 50, "artifacts": 20},
        cloudtrail_data_events_per_month=1_000_000,
        training_hours_per_month=20,
        training_instance_type="ml.m5.large",
        expected_spot_savings_percent=70,
    ),
)


def _resource(kind: str, name: str, inputs: dict[str, Any], rid: str | None = None) -> dict:
    return {"urn": f"urn:{name}", "type": kind, "name": name, "parent": None,
            "inputs": inputs, "id": rid or name, "outputs": {}}  # fmt: skip


def small_graph(max_instances: int = 3, instance: str = "ml.m5.large") -> Graph:
    """One endpoint (1 to `max_instances`), tracking server, two buckets, two keys, one
    interface endpoint in two zones and a free gateway one, a trail with data events, an alarm."""
    endpoint = "mlops-dev-churn"
    return Graph.from_json({"stack": "dev", "resources": [
        _resource("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "cfg", {
            "productionVariants": [{"variantName": "primary", "instanceType": instance,
                                    "initialInstanceCount": 1}]}, rid="cfg-1"),
        _resource("aws:sagemaker/endpoint:Endpoint", endpoint,
                  {"name": endpoint, "endpointConfigName": "cfg-1"}),
        _resource("aws:appautoscaling/target:Target", "scaling", {
            "resourceId": f"endpoint/{endpoint}/variant/primary",
            "minCapacity": 1, "maxCapacity": max_instances}),
        _resource("aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer", "mlflow",
                  {"trackingServerSize": "Small"}),
        _resource("aws:s3/bucket:Bucket", "mlops-dev-data", {}),
        _resource("aws:s3/bucket:Bucket", "mlops-dev-artifacts", {}),
        _resource("aws:kms/key:Key", "data-key", {}),
        _resource("aws:kms/key:Key", "signing-key", {}),
        _resource("aws:ec2/vpcEndpoint:VpcEndpoint", "kms", {
            "vpcEndpointType": "Interface", "subnetIds": ["subnet-a", "subnet-b"]}),
        _resource("aws:ec2/vpcEndpoint:VpcEndpoint", "s3", {"vpcEndpointType": "Gateway"}),
        _resource("aws:cloudtrail/trail:Trail", "trail", {"eventSelectors": [
            {"dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::a/"]}]}]}),
        _resource("aws:cloudwatch/metricAlarm:MetricAlarm", "alarm", {}),
    ]})  # fmt: skip


def test_estimate_of_a_small_graph_in_literal_dollars() -> None:
    # when the small graph is priced
    e = estimate(small_graph(), REGION, PRICES_FOR_TESTS)
    lines = {line.item: (line.low, line.high) for line in e.lines}
    # then each line is units x price x 730 h, worked out by hand
    assert lines == {
        "endpoint mlops-dev-churn/primary": (73.0, 219.0),  # 1-3 x 0.1 x 730
        "tracking server mlflow": (365.0, 365.0),  # 0.5 x 730
        "bucket data": (1.0, 1.0),  # 50 GB x 0.02
        "bucket artifacts": (0.4, 0.4),  # 20 GB x 0.02
        "KMS keys": (2.0, 2.0),
        "VPC interface endpoints": (14.6, 14.6),  # 1 endpoint x 2 zones x 730 x 0.01
        "trail trail data events": (1.0, 1.0),  # 10 x 100k x 0.1
        "CloudWatch alarms": (0.1, 0.1),
        "spot training": (0.6, 0.6),  # 20 h x 0.1 = 2.00, less 70%
    }, lines
    assert (e.low, e.high) == (457.7, 603.7), (e.low, e.high)
    spot = next(line for line in e.lines if line.item == "spot training")
    assert "$2.00 on demand" in spot.detail and "70% expected spot saving ($1.40)" in spot.detail


def test_markdown_names_the_range_the_total_and_the_price_date() -> None:
    text = render_markdown(estimate(small_graph(), REGION, PRICES_FOR_TESTS))
    assert "| **total** |  | **$457.70 - $603.70** |" in text, text
    assert "Prices: test prices; as of 2026-01-01 (check them before budgeting" in text, text


def test_diff_shows_what_a_larger_autoscaling_range_costs() -> None:
    # given a release that raises the endpoint's maximum from 3 to 5 instances
    before = estimate(small_graph(3), REGION, PRICES_FOR_TESTS)
    after = estimate(small_graph(5), REGION, PRICES_FOR_TESTS)
    # when the difference is rendered
    text = render_diff(before, after)
    # then only the endpoint changes, by 2 x 0.1 x 730 = 146 at the high end
    assert text.startswith("## Cost of this change: `dev` ±$0.00 to +$146.00 per month"), text
    assert text.count("| endpoint mlops-dev-churn/primary |") == 1, text
    assert "tracking server" not in text.split("Before")[0], "unchanged lines are left out"


def test_diff_of_an_unchanged_stack_says_so() -> None:
    same = estimate(small_graph(), REGION, PRICES_FOR_TESTS)
    text = render_diff(same, same)
    assert "±$0.00 per month" in text and "No priced resource changes." in text, text


def test_unknown_instance_type_is_one_line_naming_it_and_the_table() -> None:
    with pytest.raises(MlopsError) as raised:
        estimate(small_graph(instance="ml.p5.48xlarge"), REGION, PRICES_FOR_TESTS)
    message = str(raised.value)
    assert message.startswith("eu-west-1: no SageMaker hosting price for ml.p5.48xlarge in "
                              "prices.yaml; add it there"), message  # fmt: skip
    assert "\n" not in message and raised.value.exit_code == 2, message


def test_unknown_region_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(MlopsError) as raised:
        estimate(small_graph(), "ap-south-2", PRICES_FOR_TESTS)
    assert str(raised.value) == (
        "region ap-south-2: not in the price table prices.yaml (it has eu-west-1); "
        "add the region's prices there"
    ), raised.value


def test_shipped_price_table_is_dated_sourced_and_covers_every_shipped_stack(
    repo_root: Path,
) -> None:
    table = load_prices()
    assert table.as_of == date(2026, 11, 30) and "transcribed offline" in table.source
    for stack in STACKS:
        cfg = load_stack(stack, repo_root)
        prices = table.region(cfg.region)
        assert cfg.serving.instance_type in prices.sagemaker_hosting_per_hour, stack
        assert cfg.tracking.size in prices.mlflow_tracking_server_per_hour, stack
    assert "ml.m5.large" in table.regions["eu-west-1"].sagemaker_training_per_hour


def test_malformed_price_table_is_one_line(tmp_path: Path) -> None:
    data = yaml.safe_load(PRICES.read_text())
    data["regions"]["eu-west-1"]["kms_key_per_month"] = -1
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(MlopsError) as raised:
        load_prices(path)
    assert "kms_key_per_month" in str(raised.value) and "\n" not in str(raised.value)


def _fake_render(stack: str, root: Path) -> dict[str, Any]:
    """The small graph, its maximum read from the stack file under `root` (as a render would)."""
    maximum = yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text())["config"][
        "mlops:serving"
    ]["maxInstanceCount"]
    return {"stack": stack, "resources": [r.__dict__ for r in small_graph(maximum).resources]}


def test_base_version_is_priced_from_that_file(repo_root: Path, tmp_path: Path) -> None:
    # given the release PR's base version of the dev stack file with a smaller maximum
    shipped = (repo_root / "Pulumi.dev.yaml").read_text()
    base = tmp_path / "base.yaml"
    base.write_text(shipped.replace("maxInstanceCount: 2", "maxInstanceCount: 1"))
    # when both versions are estimated
    before = estimate_stack("dev", repo_root, PRICES_FOR_TESTS, base, render=_fake_render)
    after = estimate_stack("dev", repo_root, PRICES_FOR_TESTS, render=_fake_render)
    # then the base is the file given, and the shipped file is what is under --root
    assert (before.high, after.high) == (457.7, 530.7), (before.high, after.high)


def test_all_stacks_reports_progress_per_stack(repo_root: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    estimates = estimate_stacks(
        STACKS, repo_root, PRICES_FOR_TESTS, lambda *step: seen.append(step), _fake_render
    )
    assert seen == [("dev", 1, 3), ("staging", 2, 3), ("prod", 3, 3)], seen
    assert [e.stack for e in estimates] == list(STACKS)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["cost"], "error: choose exactly one of --stack S and --all"),
        (["cost", "--stack", "dev", "--all"], "error: choose exactly one of --stack S and --all"),
        (["cost", "--stack", "qa"], "error: unknown stack 'qa': choose one of dev, staging, prod"),
        (["cost", "-s", "dev", "-f", "xml"], "error: unknown format 'xml': choose one of md, json"),
    ],
)  # fmt: skip
def test_cost_cli_bad_input_is_one_line_exit_2(argv: list[str], expected: str, cli: Cli) -> None:
    code, _, err = cli(*argv)
    assert code == 2 and err.strip() == expected, err


def test_json_totals_equal_the_markdown(tmp_path: Path) -> None:
    e = estimate(small_graph(), REGION, PRICES_FOR_TESTS)
    data = json.loads(json.dumps(e.to_json()))
    assert (data["low"], data["high"], data["currency"]) == (457.7, 603.7, "USD"), data


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_base_ref_prices_the_stack_file_as_that_commit_had_it(
    repo_root: Path, tmp_path: Path
) -> None:
    # given a repository whose last commit has dev at most 1 instance, and a working copy at 2
    shipped = (repo_root / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.dev.yaml").write_text(
        shipped.replace("maxInstanceCount: 2", "maxInstanceCount: 1")
    )
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "Pulumi.dev.yaml")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    shutil.copyfile(repo_root / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    # when the change is estimated against HEAD
    before, after = estimate_change("dev", tmp_path, PRICES_FOR_TESTS, base_ref="HEAD",
                                    render=_fake_render)  # fmt: skip
    # then the base is the committed file and the proposal the working copy
    assert before is not None and (before.high, after.high) == (457.7, 530.7), (before, after)
    # and a ref git does not know is one line naming it
    with pytest.raises(MlopsError) as raised:
        estimate_change("dev", tmp_path, PRICES_FOR_TESTS, base_ref="nope", render=_fake_render)
    assert str(raised.value).startswith("--base-ref nope: cannot read Pulumi.dev.yaml there ("), (
        raised.value
    )
