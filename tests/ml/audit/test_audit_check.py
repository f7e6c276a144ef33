"""`python -m ml.audit.check`: the pack of one checkout over graph files another rendered,
as CI's base-pack job runs it (the base commit's rules on a pull request's graphs)."""

from __future__ import annotations

import json
from pathlib import Path

from ml.audit.check import main


def _write(graph, path: Path, edit=None) -> Path:
    data = {
        "stack": graph.stack,
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "inputs": json.loads(json.dumps(r.inputs)),
                "id": r.id,
                "outputs": r.outputs,
            }
            for r in graph.resources
        ],
    }
    if edit is not None:
        edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_check_passing_graph_passes_and_every_stack_demands_the_others(
    graph_of, repo_root: Path, tmp_path: Path, capsys
):
    # Given the dev graph alone, judged with --every-stack
    _write(graph_of("dev"), tmp_path / "graph-dev.json")
    # When this checkout's pack judges the directory
    code = main([str(tmp_path), "--root", str(repo_root), "--every-stack"])
    out, err = capsys.readouterr()
    # Then dev passes, but staging and prod were never judged: exit 1 naming them
    assert "stack dev PASS" in out, out
    assert (
        code == 1 and err == "error: no graph of stack(s) staging, prod: nothing judged them\n"
    ), err


def _shorten_key_windows(data: dict) -> None:
    for resource in data["resources"]:
        if resource["type"] == "aws:kms/key:Key":
            resource["inputs"]["deletionWindowInDays"] = 7


def test_attack_pull_request_graph_weaker_than_base_pack_fails(
    graph_of, repo_root: Path, tmp_path: Path, capsys
):
    # Given a pull request whose program shortens the keys' deletion window to 7 days (and
    # which may have relaxed the policy in its own checkout: the base's pack is what runs)
    graph = _write(graph_of("dev"), tmp_path / "graph-dev.json", _shorten_key_windows)
    # When the base checkout's pack judges its graph
    code = main([str(graph), "--root", str(repo_root)])
    out, _ = capsys.readouterr()
    # Then it fails, naming the rule and the observed window
    assert code == 1, out
    assert "stack dev FAIL" in out, out
    assert "kms-key-deletion-window-minimum: " in out and "(found 7 days)" in out, out


def test_check_unreadable_graph_is_one_line_exit_2(repo_root: Path, tmp_path: Path, capsys):
    # Given a file that is not a rendered graph
    bad = tmp_path / "graph-dev.json"
    bad.write_text('{"resources": []}', encoding="utf-8")
    # When it is judged
    code = main([str(bad), "--root", str(repo_root)])
    _, err = capsys.readouterr()
    # Then one line says so, exit 2
    assert code == 2, err
    assert err.count("\n") == 1 and "not a rendered resource graph" in err, err
