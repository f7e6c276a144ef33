"""The offline resource graph: the real program under `pulumi.runtime.set_mocks`.

`render_graph` runs `infra/__main__.py` with a stack file's real config, no Pulumi CLI
and no credentials. The mocks answer like AWS would (ids, ARNs, names) so references
between resources resolve; the recording monitor keeps every resource's inputs exactly
as the engine would receive them (camelCase, secrets redacted but marked). Tests, the
policy harness, the audit report and the demo read this one graph.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import re
import runpy
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as resource_runtime
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import get_root_resource
from pulumi.runtime.stack import wait_for_rpcs

from infra.config import PROJECT, load_stack, read_stack_file, stack_file

MOCK_ACCOUNT_ID = "123456789012"
REDACTED = "[secret]"
_SECRET_SIG = rpc._special_secret_sig
_RESOURCE_SIG = rpc._special_resource_sig
_UNKNOWN = rpc.UNKNOWN


def _short_hash(*parts: str, length: int = 7) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _kebab(word: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", word).lower()


_EC2_ID_PREFIX = {
    "Vpc": "vpc",
    "Subnet": "subnet",
    "SecurityGroup": "sg",
    "DefaultSecurityGroup": "sg",
    "RouteTable": "rtb",
    "VpcEndpoint": "vpce",
    "FlowLog": "fl",
    "RouteTableAssociation": "rtbassoc",
}


class AwsLikeMocks(pulumi.runtime.Mocks):
    """Deterministic, realistic ids and ARNs, so the graph is stable run to run."""

    def __init__(self, region: str, account_id: str = MOCK_ACCOUNT_ID):
        self.region = region
        self.account_id = account_id

    # -- invokes ---------------------------------------------------------------------
    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:
        kind = args.token
        if kind == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:sts::{self.account_id}:assumed-role/offline-render/mlops"
            return {"accountId": self.account_id, "arn": arn, "userId": "AROAOFFLINE:mlops",
                    "id": self.account_id}  # fmt: skip
        if kind == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com",
                    "reverseDnsPrefix": "com.amazonaws", "id": "aws"}  # fmt: skip
        if kind == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}
        if kind == "aws:kms/getPublicKey:getPublicKey":
            return self._public_key(str(args.args.get("keyId", "")))
        if kind == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{suffix}" for suffix in "abc"]
            return {"names": names, "zoneIds": [f"euw1-az{i}" for i in (1, 2, 3)],
                    "id": self.region, "groupNames": [self.region]}  # fmt: skip
        raise NotImplementedError(f"the offline graph has no mock for invoke {kind}")

    # -- resources -------------------------------------------------------------------
    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        if not args.custom:
            return "", {}
        kind, name, inputs = args.typ, args.name, dict(args.inputs)
        if kind.startswith(("kubernetes:", "pulumi:providers:kubernetes")):
            return self._kubernetes_object(kind, name, inputs)
        outputs = dict(inputs)
        physical = self._physical_name(kind, name, inputs)
        resource_id, arn = self._id_and_arn(kind, name, physical, inputs)
        outputs.setdefault("arn", arn)
        outputs.update(self._extra_outputs(kind, name, physical, resource_id, inputs))
        return resource_id, outputs

    def _physical_name(self, kind: str, name: str, inputs: dict[str, Any]) -> str:
        for key in (
            "bucket",
            "name",
            "modelPackageGroupName",
            "endpointName",
            "modelName",
            "trackingServerName",
        ):
            value = inputs.get(key)
            if isinstance(value, str) and value:
                return value
        # Pulumi's autonaming: logical name plus a random suffix (stable here).
        suffix = _short_hash(kind, name)
        physical = f"{name}-{suffix}"
        return physical.lower() if kind.startswith("aws:s3/") else physical

    def _id_and_arn(
        self, kind: str, name: str, physical: str, inputs: dict[str, Any]
    ) -> tuple[str, str]:
        region, account = self.region, self.account_id
        module, _, cls = kind.removeprefix("aws:").partition("/")
        cls = cls.split(":")[-1]
        digest = _short_hash(kind, name, length=17)
        special: dict[str, tuple[str, str]] = {
            "aws:s3/bucket:Bucket": (physical, f"arn:aws:s3:::{physical}"),
            "aws:kms/key:Key": (
                key_id
                := f"{digest[:8]}-{digest[8:12]}-4{digest[12:15]}-8{digest[:3]}-{digest[3:15]}",
                f"arn:aws:kms:{region}:{account}:key/{key_id}",
            ),
            "aws:kms/alias:Alias": (physical, f"arn:aws:kms:{region}:{account}:{physical}"),
            "aws:iam/role:Role": (physical, f"arn:aws:iam::{account}:role/{physical}"),
            "aws:iam/policy:Policy": (
                arn := f"arn:aws:iam::{account}:policy/{physical}",
                arn,
            ),
            "aws:iam/openIdConnectProvider:OpenIdConnectProvider": (
                arn := f"arn:aws:iam::{account}:oidc-provider/"
                + str(inputs.get("url", "")).removeprefix("https://"),
                arn,
            ),
            "aws:ecr/repository:Repository": (
                physical,
                f"arn:aws:ecr:{region}:{account}:repository/{physical}",
            ),
            "aws:cloudwatch/logGroup:LogGroup": (
                physical,
                f"arn:aws:logs:{region}:{account}:log-group:{physical}",
            ),
            "aws:cloudwatch/metricAlarm:MetricAlarm": (
                physical,
                f"arn:aws:cloudwatch:{region}:{account}:alarm:{physical}",
            ),
            "aws:sns/topic:Topic": (
                arn := f"arn:aws:sns:{region}:{account}:{physical}",
                arn,
            ),
            "aws:cloudtrail/trail:Trail": (
                physical,
                f"arn:aws:cloudtrail:{region}:{account}:trail/{physical}",
            ),
        }
        if kind in special:
            return special[kind]
        if kind == "aws:sns/topicPolicy:TopicPolicy":
            return str(inputs.get("arn", physical)), str(inputs.get("arn", ""))
        if kind == "aws:appautoscaling/target:Target":
            # Application Auto Scaling identifies a target by its resource id.
            resource_id = str(inputs.get("resourceId", physical))
            arn = f"arn:aws:application-autoscaling:{region}:{account}:scalable-target/{digest}"
            return resource_id, arn
        if kind == "aws:appautoscaling/policy:Policy":
            policy_id = f"{digest[:8]}-{digest[8:12]}-4{digest[12:15]}-8{digest[:3]}-{digest[3:15]}"
            arn = (
                f"arn:aws:autoscaling:{region}:{account}:scalingPolicy:{policy_id}:resource/"
                f"{inputs.get('serviceNamespace', '')}/{inputs.get('resourceId', '')}"
                f":policyName/{physical}"
            )
            return physical, arn
        if module == "ec2":
            prefix = _EC2_ID_PREFIX.get(cls, "ec2")
            resource_id = f"{prefix}-{digest}"
            return resource_id, f"arn:aws:ec2:{region}:{account}:{_kebab(cls)}/{resource_id}"
        if module == "sagemaker":
            kind = {"EndpointConfiguration": "endpoint-config"}.get(cls, _kebab(cls))
            return physical, f"arn:aws:sagemaker:{region}:{account}:{kind}/{physical.lower()}"
        return physical, f"arn:aws:{module}:{region}:{account}:{_kebab(cls)}/{physical}"

    def _extra_outputs(
        self, kind: str, name: str, physical: str, resource_id: str, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        region, account = self.region, self.account_id
        if kind == "aws:s3/bucket:Bucket":
            return {"bucket": physical, "region": region,
                    "bucketDomainName": f"{physical}.s3.amazonaws.com"}  # fmt: skip
        if kind == "aws:kms/key:Key":
            return {"keyId": resource_id}
        if kind in ("aws:iam/role:Role", "aws:cloudwatch/logGroup:LogGroup"):
            return {"name": physical}
        if kind == "aws:ecr/repository:Repository":
            url = f"{account}.dkr.ecr.{region}.amazonaws.com/{physical}"
            return {"name": physical, "registryId": account, "repositoryUrl": url}
        if kind == "aws:ec2/vpcEndpoint:VpcEndpoint":
            return {"prefixListId": f"pl-{_short_hash(name, length=8)}"}
        if kind == "aws:cloudtrail/trail:Trail":
            return {"name": physical}
        if kind.startswith("aws:sagemaker/"):
            return {"name": physical}
        if kind == "aws:sns/topic:Topic":
            return {"name": physical, "owner": account}
        if kind == "aws:cloudwatch/metricAlarm:MetricAlarm":
            return {"name": physical}
        if kind == "aws:appautoscaling/policy:Policy":
            return {"name": physical, "alarmArns": []}
        return {}

    def _public_key(self, key_id: str) -> dict[str, Any]:
        """A real P-256 public key, derived from the key id, so PEM consumers can parse it."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        secret = int(_short_hash("offline-signing-key", key_id, length=60), 16)
        public = ec.derive_private_key(secret, ec.SECP256R1()).public_key()
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        return {"id": key_id, "keyId": key_id, "arn": key_id, "publicKeyPem": pem,
                "keyUsage": "SIGN_VERIFY", "customerMasterKeySpec": "ECC_NIST_P256",
                "keySpec": "ECC_NIST_P256", "signingAlgorithms": ["ECDSA_SHA_256"],
                "encryptionAlgorithms": [],
                "publicKey": "".join(pem.splitlines()[1:-1])}  # fmt: skip

    def _kubernetes_object(
        self, kind: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """What the API server answers: the object back, with uid and namespace filled in."""
        if kind.startswith("pulumi:providers:"):
            return f"{name}-{_short_hash(kind, name, length=8)}", dict(inputs)
        metadata = dict(inputs.get("metadata") or {})
        digest = _short_hash(kind, name, length=32)
        metadata.setdefault("name", f"{name}-{digest[:8]}")
        namespaced = kind != "kubernetes:core/v1:Namespace"
        if namespaced:
            metadata.setdefault("namespace", "default")
        metadata["uid"] = (
            f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"
        )
        metadata["resourceVersion"] = "1"
        metadata["generation"] = 1
        resource_id = (
            f"{metadata['namespace']}/{metadata['name']}" if namespaced else metadata["name"]
        )
        return resource_id, {**inputs, "metadata": metadata}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping each registration's parent and raw inputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.records: list[dict[str, Any]] = []
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResourceOutputs(self, request):
        """Keep the stack's exports (`pulumi stack output` as the mocks name things): the
        live audit pairs them with the deployed stack's to find each resource's real name."""
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = _redact(json_format.MessageToDict(request.outputs))
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        registration = self.resources.get(response.urn)
        self.records.append(
            {
                "urn": response.urn,
                "type": request.type,
                "name": request.name,
                "parent": request.parent or None,
                "custom": bool(request.custom),
                "inputs": _redact(json_format.MessageToDict(request.object)),
                "id": response.id or None,
                "outputs": _redact(dict(registration.state)) if registration else {},
            }
        )
        return response


def _redact(value: Any) -> Any:
    """Plain JSON: secrets become `{"secret": true, "value": "[secret]"}`, refs their URN."""
    if isinstance(value, dict):
        signature = value.get(rpc._special_sig_key)
        if signature == _SECRET_SIG:
            return {"secret": True, "value": REDACTED}
        if signature == _RESOURCE_SIG:
            return value.get("urn")
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    if value == _UNKNOWN:
        return "[unknown]"
    if isinstance(value, pulumi.Output):
        return "[output]"
    return value


def engine_config_from_file(path: Path, project: str = PROJECT) -> tuple[dict[str, str], list[str]]:
    """What the engine would pass: strings, objects as JSON, secure values redacted."""
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in read_stack_file(path).items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full_key] = REDACTED
            secret_keys.append(full_key)
        elif isinstance(value, str):
            config[full_key] = value
        else:
            config[full_key] = json.dumps(value)
    return config, secret_keys


def run_program(
    module: str,
    mocks: pulumi.runtime.Mocks,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    stack_outputs: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run a Pulumi program module under `mocks`; every resource it registered, recorded
    (and the stack's exports into `stack_outputs`, when given).

    The cyclic garbage collector is off meanwhile: loading pulumi-aws's modules and
    registering the resources allocate about a million objects that stay alive to the end,
    and the collector's repeated passes over them were a quarter of a cold render. Nothing
    is leaked: it runs again afterwards. What the run allocated is moved straight to the
    oldest generation (`gc.freeze` then `gc.unfreeze`): the first young pass would otherwise
    walk all of it, a tenth of a cold render, to free a tenth of it; that garbage waits for
    the next full collection (which `mlops`, ending first, never runs: `ml.cli.main`).

    No stack trace is taken per resource meanwhile: the SDK sends the engine the source
    position of each registration (`traceback.extract_stack`, which reads the source lines
    of every frame), for the engine's messages; the graph records none of it, and taking
    them was a sixth of a warm render. `pulumi up` is not affected."""
    collecting = gc.isenabled()
    gc.disable()
    stack_trace = resource_runtime._get_stack_trace
    # An empty trace: what the SDK sends when it finds no user frame.
    resource_runtime._get_stack_trace = source_pb2.StackTrace
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(
            mocks, project=project, stack=stack, preview=False, monitor=monitor
        )
        set_all_config(config, secret_keys)
        runpy.run_module(module, run_name="__main__")
        if stack_outputs is not None:
            # `set_mocks` registered the root stack's (empty) outputs before the program
            # ran; register them again, now that the program has exported them.
            root = get_root_resource()
            root._outputs_registered = False
            root._finish()
        loop.run_until_complete(wait_for_rpcs())
    finally:
        pulumi.runtime.settings.reset_options()
        resource_runtime._get_stack_trace = stack_trace
        loop.close()
        asyncio.set_event_loop(None)
        gc.freeze()  # what the run allocated: to the oldest generation (docstring)
        gc.unfreeze()
        if collecting:
            gc.enable()
    if stack_outputs is not None:
        stack_outputs.update(monitor.stack_outputs)
    return [record for record in monitor.records if record["type"] != "pulumi:pulumi:Stack"]


def render_graph(stack: str, root: Path) -> dict[str, Any]:
    """Render `Pulumi.<stack>.yaml` under `root` into the graph; raises `ConfigError`."""
    cfg = load_stack(stack, root)  # fail fast, with one line, before any Pulumi work
    config, secret_keys = engine_config_from_file(stack_file(stack, root))
    outputs: dict[str, Any] = {}
    resources = run_program(
        "infra.__main__",
        AwsLikeMocks(region=cfg.region),
        PROJECT,
        stack,
        config,
        secret_keys,
        outputs,
    )
    return {"stack": stack, "project": PROJECT, "resources": resources, "outputs": outputs}
