"""Release: git says which model version serves where, and the release keeps it true.

- `service` (verify, watch, revert) and `prepare` (the release edit): the use cases the CLI
  and the demo both call, each with every check, failing as one line.
- `stackfile`: the release PR's edit of `Pulumi.<stack>.yaml` (round-trip YAML, only the
  `version:` lines change) - pure.
- `verify`: the provenance check (`ml.provenance.check`) for every model a stack serves.
- `endpoints`: what an endpoint is doing and which registry version it serves (adapter).
- `lock`: one release per stack at a time (how, and why no lock object).
- `watch`: promote or rollback after `pulumi up`, judged by what serves.
- `revert`: after a rollback, the stack-file edit and pull request that restore git.
- `github`: PR comments, issues and pull requests through the `gh` CLI.
"""
