"""The demo's steps: the whole release, composed from the pipeline's own functions.

Each step is a method of `DemoRun` that calls what CI calls (the training entry point,
validation, signing, publishing to the registry, the release plan, the policy
pack and audit, the canary rehearsal) and returns one line saying what came out. State
the later steps need (clients, the emulated stack, artifact paths, versions) lives on
the `DemoRun`; reports go under its output folder and are listed in `reports` for the
index page.

Nothing here knows it talks to an emulator except `start_emulator`, which starts moto
in this process, points this process's AWS settings (`AWS_ENDPOINT_URL`, fake
administrator credentials) at it and creates the stack there, roles included.

Every step that calls AWS does so as the identity that does it on AWS (`acting_as`):
the candidate's training job is launched as `gh-build` (the emulator runs the job itself
as the stack's `training` execution role), sign and register as `gh-release`, approve
as `gh-approve`, the release PR's verify as `gh-plan`, the audit as `auditor`, deploy
and watch as `gh-deploy`, the drift monitor as `gh-monitor`. The role's session is put
in this process's environment for the block (so clients made there, and child processes
such as the canary's servers, use it) and its caller identity is recorded in
`identities` for the summary. The emulator enforces IAM (`ml.emulator.iam`): a call the
role's policies do not allow stops the step with one line naming identity, action and
resource (docs/emulator.md, "IAM enforcement").
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.errors import MlopsError
from infra.config import StackConfig, load_stack, stack_file
from infra.contracts import capture_prefix, dataset_prefix, s3_uri
from infra.graph import Graph
from ml.demo.runner import Progress, Step
from ml.params import DEFAULT_PARAMS, Params, load_params

ECR_REPOSITORY = "aws:ecr/repository:Repository"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SPOT_CAPACITY_WAIT_SECONDS = 1.0
"""How long the interrupted candidate job waits for a new spot instance (not billed)."""
CAPTURED_REQUESTS = 2000
"""Requests the stand-in endpoint captured for the drift monitor (held-out rows)."""
SIGN = ("kms", "sagemaker", "sts")
"""The clients `mlops sign --stack` uses: the key, the registry's next version, the signer."""
REGISTER = ("kms", "s3", "sagemaker", "sts")
"""The clients `mlops register` uses (STS: who registers)."""
VERIFY = ("kms", "s3", "sagemaker")
"""The clients `mlops release verify` uses."""
PRODUCTION_ROUNDS = 30
"""Boosting rounds of the stand-in production model v1 (the candidate trains the
params file's count), so the candidate is a different, better model to compare with."""


DEPLOY_TIME_SCALE = 0.001
"""The emulated endpoint update's waits (provisioning, bakes, termination) times this:
the stack's 10-minute bakes take well under a second."""


class DemoSettings(BaseModel):
    """The demo's inputs, validated once (`mlops demo` options)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stack: str = "staging"
    out: Path
    root: Path = Path(".")
    port: int = Field(0, ge=0, le=65535)
    params: Path = DEFAULT_PARAMS
    canary_seconds: float = Field(12.0, gt=0, le=600)
    """Length of each canary rehearsal: the stack's baking time, compressed."""
    fault_error_percent: float = Field(10.0, gt=0, le=100)
    """The faulty candidate fails this share of its requests (the canary drill)."""
    enforce_iam: bool = True
    """Authorise every call of a role on action, resource and conditions (ml.emulator.iam)."""
    drill_deny: str | None = None
    """`ROLE:ACTION`: take that one grant away from the emulated policies (a drill)."""


@dataclass(frozen=True)
class Identity:
    """Who did one action of a step: the duty, its role, and the caller the step saw."""

    step: str
    action: str
    duty: str
    role_arn: str
    caller_arn: str
    """`sts:GetCallerIdentity` inside the step, e.g. `...:assumed-role/<role>/demo-release`."""

    def to_json(self) -> dict[str, str]:
        return {
            "step": self.step,
            "action": self.action,
            "duty": self.duty,
            "role_arn": self.role_arn,
            "caller_arn": self.caller_arn,
        }


@dataclass(frozen=True)
class ReportLink:
    section: str
    title: str
    path: Path


@dataclass
class DemoRun:
    settings: DemoSettings
    exits: ExitStack
    """Holds the emulator and the environment that points at it until the run ends."""
    reports: list[ReportLink] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    """Outcomes the summary reports and the tests check (versions, decisions, ...)."""
    identities: list[Identity] = field(default_factory=list)
    """Who ran each action that called AWS, in order."""

    # set by the steps, in order
    cfg: StackConfig | None = None
    params: Params | None = None
    graph: Graph | None = None
    emulator: Any = None
    emulated: Any = None
    clients: dict[str, Any] = field(default_factory=dict)
    data_dir: Path | None = None
    data_hash: str | None = None
    production: Path | None = None
    candidate: Path | None = None
    candidate_record: Any = None
    production_version: int | None = None
    candidate_version: int | None = None
    served: dict[str, Path] = field(default_factory=dict)
    """production/candidate -> the model as the endpoint loaded it (as `inference`)."""
    plan_root: Path | None = None
    release_document: dict[str, Any] | None = None
    """The release PR's rendered graph, as `mlops infra render` writes it (audited)."""
    release_graph: Graph | None = None
    serving_state: Graph | None = None
    """The graph the emulated endpoint was last deployed from (`pulumi up`'s state)."""
    plan_parts: Any = None
    """(stack edit, verification, graph changes) of the release PR, for its comment."""
    target_cfg: StackConfig | None = None
    """The stack this one promotes to (`promotesTo`, prod), in its own emulated account."""
    target: Any = None
    target_graph: Graph | None = None
    """The target stack's rendered graph (bootstrapped, then deployed by verify-target)."""
    promoted_version: int | None = None

    # ---- layout -----------------------------------------------------------------------

    @property
    def out(self) -> Path:
        return self.settings.out

    @property
    def root(self) -> Path:
        return self.settings.root

    @property
    def work(self) -> Path:
        return self.out / "work"

    @property
    def model_name(self) -> str:
        assert self.params is not None
        return self.params.model

    @property
    def group(self) -> str:
        assert self.cfg is not None
        return self.cfg.model_group(self.model_name)

    @contextmanager
    def acting_as(
        self, duty: str, step: str, action: str, *services: str, on: Any = None
    ) -> Iterator[Any]:
        """Run the block as the stack's role for `duty` (of the emulated stack `on`, default
        the demo's): its session in the environment, clients for `services` made with it
        (in the role's account); records the caller identity it sees."""
        from ml import aws
        from ml.emulator.iam import LEDGER
        from ml.emulator.identities import credentials_for
        from ml.emulator.server import environment

        credentials = credentials_for(on or self.emulated, duty, self.clients["sts"])
        denials = len(LEDGER.denials)
        with environment(credentials.environment()):
            caller = aws.client("sts").get_caller_identity()["Arn"]
            self.identities.append(Identity(step, action, duty, credentials.role_arn, caller))
            try:
                yield {name: aws.client(name) for name in services}
            except Exception as error:
                _raise_first_denial(denials, error)
                raise
            _raise_first_denial(denials, None)

    def link(self, section: str, title: str, path: Path) -> None:
        self.reports.append(ReportLink(section, title, path))

    def link_report(self, section: str, title: str, paths: Any) -> None:
        """The three renderings of one `ml.reports` report, HTML first."""
        self.link(section, f"{title} (HTML)", paths.html)
        self.link(section, f"{title} (Markdown)", paths.markdown)
        self.link(section, f"{title} (JSON)", paths.json)

    def steps(self) -> list[Step]:
        stack = self.settings.stack
        plan = [
            ("render", f"Render the {stack} stack's resource graph", self.render),
            ("emulator", "Start the emulator: keys, buckets, registry, roles", self.start_emulator),
            ("production", "Production v1: train, sign, register, approve", self.build_production),
            ("train", "Train the candidate: SageMaker spot job, interrupted", self.train_candidate),
            ("validate", "Validate against production: gates, drift", self.validate_candidate),
            ("sign", "Sign the candidate with the KMS key", self.sign_candidate),
            ("register", "Register the candidate, pending approval", self.register_candidate),
            ("approve", "Approve the candidate (another identity)", self.approve_candidate),
            ("plan", "Plan the release PR: diff, provenance", self.plan_release),
            ("audit", "Audit: policy pack, provenance evidence", self.audit_release),
            ("canary", "Deploy: verify; canary rehearsal: promote", self.canary_promote),
            ("rollback", "Canary rehearsal, faulty candidate: roll back", self.canary_rollback),
            ("monitor", "Drift monitor over captured requests", self.monitor_drift),
        ]
        for target in load_stack(stack, self.root).promotes_to:
            to = target.stack
            plan += [
                ("promote", f"Promote to {to}, its own account (gh-promote)", self.promote),
                ("approve-target", f"Approve in {to} (its approver)", self.approve_promoted),
                ("verify-target", f"Deploy {to}: verify, pulumi up, watch", self.verify_promoted),
            ]
        return [Step(name, title, run) for name, title, run in plan]

    # ---- steps ------------------------------------------------------------------------

    def render(self, progress: Progress) -> str:
        from ml.reports.core import dumps, write_text_atomic

        stack = self.settings.stack
        self.params = load_params(self.settings.params)
        if self.model_name not in load_stack(stack, self.root).served_models:
            raise MlopsError(
                f"stack {stack} serves no version of {self.model_name}; the demo releases a "
                "new version of a model the stack already serves"
            )
        document = self.load_graph()
        path = self.out / "graph" / f"{stack}.json"
        write_text_atomic(path, dumps(document))
        self.link("Infrastructure", f"Resource graph of {stack} (JSON)", path)
        routing = self.cfg.serving.traffic_routing
        return (
            f"{len(self.graph.resources)} resources; serves {self.model_name} "
            f"v{self.cfg.served_models[self.model_name]}; {routing.type} traffic routing"
        )

    def load_graph(self) -> dict[str, Any]:
        """The stack's config and rendered graph (what `start_emulator` bootstraps)."""
        from infra.offline import render_graph

        self.cfg = load_stack(self.settings.stack, self.root)
        document = render_graph(self.settings.stack, self.root)
        self.graph = Graph.from_json(document)
        return document

    def start_emulator(self, progress: Progress) -> str:
        from ml import aws
        from ml.emulator import Emulator, bootstrap_stack, emulated_environment
        from ml.reports.core import dumps, write_text_atomic

        assert self.cfg is not None and self.graph is not None
        from ml.emulator.drill import Drill, apply_drill

        drill = Drill.parse(self.settings.drill_deny) if self.settings.drill_deny else None
        emulator = self.exits.enter_context(
            Emulator(self.settings.port, self.cfg.region, enforce_iam=self.settings.enforce_iam)
        )
        self.emulator = emulator
        self.exits.enter_context(emulated_environment(emulator))
        progress.note(f"emulator at {emulator.endpoint_url}")
        self.clients = {name: aws.client(name) for name in ("kms", "s3", "sagemaker", "iam")}
        self.emulated = bootstrap_stack(self.graph, **self.clients)
        self.clients["cloudwatch"] = aws.client("cloudwatch")
        if drill is not None:
            apply_drill(
                drill,
                self.emulated,
                iam=self.clients["iam"],
                kms=self.clients["kms"],
                s3=self.clients["s3"],
            )
            self.facts["drill_deny"] = f"{drill.role}:{drill.action}"
        self.clients["sts"] = aws.client("sts")
        administrator = self.clients["sts"].get_caller_identity()["Arn"]
        self.facts["administrator"] = administrator
        outputs = self.emulated.outputs()
        path = self.out / "emulator" / "stack-outputs.json"
        write_text_atomic(path, dumps({"endpoint_url": emulator.endpoint_url, **outputs}))
        self.link("Infrastructure", "Emulated stack outputs (JSON)", path)
        self.facts["endpoint_url"] = emulator.endpoint_url
        return (
            f"{emulator.endpoint_url}: keys {self.emulated.data_key_alias}, "
            f"{self.emulated.signing_key_alias}; {len(self.emulated.buckets)} buckets; "
            f"group {', '.join(self.emulated.model_package_groups)}; "
            f"{len(self.emulated.roles)} roles"
        )

    def build_production(self, progress: Progress) -> str:
        """What serves today: a model trained, signed and approved before this release."""
        from ml.training.local import run_local
        from ml.training.snapshot import prepare_snapshot

        assert self.params is not None and self.cfg is not None
        progress.note("generating the data snapshot")
        snapshot = prepare_snapshot(self.params.data, self.work / "data")
        self.data_dir, self.data_hash = snapshot.root, snapshot.training_data_hash
        older = self.params.model_copy(
            update={
                "train": self.params.train.model_copy(update={"num_boost_round": PRODUCTION_ROUNDS})
            }
        )
        progress.note(f"training v1 ({PRODUCTION_ROUNDS} rounds)")
        record = run_local(older, self.work / "production", self.data_dir, fresh=True)
        self.production = Path(record.artifact)
        progress.note("validating v1 (absolute gates: there is nothing older)")
        result, validation = self._validate(self.production, None, "production/validation")
        self.link_report("Production model v1", "Validation of v1 (first release)", validation)
        if not result.passed:
            failed = "; ".join(gate.message for gate in result.failed)
            raise MlopsError(f"production v1 fails its absolute gates: {failed}", exit_code=1)
        with self.acting_as("release", "production", "sign and register v1", *REGISTER) as aws:
            self._sign(aws, self.production, "local-demo-production-v1")
            progress.note("registering v1")
            self.production_version = self._register(
                aws, self.production, validation.json, record.registry_values()
            )
        with self.acting_as("approve", "production", "approve v1", "sagemaker", "sts") as aws:
            self._approve(aws, self.production_version, "production model v1")
        served = self.cfg.served_models[self.model_name]
        if self.production_version != served:
            raise MlopsError(
                f"production registered as version {self.production_version}, but "
                f"Pulumi.{self.settings.stack}.yaml serves v{served}; the demo needs an empty "
                "registry (a fresh emulator)"
            )
        self.facts["production_version"] = self.production_version
        return (
            f"{self.group} v{self.production_version} Approved; the stack file serves "
            f"v{served} ({PRODUCTION_ROUNDS} rounds, {record.training_time_seconds:.1f}s)"
        )

    def train_candidate(self, progress: Progress) -> str:
        """What CI's build job does (`mlops train --sagemaker`, as gh-build): upload the
        channels, launch the managed spot job, wait, download the model. The emulator runs
        the job as the training role and reclaims its spot instance once, after the first
        checkpoint reached S3; the job resumes from its S3 checkpoints."""
        from ml import aws
        from ml.data.io import snapshot_of
        from ml.training.sagemaker import SpotJobSpec, train_on_sagemaker

        assert self.params is not None and self.data_dir is not None
        assert self.emulator is not None and self.emulator.training is not None
        jobs = self.emulator.training
        jobs.log_dir = self.out / "logs"
        jobs.interrupt_next_job(capacity_wait_seconds=SPOT_CAPACITY_WAIT_SECONDS)
        out = self.work / "candidate"
        shutil.rmtree(out, ignore_errors=True)
        with self.acting_as("build", "train", "launch the candidate's spot training job"):
            record = train_on_sagemaker(
                boto_session=aws.session(),
                params=self.params,
                spec=SpotJobSpec(image_uri=self._image("train")),
                stack=self._training_stack(),
                snapshot=snapshot_of(self.data_dir),
                out=out,
                poll_seconds=0.5,
                say=progress.note,
            )
        assert record.job_name is not None
        run = jobs.run(record.job_name)
        self.link("Candidate", "Training job log (both instances)", run.log)
        self.link("Candidate", "Training record (training.json)", out / "training.json")
        self.candidate, self.candidate_record = out / "model", record
        rounds = _model_card(self.candidate)["training"]["iterations"]
        resumed = record.resumed_from_iteration
        if run.interruptions != 1 or resumed is None:
            raise MlopsError(
                f"training job {record.job_name} was not interrupted and resumed "
                f"({run.interruptions} interruption(s), resumed from {resumed}); see {run.log}"
            )
        if rounds != self.params.train.num_boost_round:
            raise MlopsError(
                f"the resumed model has {rounds} boosting rounds; an uninterrupted run has "
                f"{self.params.train.num_boost_round}"
            )
        # The job's own calls are the execution role's (the emulator assumes it as SageMaker
        # does): recorded like the steps' identities, so the summary names every role.
        self.identities.append(
            Identity(
                "train",
                "the SageMaker training job (channels, checkpoints, model)",
                "training",
                self.emulated.roles["training"],
                run.caller_arn,
            )
        )
        self.facts.update(
            {
                "training_job": record.job_name,
                "training_role": run.caller_arn,
                "interrupted_at_round": resumed,
                "candidate_rounds": rounds,
                "training_seconds": record.training_time_seconds,
                "billable_seconds": record.billable_time_seconds,
                "spot_savings_percent": record.spot_savings_percent,
                "tracking_run_id": record.tracking.run_id if record.tracking else None,
            }
        )
        tracked = f"; MLflow run {record.tracking.run_id}" if record.tracking else ""
        return (
            f"job {record.job_name} as the training role: spot instance reclaimed after "
            f"round {resumed}, resumed from S3 checkpoints to {rounds}; training "
            f"{record.training_time_seconds:g}s, billable {record.billable_time_seconds:g}s, "
            f"spot savings {record.spot_savings_percent:g}%{tracked}"
        )

    def _image(self, tag: str) -> str:
        """The stack's ECR repository (from the graph) with `tag`."""
        assert self.graph is not None
        repositories = self.graph.of_type(ECR_REPOSITORY)
        return f"{repositories[0].outputs['repositoryUrl']}:{tag}" if repositories else tag

    def _served_image(self) -> str:
        """What CI registers a package with: the stack's repository at `mlops:image` (by
        digest where the stack file names one, as `mlops release verify` requires)."""
        assert self.graph is not None and self.cfg is not None
        (repository,) = self.graph.of_type(ECR_REPOSITORY)
        return f"{repository.outputs['repositoryUrl']}{self.cfg.image.reference}"

    def _training_stack(self) -> Any:
        """The stack outputs `mlops train --sagemaker` reads, from the emulated stack and,
        for a stack with a VPC, the graph's private subnets and training security group
        (the build role may only create jobs inside them)."""
        from ml.training.sagemaker import StackOutputs

        assert self.graph is not None and self.cfg is not None
        prefix = f"mlops-{self.settings.stack}-"
        return StackOutputs(
            artifact_bucket=self.emulated.artifact_bucket,
            data_bucket=self.emulated.buckets["data"],
            data_key_arn=self.emulated.data_key_arn,
            training_role_arn=self.emulated.roles["training"],
            environment=self.settings.stack,
            region=self.cfg.region,
            subnet_ids=tuple(
                str(r.id)
                for r in self.graph.of_type(SUBNET)
                if r.name.startswith(f"{prefix}private-")
            ),
            security_group_ids=tuple(
                str(r.id)
                for r in self.graph.of_type(SECURITY_GROUP)
                if r.name == f"{prefix}training-sg"
            ),
        )

    def validate_candidate(self, progress: Progress) -> str:
        from ml.drift.report import write_drift_reports

        assert self.candidate is not None and self.production is not None
        assert self.data_dir is not None
        production = self._fetch_production(progress)
        result, paths = self._validate(self.candidate, production, "validation")
        self.link_report("Candidate", "Validation against production", paths)
        drift = write_drift_reports(
            self.out / "validation",
            result.drift,
            reference=str(result.reference_path),
            current=str(self.data_dir / "train"),
        )
        self.link_report(
            "Candidate", "Drift of the training data vs the production reference", drift
        )
        if not result.passed:
            failed = "; ".join(gate.message for gate in result.failed)
            raise MlopsError(f"{len(result.failed)} gate(s) failed: {failed}", exit_code=1)
        assert result.production is not None
        c, p = result.candidate.metrics, result.production.metrics
        self.facts["validation_passed"] = True
        return (
            f"{len(result.gates)}/{len(result.gates)} gates passed; ROC AUC {c.roc_auc:.4f} vs "
            f"{p.roc_auc:.4f}, log loss {c.log_loss:.4f} vs {p.log_loss:.4f}; "
            f"{len(result.drift.drifted)} of {len(result.drift.features)} features drifted"
        )

    def sign_candidate(self, progress: Progress) -> str:
        from ml.provenance.kms import export_public_key_pem
        from ml.provenance.manifest import SIGNATURE_NAME
        from ml.provenance.service import verify_signed_artifact

        assert self.candidate is not None
        with self.acting_as("release", "sign", "sign the candidate", *SIGN) as aws:
            self._sign(aws, self.candidate, "local-demo-candidate")
            key, pem = export_public_key_pem(aws["kms"], self.emulated.signing_key_alias)
        key_path = self.out / "release" / "signing-public-key.pem"
        key_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.write_bytes(pem)
        self.link("Release", "Signing public key (PEM, for offline verification)", key_path)
        envelope = self.candidate / SIGNATURE_NAME
        offline = verify_signed_artifact(self.candidate, public_key=key_path)  # `mlops verify`
        shutil.copyfile(envelope, self.out / "release" / "candidate.dsse.json")
        self.link(
            "Release",
            "Candidate signature (DSSE envelope)",
            self.out / "release" / "candidate.dsse.json",
        )
        files = len(offline.statement["subject"]) if offline.statement else 0
        return (
            f"{files} files signed through KMS with {self.emulated.signing_key_alias} "
            f"({key.spec}); verified offline with the exported public key"
        )

    def register_candidate(self, progress: Progress) -> str:
        from ml.registry.packages import find_package

        assert self.candidate is not None and self.candidate_record is not None
        with self.acting_as("release", "register", "register the candidate", *REGISTER) as aws:
            self.candidate_version = self._register(
                aws,
                self.candidate,
                self.out / "validation" / "validation.json",
                self.candidate_record.registry_values(),
            )
            package = find_package(aws["sagemaker"], self.group, self.candidate_version)
        self.facts["candidate_version"] = self.candidate_version
        timing = ("training_minutes", "billable_minutes", "spot_savings_percent")
        recorded = {key: package.metadata.get(key) for key in timing}
        self.facts["candidate_training_in_registry"] = recorded
        self.facts["candidate_tracking_run_in_registry"] = package.metadata.get("tracking_run_id")
        return (
            f"{self.group} v{self.candidate_version} {package.approval_status}; model.tar.gz "
            f"and signature in s3://{self.emulated.artifact_bucket} (SSE-KMS); training "
            f"{recorded['training_minutes']} min, billable {recorded['billable_minutes']} min, "
            f"spot savings {recorded['spot_savings_percent']}%"
        )

    def approve_candidate(self, progress: Progress) -> str:
        """`mlops approve` by the approver, an identity that neither signed nor registered."""
        assert self.candidate_version is not None
        with self.acting_as(
            "approve", "approve", "approve the candidate", "sagemaker", "sts"
        ) as aws:
            package = self._approve(
                aws,
                self.candidate_version,
                "candidate: validation gates passed against production",
            )
        return (
            f"{self.group} v{package.version} {package.approval_status} by "
            f"{self.identities[-1].caller_arn}"
        )

    def plan_release(self, progress: Progress) -> str:
        """The release PR, on a copy of the stack file: what a reviewer sees on it."""
        from infra.offline import render_graph
        from ml.demo import plan
        from ml.release.prepare import prepare_release
        from ml.release.service import stack_verifier, trusted_source

        assert self.candidate_version is not None and self.graph is not None
        stack = self.settings.stack
        self.plan_root = self.out / "release-pr"
        self.plan_root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stack_file(stack, self.root), self.plan_root / f"Pulumi.{stack}.yaml")
        progress.note("mlops release: the checked edit")
        with self.acting_as("plan", "plan", "mlops release on the release PR", *VERIFY) as aws:
            cfg = load_stack(stack, self.plan_root)
            prepared = prepare_release(
                cfg,
                stack_file(stack, self.plan_root),
                model=self.model_name,
                version=self.candidate_version,
                sagemaker=aws["sagemaker"],
                s3=aws["s3"],
                verifier=stack_verifier(cfg, lambda: aws["kms"]),
                source=trusted_source(cfg, lambda: aws["kms"]),
            )
        edit = prepared.edit
        assert edit is not None, "the candidate is a new version"
        edit.write()
        release = self.out / "release"
        release.mkdir(parents=True, exist_ok=True)
        (release / "stack-file.diff").write_text(edit.diff(), encoding="utf-8")
        self.link("Release", f"Release PR: Pulumi.{stack}.yaml diff", release / "stack-file.diff")
        self.link("Release", f"Release PR: the edited Pulumi.{stack}.yaml (a copy)", edit.path)

        progress.note("mlops release verify")
        verification = self._verify("plan", "plan", "release verify on the release PR", "verify")

        progress.note("rendering the release's graph")
        self.release_document = render_graph(stack, self.plan_root)
        self.release_graph = Graph.from_json(self.release_document)
        changes = plan.graph_changes(self.graph, self.release_graph)
        self.plan_parts = (edit, verification, changes)
        self.facts["graph_changes"] = len(changes)
        return (
            f"{edit.changes[0]}; {verification.summary().split(': ', 1)[1]}; "
            f"{len(changes)} resource(s) change"
        )

    def audit_release(self, progress: Progress) -> str:
        """`mlops audit` of the release's graph (declared infrastructure only), and the
        auditor's own `mlops release verify` of what the PR deploys."""
        from ml.audit.service import audit_graph
        from ml.audit.sources import Source
        from ml.demo import plan

        assert self.release_document is not None and self.plan_parts is not None
        stack = self.settings.stack
        progress.note("provenance evidence, as the auditor")
        self._verify("audit", "audit", "verify provenance as evidence", "audit-verify")
        progress.note("policy pack and audit")
        titles = {"html": "HTML", "md": "Markdown", "json": "JSON", "sarif": "SARIF"}
        targets = {fmt: self.out / "audit" / f"{stack}.{fmt}" for fmt in titles}
        for fmt, target in targets.items():
            self.link("Release", f"Audit of the release's graph ({titles[fmt]})", target)
        run = audit_graph(self.release_document, Source("rendered"), targets, root=self.root)
        summary = run.summary
        edit, verification, changes = self.plan_parts
        comment = plan.release_comment(stack, edit, verification, changes, run.report)
        release = self.out / "release"
        (release / "plan.md").write_text(comment, encoding="utf-8")
        self.link(
            "Release",
            "Release PR comment: plan, provenance, policy pack (Markdown)",
            release / "plan.md",
        )
        self.facts["audit_status"] = summary["status"]
        return (
            f"policy pack pass ({summary['passed']} passed, {summary['advisories']} advisory, "
            f"{summary['waived']} waived); provenance verified by the auditor"
        )

    def canary_promote(self, progress: Progress) -> str:
        """The deploy job, as the deployer: `mlops release verify` again, the canary
        rehearsal on local servers (the traffic SageMaker would shift, measured), then
        `pulumi up` of the release on the emulated endpoint and `mlops release watch`."""
        progress.note("mlops release verify --require-idle, as the deployer")
        self._verify(
            "deploy", "canary", "release verify before deploy", "deploy", require_idle=True
        )
        progress.note("loading both models as the endpoint's inference role")
        self._load_as_endpoint()
        with self.acting_as("deploy", "canary", "deploy and watch the canary"):
            outcome = self._rehearse("canary-promote", fault=False, progress=progress)
        self.facts["canary_decision"] = outcome.decision
        if outcome.decision != "promoted":
            raise MlopsError(f"the candidate was rolled back: {outcome.reason}", exit_code=1)
        watched = self._deploy_and_watch("canary", fault=False, progress=progress)
        self._record_watch("watch.json", "Release watch after pulumi up (JSON)", watched)
        (endpoint,) = watched.watch.endpoints
        self.facts["watch_outcome"] = watched.outcome
        return (
            f"promoted after {outcome.duration:.1f}s: {outcome.reason}; pulumi up, then "
            f"release watch: {endpoint.endpoint} serves v{endpoint.serving_version}"
        )

    def canary_rollback(self, progress: Progress) -> str:
        """The faulty candidate's canary, rolled back; then its `pulumi up`, which SageMaker
        rolls back on the endpoint's alarm, and the revert PR `mlops release watch` proposes
        to the version the rollback lands on (the stack's previousVersion)."""
        from common.errors import CheckFailed

        assert self.plan_root is not None
        with self.acting_as("deploy", "rollback", "deploy and watch the faulty canary"):
            outcome = self._rehearse("canary-rollback", fault=True, progress=progress)
        self.facts["rollback_decision"] = outcome.decision
        if outcome.decision != "rolled back":
            raise MlopsError(
                f"the faulty candidate was {outcome.decision}, not rolled back: {outcome.reason}",
                exit_code=1,
            )
        try:
            watched = self._deploy_and_watch("rollback", fault=True, progress=progress)
        except CheckFailed as failed:
            watched = failed.result
        self.facts["rollback_watch_outcome"] = watched.outcome
        self._record_watch(
            "watch-rollback.json", "Release watch after the faulty pulumi up (JSON)", watched
        )
        proposal = watched.revert
        if watched.outcome != "rollback" or proposal is None:
            raise MlopsError(
                f"release watch saw {watched.outcome} after the faulty deploy, not a rollback "
                "with a revert to propose",
                exit_code=1,
            )
        if watched.revert_targets.get(self.model_name) != self.production_version:
            raise MlopsError(
                f"the endpoint rolled back to {watched.revert_targets}, not v"
                f"{self.production_version}: the release PR must keep it (previousVersion)"
            )
        edit = proposal.edit
        path = self.out / "release" / "revert-pr.md"
        path.write_text(f"# {proposal.title}\n\n{proposal.body()}", encoding="utf-8")
        self.link("Canary", "Revert PR the release watch proposes after the rollback", path)
        (endpoint,) = watched.watch.endpoints
        return (
            f"rolled back at {outcome.rolled_back_at or 0:.1f}s ({outcome.alarm or 'alarm'}); "
            f"pulumi up rolled back by SageMaker ({endpoint.failure_reason or 'alarm'}); "
            f"release watch proposes the revert PR: {edit.changes[0]}"
        )

    # ---- promotion into the next stack's account (staging -> prod) ---------------------

    def promote(self, progress: Progress) -> str:
        """Bootstrap the target stack in its own account (as `pulumi up` there would), then
        `mlops promote` the approved candidate as the target's `gh-promote`."""
        from infra.offline import render_graph
        from ml import aws
        from ml.emulator import bootstrap_stack
        from ml.emulator.bootstrap import in_account, promotion_peers
        from ml.registry.promote import PromotionTarget, promote, promotion_stacks

        assert self.cfg is not None and self.candidate_version is not None
        (target,) = self.cfg.promotes_to[:1]
        _, self.target_cfg = promotion_stacks(
            self.settings.stack, target.stack, self.model_name, self.root
        )
        graph = self.target_graph = Graph.from_json(render_graph(target.stack, self.root))
        progress.note(f"bootstrapping {target.stack} in account {target.account_id}")
        clients = {
            name: in_account(aws.client(name), target.account_id)
            for name in ("kms", "s3", "sagemaker", "iam")
        }
        self.target = bootstrap_stack(
            graph, **clients, peers=promotion_peers(self.target_cfg, self.emulated)
        )
        with self.acting_as(
            "promote", "promote", f"promote to {target.stack}", *REGISTER, on=self.target
        ) as a:
            result = promote(
                self.model_name,
                self.candidate_version,
                self._promotion_source(),
                PromotionTarget(
                    stack=target.stack,
                    group=self.target_cfg.model_group(self.model_name),
                    bucket=self.target.artifact_bucket,
                    kms_key_id=self.target.data_key_arn,
                    owner=self.target_cfg.owner,
                ),
                kms=a["kms"],
                s3=a["s3"],
                sagemaker=a["sagemaker"],
                sts=a["sts"],
            )
        package = result.package
        self.promoted_version = package.version
        self.facts["promoted"] = {
            "stack": target.stack,
            "account": self.target.account_id,
            "version": package.version,
            "status": package.approval_status,
            "source_package_arn": package.metadata.get("source_package_arn"),
        }
        return (
            f"{self.group} v{self.candidate_version} -> {package.group} v{package.version} "
            f"{package.approval_status} in account {self.target.account_id}"
        )

    def _promotion_source(self) -> Any:
        """What `mlops promote` reads from the target's `mlops:promotion`, in emulator ids."""
        from ml.emulator.bootstrap import promotion_peers
        from ml.registry.promote import promotion_source

        assert self.cfg is not None and self.target_cfg is not None
        peers = promotion_peers(self.target_cfg, self.emulated)
        return promotion_source(self.cfg, self.target_cfg, self.model_name, peers.__getitem__)

    def approve_promoted(self, progress: Progress) -> str:
        """`mlops approve --stack prod` by prod's approver, as for any package."""
        assert self.target_cfg is not None and self.promoted_version is not None
        group = self.target_cfg.model_group(self.model_name)
        with self.acting_as(
            "approve", "approve-target", "approve the promoted version", "sagemaker", "sts",
            on=self.target,
        ) as aws:  # fmt: skip
            package = self._approve(
                aws, self.promoted_version, "promoted from staging, watched healthy", group=group
            )
        return f"{group} v{package.version} {package.approval_status} by {package.approved_by}"

    def verify_promoted(self, progress: Progress) -> str:
        """`mlops release verify --require-idle --stack prod` as prod's deploy role: the
        promoted version verifies with the staging key prod trusts, bound to the staging
        package (the trusted source's ids are the emulated accounts'). Then prod's deploy
        job goes on: `pulumi up` creates prod's endpoint in prod's account and `mlops
        release watch` sees it serve the promoted version."""
        from ml.emulator.bootstrap import promotion_peers
        from ml.emulator.deployments import scaled
        from ml.emulator.rollout import apply
        from ml.release.service import stack_verifier, trusted_source, verify_release, watch_release

        assert self.target_cfg is not None and self.target is not None
        assert self.target_graph is not None
        declared = self.target_cfg.served_models.get(self.model_name)
        if declared != self.promoted_version:
            raise MlopsError(
                f"Pulumi.{self.target_cfg.environment}.yaml declares {self.model_name} "
                f"v{declared}, the promotion made v{self.promoted_version}"
            )
        peers = promotion_peers(self.target_cfg, self.emulated)
        with self.acting_as(
            "deploy", "verify-target", "verify the promoted version", *VERIFY, on=self.target
        ) as aws:
            kms = lambda: aws["kms"]  # noqa: E731
            result = verify_release(
                self.target_cfg,
                sagemaker=aws["sagemaker"],
                s3=aws["s3"],
                verifier=stack_verifier(self.target_cfg, kms, self.target.signing_key_arn),
                source=trusted_source(self.target_cfg, kms, peers.__getitem__),
                require_idle=True,
            )
        self.facts["target_verified"] = result.summary()
        stack = self.target_cfg.environment
        progress.note(f"pulumi up of {stack}, then mlops release watch, as its deployer")
        with (
            scaled(DEPLOY_TIME_SCALE),
            self.acting_as(
                "deploy", "verify-target", f"pulumi up and release watch in {stack}",
                "sagemaker", on=self.target,
            ) as aws,
        ):  # fmt: skip
            apply(aws["sagemaker"], self.target_graph, None, rewrite=self.target.rewrite())
            watched = watch_release(
                self.target_cfg,
                stack_file(stack, self.root),
                sagemaker=aws["sagemaker"],
                poll_seconds=0.05,
            )
        self._record_watch(f"watch-{stack}.json", f"Release watch in {stack} (JSON)", watched)
        (endpoint,) = watched.watch.endpoints
        self.facts["target_watch_outcome"] = watched.outcome
        return f"{result.summary()}; {endpoint.endpoint} serves v{endpoint.serving_version}"

    def monitor_drift(self, progress: Progress) -> str:
        """The scheduled drift monitor: `mlops drift` on what the endpoint captured, as
        the monitor role, reading the reference and the capture from S3."""
        import polars as pl

        from ml import aws
        from ml.drift.capture import write_capture_jsonl
        from ml.drift.monitor import Inputs, raise_on_drift, run_drift
        from ml.drift.window import NoNewCaptures

        assert self.data_dir is not None and self.emulated is not None
        buckets = self.emulated.buckets
        reference_folder = dataset_prefix(self.model_name, "reference").rstrip("/")
        # What training and the endpoint's data capture wrote, put there as the
        # administrator: the reference sample with its schema, and captured requests.
        reference = self.data_dir / "reference"
        for path in sorted(p for p in reference.iterdir() if p.is_file()):  # + stored stats
            self._put(buckets["data"], f"{reference_folder}/{path.name}", path)
        features = pl.read_csv(reference / "reference.csv", n_rows=1).columns
        held_out = pl.read_csv(self.data_dir / "validation" / "validation.csv")
        requests = held_out.select(features).head(CAPTURED_REQUESTS)
        capture = write_capture_jsonl(requests, self.work / "capture" / "capture.jsonl")
        captured = capture_prefix(f"mlops-{self.settings.stack}-{self.model_name}")
        self._put(buckets["capture"], f"{captured}2026/01/01/00/capture.jsonl", capture)
        out = self.out / "monitor"
        progress.note(f"{requests.height} captured requests vs the reference")
        inputs = Inputs(
            reference=f"s3://{buckets['data']}/{reference_folder}/reference.csv",
            current=s3_uri(buckets["capture"], captured),
            new_only=True,
            publish=True,
        )
        with self.acting_as("monitor", "monitor", "drift over captured requests"):
            run = run_drift(inputs, out, lambda: aws.client("s3"), lambda: aws.client("cloudwatch"))
            raise_on_drift(run.result.drifted, len(run.result.features), run.paths.markdown)
            # the next scheduled run: nothing captured since, so nothing read or reported
            with suppress(NoNewCaptures):
                run_drift(inputs, self.work / "monitor-again", lambda: aws.client("s3"))
        if (self.work / "monitor-again").exists():
            raise MlopsError("the second monitor run read captures the first had read", 1)
        self.link_report("Monitoring", "Drift of captured requests vs the reference", _paths(out))
        return (
            f"{requests.height} captured requests: no drift ({len(features)} features), "
            "DriftedFeatures 0 published; a second run found nothing new after the marker"
        )

    # ---- shared by the steps ------------------------------------------------------------

    def _put(self, bucket: str, key: str, path: Path) -> None:
        from ml.artifacts import sse_kms_arguments

        self.clients["s3"].put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            **sse_kms_arguments(self.emulated.data_key_arn),
        )

    def _verify(
        self, duty: str, step: str, action: str, report: str, *, require_idle: bool = False
    ) -> Any:
        """`mlops release verify [--require-idle] --report` of the release PR's stack file,
        as `duty`; fails the step as the command fails."""
        from ml.release.service import stack_verifier, trusted_source, verify_release

        assert self.plan_root is not None
        path = self.out / "release" / f"{report}.md"
        self.link("Release", f"mlops release verify as {duty} (Markdown)", path)
        cfg = load_stack(self.settings.stack, self.plan_root)
        with self.acting_as(duty, step, action, *VERIFY) as aws:
            return verify_release(
                cfg,
                sagemaker=aws["sagemaker"],
                s3=aws["s3"],
                verifier=stack_verifier(cfg, lambda: aws["kms"]),
                source=trusted_source(cfg, lambda: aws["kms"]),
                require_idle=require_idle,
                report=path,
            )

    def _validate(self, candidate: Path, production: Path | None, folder: str) -> tuple[Any, Any]:
        """`mlops validate`: (the result, its report paths under `<out>/<folder>`)."""
        from ml.training.record import training_run_of
        from ml.validation.report import write_validation_reports
        from ml.validation.run import validate

        assert self.params is not None and self.data_dir is not None
        result = validate(candidate, production, self.data_dir, self.params)
        run = training_run_of(candidate)
        return result, write_validation_reports(self.out / folder, result, run)

    def _sign(self, aws: dict[str, Any], artifact: Path, job_name: str) -> None:
        """What `mlops sign --stack` does in CI, with the signature inside the artifact: the
        statement names this model, stack, group and the version it will become."""
        from ml.provenance.builder import build_provenance
        from ml.provenance.kms import KmsSigner
        from ml.provenance.manifest import SIGNATURE_NAME
        from ml.provenance.sign import read_model_card, sign_to_file
        from ml.registry.identity import caller_arn
        from ml.registry.packages import next_version

        (artifact / SIGNATURE_NAME).unlink(missing_ok=True)
        provenance = build_provenance(
            read_model_card(artifact),
            git_commit=_git_commit(self.root),
            training_job_name=job_name,
            builder_id="local:mlops-demo",
            model=self.model_name,
            stack=self.settings.stack,
            model_package_group=self.group,
            version=next_version(aws["sagemaker"], self.group),
            signed_by=caller_arn(aws["sts"]),
        )
        signer = KmsSigner.for_key(aws["kms"], self.emulated.signing_key_alias)
        sign_to_file(artifact, signer, artifact / SIGNATURE_NAME, provenance)

    def _register(
        self,
        aws: dict[str, Any],
        artifact: Path,
        validation: Path,
        training: dict[str, float | None],
    ) -> int:
        """What `mlops register --training-record` does in CI; returns the package version."""
        from ml.registry.publish import RegistryTarget, publish_and_register, read_validation_report

        assert self.graph is not None and self.cfg is not None
        target = RegistryTarget(
            group=self.group,
            owner=self.cfg.owner,
            image=self._served_image(),
            bucket=self.emulated.artifact_bucket,
            kms_key_id=self.emulated.data_key_arn,
            signing_key_id=self.emulated.signing_key_alias,
            model=self.model_name,
            stack=self.settings.stack,
        )
        published = publish_and_register(
            artifact,
            target,
            kms=aws["kms"],
            s3=aws["s3"],
            sagemaker=aws["sagemaker"],
            validation=read_validation_report(validation),
            sts=aws["sts"],
            **training,
        )
        return published.package.version

    def _approve(
        self, aws: dict[str, Any], version: int, reason: str, group: str | None = None
    ) -> Any:
        """What `mlops approve` does: records the caller, refuses the signer or registrar."""
        from ml.registry.identity import caller_arn
        from ml.registry.packages import approve

        return approve(
            aws["sagemaker"],
            group or self.group,
            version,
            f"mlops demo: {reason}",
            approved_by=caller_arn(aws["sts"]),
        )

    def _fetch_production(self, progress: Progress) -> Path:
        """What the build job runs before validating (`mlops release fetch`): the model the
        stack serves, from the registry, verified, as `gh-build`."""
        from ml.release.fetch import fetch_serving_model
        from ml.release.service import stack_verifier

        assert self.cfg is not None
        progress.note("mlops release fetch: the served model, verified, as gh-build")
        out = self.work / "served-production"
        with self.acting_as("build", "validate", "fetch the served model", *VERIFY) as aws:
            fetch_serving_model(
                self.cfg,
                self.model_name,
                out,
                sagemaker=aws["sagemaker"],
                s3=aws["s3"],
                verifier=stack_verifier(self.cfg, lambda: aws["kms"]),
            )
        return out

    def _load_as_endpoint(self) -> None:
        """What SageMaker does when `pulumi up` creates the endpoint's models: the registered
        `ModelDataUrl` (read by the deployer, as Pulumi does) is downloaded with the model's
        execution role, `inference`; the canary then serves exactly those bytes, and the
        server verifies their signature before it reports healthy."""
        import tarfile

        from ml.artifacts import download_file, parse_s3_uri
        from ml.registry.packages import find_package

        versions = {"production": self.production_version, "candidate": self.candidate_version}
        with self.acting_as("deploy", "canary", "read the models' data URLs", "sagemaker") as aws:
            urls = {
                role: find_package(aws["sagemaker"], self.group, version).model_data_url
                for role, version in versions.items()
                if version is not None
            }
        with self.acting_as("inference", "endpoint", "load the served models", "s3") as aws:
            for role, url in urls.items():
                if not url:
                    raise MlopsError(f"{self.group} {role}: the registry records no model data")
                tarball = download_file(
                    aws["s3"], parse_s3_uri(url), self.work / "endpoint" / f"{role}.tar.gz"
                )
                target = self.work / "endpoint" / role
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True)
                with tarfile.open(tarball, "r:gz") as archive:
                    archive.extractall(target, filter="data")
                self.served[role] = target

    def _deploy_and_watch(self, step: str, *, fault: bool, progress: Progress) -> Any:
        """The deploy job's `pulumi up` of the release PR's graph and its `mlops release
        watch`, as the deployer, on the emulated endpoint: a blue/green update with the
        stack's traffic routing, its waits compressed (`DEPLOY_TIME_SCALE`). The endpoint
        first serves production as the last release left it (set up as the administrator).
        With `fault`, the endpoint's rollback alarm fires during the update, so SageMaker
        shifts the traffic back and the watch proposes the revert. Returns the watch's
        `WatchResult`; a rollback raises its `CheckFailed` (the result in `.result`)."""
        from ml.emulator.deployments import scaled
        from ml.emulator.rollout import create_rollback_alarms, rollback_alarm_names

        assert self.graph is not None and self.release_graph is not None
        alarms = rollback_alarm_names(self.release_graph)
        if fault and not alarms:
            raise MlopsError(
                f"stack {self.settings.stack} has no rollback alarm on its endpoint: nothing "
                "would roll a faulty candidate back"
            )
        cloudwatch = self.clients["cloudwatch"]
        if self.serving_state is None:
            create_rollback_alarms(cloudwatch, self.graph)

        # the faulty candidate fails requests: its error alarm fires (as in the rehearsal)
        fired = next((name for name in alarms if "error" in name), alarms[0] if alarms else "")

        def alarm(state: str) -> None:
            cloudwatch.set_alarm_state(
                AlarmName=fired, StateValue=state, StateReason="demo: the faulty candidate"
            )

        try:
            with scaled(DEPLOY_TIME_SCALE):
                return self._up_and_watch(step, fault, alarm, progress)
        finally:
            if fault:
                alarm("OK")

    def _record_watch(self, name: str, title: str, watched: Any) -> None:
        """What `mlops release watch --report` writes, linked from the Canary section."""
        from ml.reports.core import dumps, write_text_atomic

        path = self.out / "release" / name
        write_text_atomic(path, dumps(watched.watch.to_json()))
        self.link("Canary", title, path)

    def _up_and_watch(
        self, step: str, fault: bool, alarm: Callable[[str], None], progress: Progress
    ) -> Any:
        from ml.emulator.rollout import apply
        from ml.release.service import watch_release

        assert self.graph is not None and self.release_graph is not None
        assert self.plan_root is not None
        rewrite = self.emulated.rewrite()
        if self.serving_state is not self.graph:
            progress.note(f"endpoint serving v{self.production_version}, as the last release left")
            apply(self.clients["sagemaker"], self.graph, self.serving_state, rewrite=rewrite)
            self.serving_state = self.graph
        stack = self.settings.stack
        released = load_stack(stack, self.plan_root)
        progress.note("pulumi up of the release, then mlops release watch, as the deployer")
        with self.acting_as(
            "deploy", step, "pulumi up and mlops release watch", "sagemaker"
        ) as clients:
            apply(
                clients["sagemaker"],
                self.release_graph,
                self.serving_state,
                on_updating=(lambda: alarm("ALARM")) if fault else (lambda: None),
                rewrite=rewrite,
            )
            self.serving_state = self.release_graph
            return watch_release(
                released,
                stack_file(stack, self.plan_root),
                sagemaker=clients["sagemaker"],
                poll_seconds=0.05,
            )

    def _rehearse(self, name: str, *, fault: bool, progress: Progress) -> Any:
        from ml.canary.runner import rehearse, validated

        assert self.plan_root is not None
        drill = {"error_percent": self.settings.fault_error_percent} if fault else {}
        settings = validated(
            stack=self.settings.stack,
            root=self.plan_root,
            production=self.served.get("production", self.production),
            candidate=self.served.get("candidate", self.candidate),
            out=self.out / name,
            rehearsal_seconds=self.settings.canary_seconds,
            key_id=self.emulated.signing_key_alias,
            drill=drill,
        )
        fault_note = f" failing {self.settings.fault_error_percent:g}%" if fault else ""
        progress.note(
            f"v{self.production_version} vs v{self.candidate_version}{fault_note}, "
            f"{self.settings.canary_seconds:g}s of baking"
        )
        result = rehearse(settings)
        title = "Faulty candidate" if fault else "Candidate"
        self.link_report("Canary", f"{title}: canary rehearsal", result.paths)
        for role in ("production", "candidate"):
            self.link(
                "Canary", f"{title}: {role} server log", self.out / name / "logs" / f"{role}.log"
            )
        return result.outcome


def _raise_first_denial(before: int, error: BaseException | None) -> None:
    """A call IAM enforcement denied inside the block stops the step, naming it."""
    from ml.emulator.iam import LEDGER

    if len(LEDGER.denials) > before:
        raise MlopsError(LEDGER.denials[before].line(), exit_code=1) from error


def _paths(folder: Path) -> Any:
    """The three renderings `write_drift_reports` writes into `folder`."""
    from ml.reports import ReportPaths

    return ReportPaths(
        markdown=folder / "drift.md", json=folder / "drift.json", html=folder / "drift.html"
    )


def _model_card(artifact: Path) -> dict[str, Any]:
    import json

    return json.loads((artifact / "model.json").read_text(encoding="utf-8"))


def _git_commit(root: Path) -> str:
    """HEAD of the checkout the demo runs in; zeros outside a git checkout (said so in
    the provenance's builder, never mistaken for a real commit by a reviewer)."""
    from ml.provenance.builder import git_head

    return git_head(root) or "0" * 40
