"""`python -m ml.audit.check GRAPH...`: this checkout's pack over rendered graph files.

CI's base-pack job runs it from the base branch's checkout on the graphs the pull request
rendered, so a change is judged by rules, waivers and stack files it did not edit
(docs/policies.md, "The base branch's pack"). It renders nothing and runs no code from the
pull request: it reads the graph files (data), and from this checkout the pack, its waivers
(`policies/waivers.yaml`) and the stack file of each graph's stack (the peers it admits).

Keep this entry stable: the job runs whatever the base branch holds, so a change to its
arguments takes effect one pull request later. Exit 0 when every graph passes, 1 on a
mandatory failure or expired waiver, 2 on bad input (one line, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.errors import MlopsError


def graph_files(paths: list[Path]) -> list[Path]:
    """The files named, and the `*.json` files of the directories named."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*.json"))
        elif path.is_file():
            found.append(path)
        else:
            raise MlopsError(f"{path}: no such graph file or directory")
    if not found:
        raise MlopsError(f"no graph files in {', '.join(map(str, paths))}: render them first")
    return found


def check_graph(path: Path, root: Path) -> tuple[str, list[str]]:
    """The graph's stack and the failures of the pack at `root` on it (empty: it passes)."""
    from infra.config import load_stack
    from infra.graph import Graph
    from ml.audit.engine import stack_configs
    from ml.audit.report import build_report
    from policies.pack import BY_NAME
    from policies.waivers import waivers_for

    try:
        graph = Graph.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MlopsError(f"{path}: not a rendered resource graph ({error})") from None
    configs = stack_configs(load_stack(graph.stack, root).promoter_role_arns())
    summary = build_report(graph, waivers_for(root, None, BY_NAME), configs=configs)["summary"]
    return graph.stack, list(summary["failures"]) if summary["status"] != "pass" else []


def main(argv: list[str] | None = None) -> int:
    from infra.config import STACKS

    parser = argparse.ArgumentParser(prog="python -m ml.audit.check", description=__doc__)
    parser.add_argument("graphs", nargs="+", type=Path, help="graph files or directories")
    parser.add_argument("--root", type=Path, default=Path("."), help="the checkout whose pack")
    parser.add_argument(
        "--every-stack", action="store_true", help=f"fail unless {', '.join(STACKS)} all come"
    )
    args = parser.parse_args(argv)
    try:
        failed, seen = 0, set()
        for path in graph_files(args.graphs):
            stack, failures = check_graph(path, args.root)
            seen.add(stack)
            print(f"{path}: stack {stack} {'FAIL' if failures else 'PASS'} under this pack")
            for failure in failures:
                print(f"  FAIL {failure}")
            failed += bool(failures)
        missing = [s for s in STACKS if s not in seen] if args.every_stack else []
        if missing:
            raise MlopsError(f"no graph of stack(s) {', '.join(missing)}: nothing judged them", 1)
    except MlopsError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
