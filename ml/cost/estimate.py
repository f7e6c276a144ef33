"""A month of a stack from its rendered graph and the shipped price table.

The graph says what exists (endpoint instances and their autoscaling range, buckets,
keys, interface endpoints and their zones, trail data selectors, the tracking server,
alarms); `prices.yaml` says what each costs per unit and states the usage the graph
cannot know (stored GB, trail events, training hours, the spot saving). Each line has a
low and a high monthly figure: they differ only where autoscaling does (min and max
instances, all month). Not priced: requests (S3, KMS, invocations), data transfer,
CloudWatch Logs ingestion, ECR storage, the capacity a blue/green deployment adds for
its duration. Pure: no AWS, no Pulumi; `ml.cost.service` renders the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import MlopsError
from common.files import read_yaml
from common.validation import one_line
from infra.graph import Graph, Resource

PRICES = Path(__file__).resolve().parent / "prices.yaml"

Price = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionPrices(_Strict):
    sagemaker_hosting_per_hour: dict[str, Price]
    sagemaker_training_per_hour: dict[str, Price]
    mlflow_tracking_server_per_hour: dict[str, Price]
    s3_standard_per_gb_month: Price
    kms_key_per_month: Price
    interface_endpoint_per_az_hour: Price
    cloudtrail_data_events_per_100k: Price
    cloudwatch_alarm_per_month: Price


class Assumptions(_Strict):
    storage_gb_per_bucket: dict[str, Annotated[float, Field(ge=0)]]
    cloudtrail_data_events_per_month: Annotated[int, Field(ge=0)]
    training_hours_per_month: Annotated[float, Field(ge=0)]
    training_instance_type: str
    expected_spot_savings_percent: Annotated[float, Field(ge=0, le=100)]


class PriceTable(_Strict):
    source: str
    as_of: date
    hours_per_month: Annotated[float, Field(gt=0)]
    regions: dict[str, RegionPrices]
    assumptions: Assumptions

    def region(self, name: str) -> RegionPrices:
        if name not in self.regions:
            raise MlopsError(
                f"region {name}: not in the price table {PRICES.name} (it has "
                f"{', '.join(sorted(self.regions))}); add the region's prices there"
            )
        return self.regions[name]


def load_prices(path: Path = PRICES) -> PriceTable:
    try:
        return PriceTable.model_validate(read_yaml(path, "price table"))
    except ValidationError as error:
        raise MlopsError(one_line(error, lambda where: f"{path}: {where}")) from None


@dataclass(frozen=True)
class CostLine:
    item: str
    """Stable across versions of a stack (the diff pairs lines by it)."""
    detail: str
    low: float
    high: float
    """Monthly USD; equal unless autoscaling makes a range."""


@dataclass(frozen=True)
class Estimate:
    stack: str
    region: str
    lines: tuple[CostLine, ...]
    source: str
    as_of: date
    assumptions: Assumptions

    @property
    def low(self) -> float:
        return round(sum(line.low for line in self.lines), 2)

    @property
    def high(self) -> float:
        return round(sum(line.high for line in self.lines), 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "region": self.region,
            "currency": "USD",
            "period": "month",
            "low": self.low,
            "high": self.high,
            "lines": [line.__dict__ for line in self.lines],
            "prices": {"source": self.source, "as_of": self.as_of.isoformat()},
            "assumptions": self.assumptions.model_dump(),
        }


def _priced(table: dict[str, float], key: str, what: str, region: str) -> float:
    if key not in table:
        raise MlopsError(
            f"{region}: no {what} price for {key} in {PRICES.name}; add it there "
            f"(known: {', '.join(sorted(table)) or 'none'})"
        )
    return table[key]


def _money(value: float) -> float:
    return round(value, 2)


def _endpoints(graph: Graph, p: RegionPrices, hours: float, region: str) -> list[CostLine]:
    configs = {
        r.id: r for r in graph.of_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    }
    targets = {
        r.inputs.get("resourceId"): r for r in graph.of_type("aws:appautoscaling/target:Target")
    }
    lines = []
    for endpoint in graph.of_type("aws:sagemaker/endpoint:Endpoint"):
        name = endpoint.inputs.get("name") or endpoint.id
        config = configs.get(endpoint.inputs.get("endpointConfigName"))
        if config is None:
            continue
        for variant in config.inputs.get("productionVariants") or []:
            instance = variant["instanceType"]
            rate = _priced(p.sagemaker_hosting_per_hour, instance, "SageMaker hosting", region)
            initial = int(variant.get("initialInstanceCount", 1))
            target = targets.get(f"endpoint/{name}/variant/{variant['variantName']}")
            low = int(target.inputs["minCapacity"]) if target else initial
            high = int(target.inputs["maxCapacity"]) if target else initial
            count = f"{low}" if low == high else f"{low}-{high} (autoscaling)"
            lines.append(
                CostLine(
                    f"endpoint {name}/{variant['variantName']}",
                    f"{count} x {instance} at ${rate}/h, {hours:g} h",
                    _money(low * rate * hours),
                    _money(high * rate * hours),
                )
            )
    return lines


def _bucket_role(bucket: Resource, stack: str) -> str:
    name = bucket.name
    prefix = f"mlops-{stack}-"
    return name.removeprefix(prefix) if name.startswith(prefix) else name


def _storage(graph: Graph, p: RegionPrices, a: Assumptions) -> list[CostLine]:
    lines = []
    for bucket in graph.of_type("aws:s3/bucket:Bucket"):
        role = _bucket_role(bucket, graph.stack)
        gb = a.storage_gb_per_bucket.get(role, 0.0)
        cost = gb * p.s3_standard_per_gb_month
        lines.append(
            CostLine(
                f"bucket {role}",
                f"{gb:g} GB assumed x ${p.s3_standard_per_gb_month}/GB-month",
                _money(cost),
                _money(cost),
            )
        )
    return lines


def _flat(item: str, detail: str, cost: float) -> CostLine:
    return CostLine(item, detail, _money(cost), _money(cost))


def estimate(graph: Graph, region: str, prices: PriceTable) -> Estimate:
    """The month of `graph` (a stack in `region`); a missing price is a one-line error."""
    p, a, hours = prices.region(region), prices.assumptions, prices.hours_per_month
    lines = _endpoints(graph, p, hours, region)
    for server in graph.of_type("aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer"):
        size = server.inputs.get("trackingServerSize", "Small")
        rate = _priced(p.mlflow_tracking_server_per_hour, size, "MLflow tracking server", region)
        lines.append(
            _flat(
                f"tracking server {server.name}", f"{size} at ${rate}/h, {hours:g} h", rate * hours
            )
        )
    lines += _storage(graph, p, a)
    keys = graph.of_type("aws:kms/key:Key")
    if keys:
        lines.append(
            _flat("KMS keys", f"{len(keys)} x ${p.kms_key_per_month}/month (requests not priced)",
                  len(keys) * p.kms_key_per_month)
        )  # fmt: skip
    interface = [
        r for r in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if r.inputs.get("vpcEndpointType") == "Interface"
    ]  # fmt: skip
    zone_hours = sum(len(r.inputs.get("subnetIds") or []) for r in interface) * hours
    if interface:
        lines.append(
            _flat(
                "VPC interface endpoints",
                f"{len(interface)} endpoints, {zone_hours:g} zone-hours x "
                f"${p.interface_endpoint_per_az_hour}/h (gateway endpoints are free)",
                zone_hours * p.interface_endpoint_per_az_hour,
            )
        )
    for trail in graph.of_type("aws:cloudtrail/trail:Trail"):
        selectors = trail.inputs.get("eventSelectors") or []
        if any(s.get("dataResources") for s in selectors):
            events = a.cloudtrail_data_events_per_month
            lines.append(
                _flat(
                    f"trail {trail.name} data events",
                    f"{events:,} events assumed x ${p.cloudtrail_data_events_per_100k}/100k "
                    "(first copy of management events is free)",
                    events / 100_000 * p.cloudtrail_data_events_per_100k,
                )
            )
    alarms = graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    if alarms:
        lines.append(
            _flat("CloudWatch alarms", f"{len(alarms)} x ${p.cloudwatch_alarm_per_month}/month",
                  len(alarms) * p.cloudwatch_alarm_per_month)
        )  # fmt: skip
    instance = a.training_instance_type
    rate = _priced(p.sagemaker_training_per_hour, instance, "SageMaker training", region)
    on_demand = a.training_hours_per_month * rate
    saving = a.expected_spot_savings_percent / 100
    lines.append(
        _flat(
            "spot training",
            f"{a.training_hours_per_month:g} h assumed x {instance} at ${rate}/h = "
            f"${on_demand:,.2f} on demand, less {a.expected_spot_savings_percent:g}% expected "
            f"spot saving (${on_demand * saving:,.2f})",
            on_demand * (1 - saving),
        )
    )
    return Estimate(graph.stack, region, tuple(lines), prices.source, prices.as_of, a)
