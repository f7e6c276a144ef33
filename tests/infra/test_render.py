"""`mlops infra render`: the documented graph shape, realistic references, no CLI needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from infra.graph import Graph
from infra.offline import render_graph

REQUIRED_FIELDS = {"urn", "type", "name", "parent", "inputs", "id", "outputs"}


def test_render_graph_has_the_documented_fields(stack_graph: Graph, repo_root: Path) -> None:
    raw = render_graph(stack_graph.stack, repo_root)
    assert raw["stack"] == stack_graph.stack and raw["resources"], raw.keys()
    for resource in raw["resources"]:
        missing = REQUIRED_FIELDS - resource.keys()
        assert not missing, f"{resource.get('name')}: missing {missing}"
        assert resource["urn"].startswith(f"urn:pulumi:{stack_graph.stack}::mlops::"), resource[
            "urn"
        ]


def test_render_graph_children_point_at_their_component(stack_graph: Graph) -> None:
    urns = {r.urn for r in stack_graph.resources}
    for resource in stack_graph.resources:
        if resource.type.startswith("aws:"):
            assert resource.parent in urns, f"{resource.name} is not parented to a component"


def test_render_graph_inputs_are_camel_case_as_the_engine_sees_them(graph_of) -> None:
    key = graph_of("dev").named("mlops-dev-data-key")
    assert "enableKeyRotation" in key.inputs and "enable_key_rotation" not in key.inputs


def test_render_graph_references_resolve_to_realistic_arns(graph_of) -> None:
    graph: Graph = graph_of("dev")
    key_arn = graph.named("mlops-dev-data-key").outputs["arn"]
    assert key_arn.startswith("arn:aws:kms:eu-west-1:123456789012:key/"), key_arn
    role = graph.named("mlops-dev-training", "aws:iam/role:Role")
    assert role.outputs["arn"] == f"arn:aws:iam::123456789012:role/{role.id}", role.outputs
    key_policy = graph.named("mlops-dev-data-key").inputs["policy"]
    assert role.outputs["arn"] in key_policy, "the key policy names the real role ARN"


def test_engine_config_secure_value_is_redacted_and_marked(tmp_path: Path, repo_root: Path) -> None:
    stack = (repo_root / "Pulumi.dev.yaml").read_text()
    stack += "  mlops:githubToken:\n    secure: v1:abc:def\n"
    (tmp_path / "Pulumi.dev.yaml").write_text(stack)
    from infra.offline import engine_config_from_file

    config, secret_keys = engine_config_from_file(tmp_path / "Pulumi.dev.yaml")
    assert config["mlops:githubToken"] == "[secret]" and secret_keys == ["mlops:githubToken"]


def test_recorded_secret_input_is_redacted_but_marked() -> None:
    from pulumi.runtime import rpc

    from infra.offline import _redact

    wire = {"password": {rpc._special_sig_key: rpc._special_secret_sig, "value": "hunter2"}}
    assert _redact(wire) == {"password": {"secret": True, "value": "[secret]"}}


def test_cli_render_prod_writes_the_graph(tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "graph.json"
    exe = Path(sys.executable).with_name("mlops")
    result = subprocess.run(
        [str(exe), "infra", "render", "--stack", "prod", "--out", str(out), "--quiet"],
        cwd=repo_root, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    graph = json.loads(out.read_text())
    assert graph["stack"] == "prod" and len(graph["resources"]) > 50, len(graph["resources"])
    assert f"wrote {len(graph['resources'])} resources" in result.stdout, result.stdout
