"""The hardening rules every GitHub Actions workflow of this repository must follow.

Each rule is a function `(Workflow) -> list[str]` returning one message per violation,
naming the workflow, the job and the step. tests/workflows/test_hardening.py runs every
rule on every file under .github/workflows (so a new workflow is checked the moment it
exists) and on small broken workflows (so every rule is shown to fail when it should).

A call of a reusable workflow (`uses: $/.github/workflows/X.yml`) is checked as the jobs
that actually run: `Workflow.jobs` replaces the calling job by the called workflow's jobs,
named `<caller>/<job>`, with the caller's `with:` values in place of `${{ inputs.x }}`,
the caller's `needs` and `if` added, and `needs` on a call widened to all its jobs.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.config import load_stack

ROOT = Path(__file__).resolve().parents[2]
SHA_PIN = re.compile(r"^(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"#\s*(?P<version>v\d+\.\d+\.\d+)\s*$")
# Triggers whose jobs run this repository's own code with its own token only.
ALLOWED_TRIGGERS = frozenset({"pull_request", "push", "schedule", "workflow_dispatch"})
AWS_ACTION = "aws-actions/configure-aws-credentials"
PULUMI_ACTION = "pulumi/actions"
CHECKOUT_ACTION = "actions/checkout"
AWS_KEY_INPUTS = ("aws-access-key-id", "aws-secret-access-key", "aws-session-token")
AWS_KEY_NAMES = re.compile(r"AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)|ACCESS_KEY")
# Roles trusted only from a GitHub environment (infra/components/identity.py): the job
# that assumes one must run in that environment or the OIDC subject will not match.
ENVIRONMENT_ROLES = (
    "AWS_DEPLOY_ROLE_ARN",
    "AWS_INFRA_ROLE_ARN",
    "AWS_RELEASE_ROLE_ARN",
    "AWS_APPROVE_ROLE_ARN",
    "AWS_PROMOTE_ROLE_ARN",
)
# Roles no job a pull request can start may name (docs/workflows.md): building on main,
# signing and registering, approving, deploying and the platform's own infra role.
RELEASE_ROLE_VARS = (
    "AWS_BUILD_ROLE_ARN",
    "AWS_RELEASE_ROLE_ARN",
    "AWS_APPROVE_ROLE_ARN",
    "AWS_DEPLOY_ROLE_ARN",
    "AWS_INFRA_ROLE_ARN",
    "AWS_PROMOTE_ROLE_ARN",
)
PULL_REQUEST_TRIGGERS = frozenset({"pull_request", "pull_request_target"})
MAIN_GUARD = "github.ref == 'refs/heads/main'"
# Duty -> the GitHub environment its role trusts, per stack (the shared trust design).
DUTY_ENVIRONMENTS = {
    "AWS_RELEASE_ROLE_ARN": "model-signing-{stack}",
    "AWS_APPROVE_ROLE_ARN": "model-approval-{stack}",
    "AWS_PROMOTE_ROLE_ARN": "model-promotion-{stack}",
}
MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}")
PERMISSION_LEVELS = frozenset({"read", "write", "none"})
PERMISSION_LINE = re.compile(r"^\s+[a-z-]+: (read|write|none)\s*(#.*)?$")
MAX_TIMEOUT_MINUTES = 360  # GitHub-hosted runners stop a job after six hours anyway
# A `run:` script is one command, and that command is `make` or the project's `mlops`.
COMMAND = re.compile(r"^(make|\.venv/bin/mlops)(\s|$)")
SHELL_CONTROL = re.compile(r"[;&|`<>]|\$\(|\n")
# A reusable workflow of this repository at the caller's commit: GitHub's self-repository
# syntax `$/` (zizmor's self-repository audit); `./` resolves the same file, but through the
# workspace, so the rules expand it too and reject the spelling.
SELF_CALL = re.compile(r"^(?P<prefix>\$|\.)/(?P<path>\.github/workflows/[A-Za-z0-9_.-]+\.ya?ml)$")
EXPRESSION = re.compile(r"\$\{\{(?P<body>.*?)\}\}", re.DOTALL)
INPUT_REF = re.compile(r"\binputs\.([A-Za-z0-9_-]+)\b")
# GitHub's pseudo-ternary once an input is a literal: `${{ true && a || b }}` is `a`.
LITERAL_TERNARY = re.compile(
    r"^\s*(?P<cond>true|false)\s*&&\s*(?P<then>[^|&]+?)\s*\|\|\s*(?P<else>[^|&]+?)\s*$"
)
LEVELS = {"none": 0, "read": 1, "write": 2}


@dataclass(frozen=True)
class Step:
    job: str
    index: int
    data: dict[str, Any]

    @property
    def label(self) -> str:
        return f"job {self.job}, step {self.data.get('name') or self.index + 1}"

    @property
    def action(self) -> str | None:
        """`owner/repo[/path]` of a `uses:` step, without the ref."""
        uses = self.data.get("uses")
        return uses.split("@", 1)[0] if isinstance(uses, str) else None

    @property
    def inputs(self) -> dict[str, Any]:
        return self.data.get("with") or {}


@dataclass(frozen=True)
class Workflow:
    path: Path
    text: str
    data: dict[str, Any]
    calls: dict[str, Workflow] = field(default_factory=dict, compare=False)
    """Called workflows by their `uses:` value, instead of the files (to test an attack)."""

    @classmethod
    def load(cls, path: Path) -> Workflow:
        text = path.read_text(encoding="utf-8")
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text: str, path: Path = Path("inline.yml")) -> Workflow:
        data = yaml.safe_load(text)
        assert isinstance(data, dict), f"{path}: a workflow is a mapping"
        return cls(path=path, text=text, data=data)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def triggers(self) -> dict[str, Any]:
        # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
        raw = self.data.get("on", self.data.get(True))
        if isinstance(raw, str):
            return {raw: None}
        if isinstance(raw, list):
            return dict.fromkeys(raw)
        return dict(raw or {})

    @property
    def reusable(self) -> bool:
        """Only `workflow_call` starts it: its jobs are checked through its callers."""
        return set(self.triggers) == {"workflow_call"}

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        """The `on.workflow_call.inputs` it declares."""
        return dict((self.triggers.get("workflow_call") or {}).get("inputs") or {})

    @property
    def raw_jobs(self) -> dict[str, dict[str, Any]]:
        """The jobs as written, calls of reusable workflows included."""
        return dict(self.data.get("jobs") or {})

    def called(self, job: dict[str, Any]) -> Workflow | None:
        """The reusable workflow of this repository a job calls (None: no such call)."""
        uses = job.get("uses")
        if not isinstance(uses, str):
            return None
        if uses in self.calls:
            return self.calls[uses]
        match = SELF_CALL.match(uses)
        if match is None or not (ROOT / match["path"]).is_file():
            return None
        return _load_called(ROOT / match["path"])

    @property
    def files(self) -> list[Workflow]:
        """This workflow and every workflow it calls, directly or not (each once)."""
        found = {self.name: self}
        for job in self.raw_jobs.values():
            callee = self.called(job)
            for wf in callee.files if callee else []:
                found.setdefault(wf.name, wf)
        return list(found.values())

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """The jobs that run: each call replaced by the called jobs (module docstring)."""
        raw = self.raw_jobs
        callees = {job_id: self.called(job) for job_id, job in raw.items()}
        expanded = {job_id: callee.jobs for job_id, callee in callees.items() if callee}

        def needs_of(job: dict[str, Any]) -> list[str]:
            needs = job.get("needs") or []
            needs = [needs] if isinstance(needs, str) else list(needs)
            return [
                f"{need}/{sub}" if need in expanded else need
                for need in needs
                for sub in (expanded.get(need) or [None])
            ]

        jobs: dict[str, dict[str, Any]] = {}
        for job_id, job in raw.items():
            callee = callees[job_id]
            if callee is None:
                jobs[job_id] = {**job, "needs": needs_of(job)} if "needs" in job else job
                continue
            given = job.get("with") or {}
            values = {
                name: given.get(name, (spec or {}).get("default"))
                for name, spec in callee.inputs.items()
                if name in given or "default" in (spec or {})
            }
            outer_env = callee.data.get("env") or {}
            for sub_id, sub in expanded[job_id].items():
                sub = with_inputs(sub, values)
                inner = sub.get("needs") or []
                inner = [inner] if isinstance(inner, str) else inner
                conditions = [c for c in (job.get("if"), sub.get("if")) if c]
                jobs[f"{job_id}/{sub_id}"] = {
                    **sub,
                    "needs": needs_of(job) + [f"{job_id}/{n}" for n in inner],
                    **({"if": _conjunction(conditions)} if conditions else {}),
                    "env": {**with_inputs(outer_env, values), **(sub.get("env") or {})},
                    "permissions": sub.get(
                        "permissions", callee.data.get("permissions", job.get("permissions"))
                    ),
                }
        return jobs

    def steps(self) -> Iterator[Step]:
        for job_id, job in self.jobs.items():
            for index, step in enumerate(job.get("steps") or []):
                yield Step(job_id, index, step)

    def job_steps(self, job_id: str) -> list[Step]:
        steps = self.jobs.get(job_id, {}).get("steps") or []
        return [Step(job_id, index, step) for index, step in enumerate(steps)]


@functools.cache
def _load_called(path: Path) -> Workflow:
    """A called workflow file, read once per run (attacks replace it through `calls`)."""
    return Workflow.load(path)


def _literal(value: Any) -> str:
    """An input's value as an expression literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def with_inputs(value: Any, inputs: dict[str, Any]) -> Any:
    """`value` with every `inputs.x` known in `inputs` replaced by its value."""
    if isinstance(value, list):
        return [with_inputs(item, inputs) for item in value]
    if isinstance(value, dict):
        return {key: with_inputs(item, inputs) for key, item in value.items()}
    if not isinstance(value, str):
        return value

    def expression(match: re.Match[str]) -> str:
        body = match["body"].strip()
        whole = INPUT_REF.fullmatch(body)
        if whole and whole.group(1) in inputs:
            found = inputs[whole.group(1)]
            return _literal(found) if isinstance(found, bool) else str(found)
        body = INPUT_REF.sub(
            lambda m: _literal(inputs[m.group(1)]) if m.group(1) in inputs else m.group(0), body
        )
        ternary = LITERAL_TERNARY.match(body)
        if ternary:
            body = ternary["then"] if ternary["cond"] == "true" else ternary["else"]
        return "${{ " + body.strip() + " }}"

    return EXPRESSION.sub(expression, value)


def _conjunction(conditions: list[str]) -> str:
    """Both `if:` conditions, as one expression (a caller's skipped job skips its calls)."""
    bodies = [str(c).strip().removeprefix("${{").removesuffix("}}").strip() for c in conditions]
    return "${{ " + " && ".join(f"({b})" if "||" in b else b for b in bodies) + " }}"


Rule = Callable[[Workflow], list[str]]
RULES: dict[str, Rule] = {}


def rule(function: Rule) -> Rule:
    RULES[function.__name__.removeprefix("rule_")] = function
    return function


@rule
def rule_default_permissions_none(wf: Workflow) -> list[str]:
    """Top-level `permissions: {}`: a job gets nothing it does not ask for."""
    return [
        f"{wf.name}: {f.name}: top-level permissions must be {{}} "
        f"(found {f.data.get('permissions')!r})"
        for f in wf.files
        if f.data.get("permissions") != {}
    ]


@rule
def rule_minimal_job_permissions(wf: Workflow) -> list[str]:
    """Every job lists its permissions scope by scope, each with a comment saying why."""
    problems = []
    for job_id, job in wf.jobs.items():
        permissions = job.get("permissions")
        if not isinstance(permissions, dict) or not permissions:
            problems.append(f"{wf.name}: job {job_id}: permissions must list the scopes it needs")
            continue
        problems += [
            f"{wf.name}: job {job_id}: {scope}: {level!r} is not read, write or none"
            for scope, level in permissions.items()
            if level not in PERMISSION_LEVELS
        ]
    for f in wf.files:
        for number, line in enumerate(f.text.splitlines(), start=1):
            if PERMISSION_LINE.match(line) and "#" not in line:
                problems.append(
                    f"{wf.name}: {f.name}:{number}: '{line.strip()}' needs a '# why' comment"
                )
    return problems


@rule
def rule_concurrency(wf: Workflow) -> list[str]:
    """A workflow-level concurrency group, so pushes do not pile up runs."""
    concurrency = wf.data.get("concurrency")
    if not isinstance(concurrency, dict) or not concurrency.get("group"):
        return [f"{wf.name}: needs a top-level concurrency group"]
    return []


@rule
def rule_timeouts(wf: Workflow) -> list[str]:
    """`timeout-minutes` on every job, within what a hosted runner allows."""
    problems = []
    for job_id, job in wf.jobs.items():
        timeout = job.get("timeout-minutes")
        if not isinstance(timeout, int) or not 0 < timeout <= MAX_TIMEOUT_MINUTES:
            problems.append(
                f"{wf.name}: job {job_id}: timeout-minutes must be 1-{MAX_TIMEOUT_MINUTES} "
                f"(found {timeout!r})"
            )
    return problems


@rule
def rule_hosted_runners(wf: Workflow) -> list[str]:
    """GitHub-hosted, ephemeral runners only (no self-hosted runner keeps state)."""
    return [
        f"{wf.name}: job {job_id}: runs-on must be ubuntu-latest (found {job.get('runs-on')!r})"
        for job_id, job in wf.jobs.items()
        if job.get("runs-on") != "ubuntu-latest"
    ]


@rule
def rule_trusted_triggers(wf: Workflow) -> list[str]:
    """No `pull_request_target` or `workflow_run`: PR code never runs with a write token."""
    unexpected = sorted(set(wf.triggers) - ALLOWED_TRIGGERS)
    return [f"{wf.name}: trigger {name!r} is not allowed" for name in unexpected]


@rule
def rule_actions_pinned(wf: Workflow) -> list[str]:
    """Every `uses:` is a full commit SHA with its release in a `# vX.Y.Z` comment."""
    problems = []
    for step in wf.steps():
        uses = step.data.get("uses")
        if uses is None:
            continue
        if not SHA_PIN.match(uses):
            problems.append(f"{wf.name}: {step.label}: {uses!r} is not pinned to a commit SHA")
            continue
        lines = (ln for f in wf.files for ln in f.text.splitlines())
        line = next((ln for ln in lines if f"uses: {uses}" in ln), "")
        if not VERSION_COMMENT.search(line):
            problems.append(f"{wf.name}: {step.label}: {uses} needs a '# vX.Y.Z' comment")
    return problems


@rule
def rule_oidc_only(wf: Workflow) -> list[str]:
    """AWS through OIDC only: a role to assume, never keys; `id-token` only where needed."""
    problems = []
    for f in wf.files:
        for key in AWS_KEY_NAMES.findall(f.text):
            problems.append(f"{wf.name}: {f.name}: mentions AWS key material ({key})")
    for job_id, job in wf.jobs.items():
        aws_steps = [s for s in wf.job_steps(job_id) if s.action == AWS_ACTION]
        for step in aws_steps:
            if not step.inputs.get("role-to-assume"):
                problems.append(f"{wf.name}: {step.label}: needs role-to-assume (OIDC)")
            for key in AWS_KEY_INPUTS:
                if key in step.inputs:
                    problems.append(f"{wf.name}: {step.label}: {key} is a stored credential")
            role = str(step.inputs.get("role-to-assume", ""))
            if "secrets." in role:
                problems.append(f"{wf.name}: {step.label}: role ARNs come from vars, not secrets")
        id_token = (job.get("permissions") or {}).get("id-token")
        if aws_steps and id_token != "write":
            problems.append(f"{wf.name}: job {job_id}: assumes a role without id-token: write")
        if not aws_steps and id_token not in (None, "none"):
            problems.append(f"{wf.name}: job {job_id}: id-token: {id_token} but assumes no role")
    return problems


@rule
def rule_no_expressions_in_scripts(wf: Workflow) -> list[str]:
    """No `${{ }}` in `run:`: values reach scripts through `env:`, never as shell text."""
    return [
        f"{wf.name}: {step.label}: run: interpolates an expression; pass it through env:"
        for step in wf.steps()
        if "run" in step.data and "${{" in str(step.data["run"])
    ]


@rule
def rule_steps_call_make_or_mlops(wf: Workflow) -> list[str]:
    """Every `run:` is one `make` or `mlops` command: the logic lives in tested Python."""
    problems = []
    for step in wf.steps():
        if "run" not in step.data:
            continue
        script = str(step.data["run"]).strip()
        if not COMMAND.match(script) or SHELL_CONTROL.search(script):
            problems.append(f"{wf.name}: {step.label}: run: must be one make or mlops command")
    return problems


@rule
def rule_named_steps(wf: Workflow) -> list[str]:
    """Every job and step says what it does (the run log and the checks list read well)."""
    problems = [
        f"{wf.name}: {step.label}: needs a name" for step in wf.steps() if not step.data.get("name")
    ]
    jobs = {**wf.raw_jobs, **wf.jobs}
    problems += [
        f"{wf.name}: job {j}: needs a name" for j, job in jobs.items() if "name" not in job
    ]
    return problems


@rule
def rule_checkout_without_credentials(wf: Workflow) -> list[str]:
    """`persist-credentials: false`: the token is not left in .git/config for later steps."""
    return [
        f"{wf.name}: {step.label}: checkout needs persist-credentials: false"
        for step in wf.steps()
        if step.action == CHECKOUT_ACTION and step.inputs.get("persist-credentials") is not False
    ]


@rule
def rule_environment_roles(wf: Workflow) -> list[str]:
    """A role trusted only from an environment is assumed only from a job in it."""
    problems = []
    for job_id, job in wf.jobs.items():
        for step in wf.job_steps(job_id):
            role = str(step.inputs.get("role-to-assume", "")) if step.action == AWS_ACTION else ""
            if any(name in role for name in ENVIRONMENT_ROLES) and not job.get("environment"):
                problems.append(f"{wf.name}: job {job_id}: {role} needs the job's environment")
    return problems


@rule
def rule_deploys_in_stack_environments(wf: Workflow) -> list[str]:
    """`pulumi up` runs in the stack's environment, one update per stack at a time."""
    problems = []
    for job_id, job in wf.jobs.items():
        ups = [
            s
            for s in wf.job_steps(job_id)
            if s.action == PULUMI_ACTION and s.inputs.get("command") == "up"
        ]
        for step in ups:
            stack = step.inputs.get("stack-name")
            if job.get("environment") != stack:
                problems.append(
                    f"{wf.name}: job {job_id}: pulumi up of {stack!r} must run in environment "
                    f"{stack!r} (found {job.get('environment')!r})"
                )
            concurrency = job.get("concurrency") or {}
            if concurrency != {"group": f"pulumi-{stack}", "cancel-in-progress": False}:
                problems.append(
                    f"{wf.name}: job {job_id}: pulumi up needs concurrency group pulumi-{stack} "
                    f"without cancel-in-progress (found {concurrency!r})"
                )
            if step.inputs.get("policyPacks") != "policies":
                problems.append(f"{wf.name}: job {job_id}: pulumi up must run the policy pack")
    return problems


@rule
def rule_prod_after_staging(wf: Workflow) -> list[str]:
    """Prod is updated only after the same workflow updated staging successfully."""
    up_stacks = {
        job_id: step.inputs.get("stack-name")
        for job_id in wf.jobs
        for step in wf.job_steps(job_id)
        if step.action == PULUMI_ACTION and step.inputs.get("command") == "up"
    }
    problems = []
    for job_id, stack in up_stacks.items():
        if stack != "prod":
            continue
        needs = wf.jobs[job_id].get("needs") or []
        needs = [needs] if isinstance(needs, str) else needs
        if not any(up_stacks.get(need) == "staging" for need in needs):
            problems.append(f"{wf.name}: job {job_id}: prod's pulumi up must need staging's")
    return problems


@rule
def rule_environments_match_stack_trust(wf: Workflow) -> list[str]:
    """A job assuming the deploy or infra role runs in the stack's deployEnvironment."""
    root = Path(__file__).resolve().parents[2]
    workflow_stack = (wf.data.get("env") or {}).get("STACK")
    problems = []
    for job_id, job in wf.jobs.items():
        stack = (job.get("env") or {}).get("STACK", workflow_stack)
        roles = [
            str(step.inputs.get("role-to-assume", ""))
            for step in wf.job_steps(job_id)
            if step.action == AWS_ACTION
        ]
        if stack not in ("dev", "staging", "prod") or not roles:
            continue
        github = load_stack(stack, root).github
        for role in roles:
            # Signing and approving: rule_release_duties_on_main_in_their_environments.
            if "AWS_DEPLOY_ROLE_ARN" not in role and "AWS_INFRA_ROLE_ARN" not in role:
                continue
            trusted = github.deploy_environment
            if job.get("environment") != trusted:
                problems.append(
                    f"{wf.name}: job {job_id}: runs in environment {job.get('environment')!r}, "
                    f"but Pulumi.{stack}.yaml trusts {role} from {trusted!r} only"
                )
    return problems


def _secrets_read(job: dict[str, Any]) -> set[str]:
    text = yaml.safe_dump(job)
    return set(re.findall(r"secrets\.([A-Za-z0-9_]+)", text)) - {"GITHUB_TOKEN"}


@rule
def rule_reusable_workflows_called_explicitly(wf: Workflow) -> list[str]:
    """A call names a workflow of this repository (`$/`), passes only the inputs it declares
    (its required ones included) and secrets by name, never `secrets: inherit`; it grants
    exactly what the called jobs declare; and it passes every secret a called job that can
    run reads: GitHub resolves an unpassed one, even an environment's, to an empty string."""
    problems = []
    for job_id, job in wf.raw_jobs.items():
        uses = job.get("uses")
        if uses is None:
            continue
        label = f"{wf.name}: job {job_id}"
        match = SELF_CALL.match(str(uses))
        callee = wf.called(job)
        if match is None or match["prefix"] != "$":
            problems.append(f"{label}: calls {uses!r}; call this repository's as $/.github/...")
        if callee is None:
            problems.append(f"{label}: calls {uses!r}, which is not a workflow of this repository")
            continue
        if not callee.reusable:
            problems.append(f"{label}: {callee.name} must be triggered by workflow_call only")
        declared = callee.inputs
        given = job.get("with") or {}
        problems += [f"{label}: input {k!r} is not declared by {callee.name}" for k in given
                     if k not in declared]  # fmt: skip
        problems += [
            f"{label}: required input {k!r} of {callee.name} is not given"
            for k, spec in declared.items()
            if (spec or {}).get("required") and k not in given
        ]
        secrets = job.get("secrets")
        declared_secrets = (callee.triggers.get("workflow_call") or {}).get("secrets") or {}
        if secrets == "inherit":
            problems.append(f"{label}: secrets: inherit hands every secret over; pass them by name")
        elif secrets is not None:
            problems += [f"{label}: secret {k!r} is not declared by {callee.name}"
                         for k in secrets if k not in declared_secrets]  # fmt: skip
        problems += _grant_problems(label, job.get("permissions"), callee)
        passed = set(secrets) if isinstance(secrets, dict) else set()
        for sub_id, sub in wf.jobs.items():
            if secrets == "inherit" or not sub_id.startswith(f"{job_id}/") or never_runs(sub):
                continue  # inherit is reported above: it passes them all
            unpassed = sorted(_secrets_read(sub) - passed)
            if unpassed:
                problems.append(
                    f"{label}: {sub_id} reads secrets {unpassed}, which the call does not pass"
                )
    return problems


def never_runs(job: dict[str, Any]) -> bool:
    """The job's condition is `false` once the caller's inputs are in (`revert: false`)."""
    condition = " ".join(str(job.get("if", "")).split())
    condition = condition.removeprefix("${{").removesuffix("}}").strip()
    return condition == "false" or condition.startswith("false &&")


def _grant_problems(label: str, grant: Any, callee: Workflow) -> list[str]:
    """The caller's `permissions` must equal what the called jobs declare, scope by scope:
    less and GitHub refuses the run, more is a token no job asked for."""
    if not isinstance(grant, dict):
        return [f"{label}: permissions must list the scopes the called jobs need"]
    needed: dict[str, str] = {}
    for sub in callee.jobs.values():
        for scope, level in (sub.get("permissions") or {}).items():
            if LEVELS.get(level, 0) > LEVELS.get(needed.get(scope, "none"), 0):
                needed[scope] = level
    granted = {scope: level for scope, level in grant.items() if level != "none"}
    if granted != needed:
        return [f"{label}: grants {granted}, but the jobs of {callee.name} declare {needed}"]
    return []


def is_main_guarded(job: dict[str, Any]) -> bool:
    """The job's own `if:` requires main: a conjunct `github.ref == 'refs/heads/main'`, no `||`."""
    condition = str(job.get("if", "")).strip()
    condition = condition.removeprefix("${{").removesuffix("}}")
    condition = " ".join(condition.split())
    if "||" in condition:
        return False
    return MAIN_GUARD in [part.strip() for part in condition.split("&&")]


def pull_request_can_start(wf: Workflow, job: dict[str, Any]) -> bool:
    """A pull request event triggers the workflow and the job does not require main."""
    return bool(PULL_REQUEST_TRIGGERS & set(wf.triggers)) and not is_main_guarded(job)


def matrix_instances(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job once per matrix combination, `${{ matrix.x }}` replaced by its value."""
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    combos = [c for c in combos if c] + list(matrix.get("include") or [])
    return [_substitute(job, combo) for combo in combos or [{}]]


def _substitute(value: Any, combo: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return MATRIX_REF.sub(lambda m: str(combo.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [_substitute(item, combo) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, combo) for key, item in value.items()}
    return value


def assumed_roles(job: dict[str, Any]) -> list[str]:
    """The `role-to-assume` of each AWS credentials step of the job."""
    return [
        str((step.get("with") or {}).get("role-to-assume", ""))
        for step in job.get("steps") or []
        if str(step.get("uses", "")).split("@", 1)[0] == AWS_ACTION
    ]


def _runs(job: dict[str, Any]) -> list[str]:
    return [" ".join(str(step["run"]).split()) for step in job.get("steps") or [] if "run" in step]


@rule
def rule_pull_request_jobs_hold_no_release_credential(wf: Workflow) -> list[str]:
    """A job a pull request can start has no environment and names no release-duty role."""
    problems = []
    workflow_env = yaml.safe_dump(wf.data.get("env") or {})
    for job_id, job in wf.jobs.items():
        if not pull_request_can_start(wf, job):
            continue
        if job.get("environment"):
            problems.append(
                f"{wf.name}: job {job_id}: a pull request can start it, yet it enters "
                f"environment {job['environment']!r}"
            )
        text = yaml.safe_dump(job) + workflow_env
        problems += [
            f"{wf.name}: job {job_id}: a pull request can start it, yet it names {name}"
            for name in RELEASE_ROLE_VARS
            if name in text
        ]
    return problems


@rule
def rule_pull_request_jobs_read_no_model_bytes(wf: Workflow) -> list[str]:
    """PR jobs verify registry records only, and never fetch a prod model."""
    problems = []
    workflow_stack = (wf.data.get("env") or {}).get("STACK")
    for job_id, job in wf.jobs.items():
        if not pull_request_can_start(wf, job):
            continue
        for instance in matrix_instances(job):
            stack = (instance.get("env") or {}).get("STACK", workflow_stack)
            for run in _runs(instance):
                if "mlops release verify" in run and "--registry-only" not in run:
                    problems.append(
                        f"{wf.name}: job {job_id}: a pull request can start it, so "
                        f"`release verify` must be --registry-only (found: {run})"
                    )
                if "mlops release fetch" in run and stack not in ("dev", "staging"):
                    problems.append(
                        f"{wf.name}: job {job_id}: a pull request can start it, yet it "
                        f"fetches the model stack {stack!r} serves"
                    )
    return problems


@rule
def rule_credentialed_jobs_install_from_lock(wf: Workflow) -> list[str]:
    """A job that gets an OIDC token installs only `make setup-locked` (hash-checked)."""
    problems = []
    for job_id, job in wf.jobs.items():
        if (job.get("permissions") or {}).get("id-token") != "write":
            continue
        runs = _runs(job)
        if "make setup-locked" not in runs:
            problems.append(f"{wf.name}: job {job_id}: has id-token: write, needs setup-locked")
        problems += [
            f"{wf.name}: job {job_id}: has id-token: write, installs outside the lock: {run}"
            for run in runs
            if run in ("make setup", "make") or "pip install" in run
        ]
    return problems


@rule
def rule_release_duties_on_main_in_their_environments(wf: Workflow) -> list[str]:
    """Build, sign and approve jobs run on main only; sign/approve in the stack's environment."""
    problems = []
    for job_id, job in wf.jobs.items():
        for instance in matrix_instances(job):
            roles = " ".join(assumed_roles(instance))
            stack = (instance.get("env") or {}).get("STACK")
            duties = [name for name in ("AWS_BUILD_ROLE_ARN", *DUTY_ENVIRONMENTS) if name in roles]
            if duties and not is_main_guarded(job):
                problems.append(f"{wf.name}: job {job_id}: {duties[0]} needs `if: {MAIN_GUARD}`")
            for duty in duties:
                expected = DUTY_ENVIRONMENTS.get(duty, "").format(stack=stack) or None
                if instance.get("environment") != expected:
                    problems.append(
                        f"{wf.name}: job {job_id}: {duty} for stack {stack!r} must run in "
                        f"environment {expected!r} (found {instance.get('environment')!r})"
                    )
    return problems


def violations(wf: Workflow) -> list[str]:
    return [message for check in RULES.values() for message in check(wf)]
