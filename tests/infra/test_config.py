"""Stack config: every shipped stack validates; each kind of mistake is one clear line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import STACKS, ConfigError, load_stack, parse_stack_config
from infra.graph import Graph

BASE = {
    "aws:region": "eu-west-1",
    "mlops:environment": "dev",
    "mlops:owner": "ml-platform",
    "mlops:github": {"org": "acme", "repo": "mlops-gitops", "deployEnvironment": "dev"},
    "mlops:iam": {"auditorPrincipalArns": ["arn:aws:iam::111122223333:user/auditor"]},
}


def _error_for(overrides: dict, drop: tuple[str, ...] = ()) -> str:
    values = {k: v for k, v in {**BASE, **overrides}.items() if k not in drop}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values)
    return str(caught.value)


@pytest.mark.parametrize("stack", STACKS)
def test_load_stack_shipped_file_validates(repo_root: Path, stack: str) -> None:
    cfg = load_stack(stack, repo_root)
    assert cfg.environment == stack, f"Pulumi.{stack}.yaml must declare environment {stack}"


def test_load_stack_prod_differs_where_environments_differ(repo_root: Path) -> None:
    dev, prod = load_stack("dev", repo_root), load_stack("prod", repo_root)
    assert prod.buckets.artifact_object_lock.enabled, "prod must lock model artifacts (WORM)"
    assert not dev.buckets.artifact_object_lock.enabled, "dev must stay cheap to tear down"
    assert prod.audit_trail.enabled and prod.network.enabled, "prod needs a VPC and a trail"
    assert prod.serving.initial_instance_count >= 2, "prod serves from two instances or more"
    assert (
        prod.buckets.noncurrent_version_expiration_days
        > dev.buckets.noncurrent_version_expiration_days
    ), "prod keeps old versions longer than dev"


def test_parse_missing_required_key_names_it() -> None:
    message = _error_for({}, drop=("mlops:owner",))
    assert message == "mlops:owner: required key is missing; add it to the stack file", message


def test_parse_wrong_type_names_key_value_and_expectation() -> None:
    message = _error_for({"mlops:kms": {"deletionWindowDays": "thirty"}})
    assert message.startswith('mlops:kms.deletionWindowDays: invalid value "thirty"'), message
    assert "integer" in message, f"the message should say an integer is expected: {message}"


def test_parse_value_out_of_range_says_what_is_allowed() -> None:
    message = _error_for({"mlops:buckets": {"abortIncompleteMultipartDays": 0}})
    assert "mlops:buckets.abortIncompleteMultipartDays: invalid value 0" in message, message
    assert "greater than or equal to 1" in message, message


def test_parse_unknown_key_is_reported_as_a_typo() -> None:
    message = _error_for({"mlops:bukets": {}})
    assert message.startswith("mlops:bukets: unknown key"), message


def test_parse_unknown_nested_key_is_reported_with_its_path() -> None:
    message = _error_for({"mlops:network": {"enabled": True, "cidr": "10.0.0.0/16"}})
    assert message.startswith("mlops:network.cidr: unknown key"), message


def test_parse_enum_value_lists_the_allowed_ones() -> None:
    message = _error_for({"mlops:environment": "production"})
    assert 'mlops:environment: invalid value "production"' in message, message
    assert "'dev', 'staging' or 'prod'" in message, message


def test_parse_public_cidr_is_refused() -> None:
    message = _error_for({"mlops:network": {"enabled": True, "cidrBlock": "8.8.0.0/16"}})
    assert "private IPv4 CIDR" in message, message


def test_parse_prod_without_object_lock_is_refused() -> None:
    message = _error_for(
        {"mlops:environment": "prod", "mlops:serving": {"initialInstanceCount": 2}}
    )
    assert "artifactObjectLock.enabled must be true in prod" in message, message


def test_parse_flow_log_retention_must_be_a_cloudwatch_period() -> None:
    message = _error_for({"mlops:network": {"flowLogRetentionDays": 100}})
    assert "mlops:network.flowLogRetentionDays: invalid value 100" in message, message


def test_load_stack_unknown_name_lists_the_stacks(repo_root: Path) -> None:
    with pytest.raises(ConfigError, match="unknown stack 'qa': choose one of dev, staging, prod"):
        load_stack("qa", repo_root)


def test_load_stack_malformed_yaml_gives_the_line(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: [eu-west-1\n")
    with pytest.raises(ConfigError, match=r"malformed YAML at line \d+"):
        load_stack("dev", tmp_path)


def _mlops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("mlops")
    return subprocess.run(
        [str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_bad_stack_file_prints_one_line_and_exits_nonzero(
    tmp_path: Path, repo_root: Path
) -> None:
    text = (repo_root / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.dev.yaml").write_text(
        text.replace("deletionWindowDays: 30", "deletionWindowDays: 90")
    )
    result = _mlops("infra", "render", "--stack", "dev", "--out", "g.json", cwd=tmp_path)
    assert result.returncode == 2, f"expected exit 2, got {result.returncode}: {result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr}"
    assert "mlops:kms.deletionWindowDays: invalid value 90" in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout, "no traceback for a config error"
    assert not (tmp_path / "g.json").exists(), "nothing is written for an invalid stack"


def test_pulumi_program_invalid_config_raises_run_error(tmp_path: Path, repo_root: Path) -> None:
    # The program itself (what `pulumi up` runs) refuses a bad config before declaring anything.
    shutil.copy(repo_root / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    import pulumi
    from pulumi.runtime.config import set_all_config

    from infra.stack import require_stack_config

    set_all_config({"aws:region": "eu-west-1", "mlops:environment": "qa"})
    try:
        with pytest.raises(pulumi.RunError, match="invalid stack config: mlops:environment"):
            require_stack_config()
    finally:
        set_all_config({})


def test_parse_previous_version_equal_to_version_is_one_line_naming_the_key() -> None:
    message = _error_for({"mlops:models": {"churn": {"version": 2, "previousVersion": 2}}})
    assert "previousVersion 2 equals version" in message and "\n" not in message, message


def test_parse_previous_version_without_version_is_refused() -> None:
    message = _error_for({"mlops:models": {"churn": {"previousVersion": 2}}})
    assert "previousVersion needs a version" in message, message


# ---- Refused before apply: what AWS (or the program) would reject only at `pulumi up` ----


def _network(cidr: str, zones: int) -> dict:
    return {"mlops:network": {"enabled": True, "cidrBlock": cidr, "availabilityZoneCount": zones}}


def test_parse_slash_20_vpc_with_three_zones_is_refused_with_the_size_needed() -> None:
    # Given a /20 VPC (room for one /20 private subnet) and three availability zones,
    message = _error_for(_network("10.0.0.0/20", 3))
    # then validation names the key and the size that fits three /20 subnets.
    assert message == (
        "mlops:network.cidrBlock 10.0.0.0/20 holds 1 private /20 subnet(s) but "
        "availabilityZoneCount is 3 (one subnet per zone): use a /18 or larger, or fewer zones"
    ), message


def test_parse_slash_19_vpc_with_three_zones_is_refused_but_two_zones_fit() -> None:
    # Given a /19 (two /20 subnets): three zones do not fit, two do.
    assert "use a /18 or larger" in _error_for(_network("10.0.0.0/19", 3))
    cfg = parse_stack_config({**BASE, **_network("10.0.0.0/19", 2)})
    assert cfg.network.cidr_block == "10.0.0.0/19", "a /19 holds two /20 subnets"


@pytest.mark.parametrize("zones", [2, 3])
def test_parse_slash_16_vpc_is_accepted_for_every_zone_count(zones: int) -> None:
    cfg = parse_stack_config({**BASE, **_network("10.0.0.0/16", zones)})
    assert cfg.network.availability_zone_count == zones, "a /16 holds sixteen /20 subnets"


def test_render_smallest_accepted_network_gets_one_slash_20_subnet_per_zone(
    repo_root: Path, tmp_path: Path
) -> None:
    # Given prod with a /18 and three zones (the smallest VPC validation accepts for three),
    import yaml

    from infra.offline import render_graph

    document = yaml.safe_load((repo_root / "Pulumi.prod.yaml").read_text(encoding="utf-8"))
    document["config"]["mlops:network"].update(cidrBlock="10.9.0.0/18", availabilityZoneCount=3)
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    shutil.copy(repo_root / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    # when the program renders it (no IndexError), then it declares three /20s inside it.
    graph = Graph.from_json(render_graph("prod", tmp_path))
    subnets = sorted(r.inputs["cidrBlock"] for r in graph.of_type("aws:ec2/subnet:Subnet"))
    assert subnets == ["10.9.0.0/20", "10.9.16.0/20", "10.9.32.0/20"], subnets


def test_parse_reserved_aws_tag_prefix_is_refused() -> None:
    message = _error_for({"mlops:tags": {"aws:team": "ml"}})
    assert message == "mlops:tags.aws:team: the aws: prefix is reserved; rename the tag", message


def test_parse_more_tags_than_aws_allows_per_resource_is_refused() -> None:
    # Given 46 extra tags (AWS takes 50 per resource, the program adds 5 of its own),
    message = _error_for({"mlops:tags": {f"team{i}": "ml" for i in range(46)}})
    assert message.startswith("mlops:tags: 46 tags, at most 45 allowed"), message


def test_parse_tag_value_longer_than_256_characters_is_refused() -> None:
    message = _error_for({"mlops:tags": {"team": "m" * 257}})
    assert message.startswith("mlops:tags.team: invalid value"), message
    assert "at most 256 characters" in message, message


def test_parse_tag_key_with_a_character_aws_refuses_is_refused() -> None:
    message = _error_for({"mlops:tags": {"cost#center": "ml"}})
    assert message.startswith('mlops:tags.cost#center.[key]: invalid value "cost#center"'), message


def test_parse_permissions_boundary_that_is_not_a_policy_arn_is_refused() -> None:
    iam = {"auditorPrincipalArns": ["arn:aws:iam::111122223333:user/auditor"]}
    message = _error_for({"mlops:iam": {**iam, "permissionsBoundaryArn": "mlops-boundary"}})
    assert message.startswith('mlops:iam.permissionsBoundaryArn: invalid value "mlops-boundary"'), (
        message
    )


# ---- The image: by digest outside dev --------------------------------------------------

DIGEST = "sha256:" + "ab" * 32


def _stack(environment: str, **extra: object) -> dict:
    values = {**BASE, "mlops:environment": environment, **extra}
    if environment == "prod":
        values |= {
            "mlops:buckets": {"artifactObjectLock": {"enabled": True}},
            "mlops:serving": {"initialInstanceCount": 2},
            "mlops:alerts": {"emails": ["ml-oncall@example.com"]},
        }
    return values


@pytest.mark.parametrize("image", [{"tag": "latest-release"}, None], ids=["tag", "missing"])
def test_parse_prod_without_an_image_digest_is_refused(image: dict | None) -> None:
    # Given a prod stack file whose image is a tag (or not named at all)
    extra = {"mlops:image": image} if image else {}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(_stack("prod", **extra))
    # Then one line names the key and what to set
    assert str(caught.value).startswith(
        "mlops:image.digest: prod runs its image by digest; set mlops:image.digest"
    ), caught.value


def test_parse_prod_with_an_image_digest_is_accepted() -> None:
    cfg = parse_stack_config(_stack("prod", **{"mlops:image": {"digest": DIGEST}}))
    assert cfg.image.reference == "@" + DIGEST, cfg.image


@pytest.mark.parametrize("environment", ["dev", "staging"])
def test_parse_dev_and_staging_may_name_their_image_by_tag(environment: str) -> None:
    cfg = parse_stack_config(_stack(environment, **{"mlops:image": {"tag": "my-branch"}}))
    assert cfg.image.reference == ":my-branch", cfg.image


def test_parse_image_digest_that_is_not_sha256_hex_is_refused() -> None:
    message = _error_for({"mlops:image": {"digest": "sha256:ABC"}})
    assert message.startswith('mlops:image.digest: invalid value "sha256:ABC"'), message


def test_parse_image_with_both_digest_and_tag_is_refused() -> None:
    message = _error_for({"mlops:image": {"digest": DIGEST, "tag": "v1"}})
    assert message.startswith("mlops:image.digest and tag: name the image by one of them"), message


def test_parse_prod_kubernetes_image_override_by_tag_is_refused() -> None:
    # Given prod by digest, when the cluster's image override is a tag (an attacker's
    # or a hurried edit that would run whatever that tag points to),
    kubernetes = {
        "enabled": True,
        "image": "r/x:latest",
        "oidcIssuerUrl": "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
        "fetchEgressCidrs": ["10.60.0.0/24"],
    }
    serving = {"initialInstanceCount": 2, "kubernetes": kubernetes}
    values = _stack("prod", **{"mlops:image": {"digest": DIGEST}})
    values["mlops:serving"] = serving
    values["mlops:models"] = {"churn-classifier": {"version": 1}}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values)
    assert str(caught.value).startswith(
        "mlops:serving.kubernetes.image: prod runs images by digest (found 'r/x:latest')"
    ), caught.value


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stack_files_carry_the_replace_me_digest(repo_root: Path, stack: str) -> None:
    # The shipped files pass validation with a placeholder that says to replace it.
    text = (repo_root / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    assert "digest: sha256:" + "0" * 64 in text and "REPLACE" in text, stack


KEY = "arn:aws:kms:eu-west-1:222233334444:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_parse_promotion_from_the_stack_itself_is_refused() -> None:
    message = _error_for(
        {
            "mlops:promotion": {
                "fromStack": "dev",
                "sourceAccountId": "222233334444",
                "trustedSigningKeyArns": [KEY],
            }
        }
    )
    assert message == (
        "mlops:promotion.fromStack 'dev' is this stack: promote from another stack (its own "
        "account), e.g. fromStack: staging in Pulumi.prod.yaml"
    ), message


def test_parse_trusted_key_outside_the_source_account_is_refused() -> None:
    message = _error_for(
        {
            "mlops:promotion": {
                "fromStack": "staging",
                "sourceAccountId": "999988887777",
                "trustedSigningKeyArns": [KEY],
            }
        }
    )
    assert message == (
        f"mlops:promotion.trustedSigningKeyArns: {KEY} is not in sourceAccountId 999988887777; "
        "list the source stack's signingKeyArn output"
    ), message


def test_parse_promotion_without_trusted_keys_is_refused() -> None:
    message = _error_for(
        {
            "mlops:promotion": {
                "fromStack": "staging",
                "sourceAccountId": "222233334444",
                "trustedSigningKeyArns": [],
            }
        }
    )
    assert message.startswith("mlops:promotion.trustedSigningKeyArns: invalid value []"), message


def test_load_stacks_promotion_needs_the_source_to_name_the_target(
    repo_root: Path, tmp_path: Path
) -> None:
    # given the shipped files, with staging's promotesTo removed (no grants on its side)
    from infra.config import load_stacks

    for stack in STACKS:
        shutil.copy(repo_root / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    import yaml

    staging = tmp_path / "Pulumi.staging.yaml"
    document = yaml.safe_load(staging.read_text())
    del document["config"]["mlops:promotesTo"]
    staging.write_text(yaml.safe_dump(document))
    # when every stack is loaded together, then the missing side is named in one line
    with pytest.raises(ConfigError) as caught:
        load_stacks(tmp_path)
    assert str(caught.value).startswith(
        "mlops:promotion.fromStack: Pulumi.prod.yaml promotes from staging, but "
        "Pulumi.staging.yaml has no mlops:promotesTo entry for prod"
    ), str(caught.value)


# ---- One place holds the minimums: what the config accepts, the mandatory policies pass ----


def test_attack_seven_day_kms_window_fails_validation_in_one_line(
    tmp_path: Path, repo_root: Path
) -> None:
    # Given a stack file shortening the key deletion window to AWS's minimum, 7 days
    text = (repo_root / "Pulumi.dev.yaml").read_text()
    assert "deletionWindowDays: 30" in text, "the shipped dev stack sets a 30-day window"
    (tmp_path / "Pulumi.dev.yaml").write_text(
        text.replace("deletionWindowDays: 30", "deletionWindowDays: 7")
    )
    # When the stack file is validated
    with pytest.raises(ConfigError) as caught:
        load_stack("dev", tmp_path)
    # Then one line names the key, the value and the floor the pack enforces
    message = str(caught.value)
    assert "\n" not in message, message
    assert "mlops:kms.deletionWindowDays: invalid value 7: must be at least 30 days" in message, (
        message
    )
    assert "kms-key-deletion-window-minimum" in message, message


@pytest.mark.parametrize(
    ("lock", "expected"),
    [
        ({"enabled": True, "mode": "GOVERNANCE"}, "artifactObjectLock.mode must be COMPLIANCE"),
        ({"enabled": True, "retentionDays": 30}, "retentionDays must be at least 365 in prod"),
    ],
    ids=["governance", "short-retention"],
)
def test_attack_prod_object_lock_the_policy_fails_is_refused(lock: dict, expected: str) -> None:
    # Given a prod stack whose artifact lock the object-lock policy would fail
    message = _error_for(
        {
            "mlops:environment": "prod",
            "mlops:serving": {"initialInstanceCount": 2},
            "mlops:buckets": {"artifactObjectLock": lock},
        }
    )
    # Then validation refuses it in one line
    assert expected in message and "\n" not in message, message


def test_default_object_lock_renders_compliance_in_prod(tmp_path: Path, repo_root: Path) -> None:
    # Given the prod stack file with the lock's mode and retention left to their defaults
    for stack_file in repo_root.glob("Pulumi*.yaml"):
        shutil.copy(stack_file, tmp_path / stack_file.name)
    prod = tmp_path / "Pulumi.prod.yaml"
    text = prod.read_text()
    for line in ("      mode: COMPLIANCE\n", "      retentionDays: 365\n"):
        assert line in text, f"the shipped prod stack sets {line.strip()}"
        text = text.replace(line, "")
    prod.write_text(text)
    # When the prod graph is rendered
    from infra.offline import render_graph

    graph = Graph.from_json(render_graph("prod", tmp_path))
    # Then the artifact bucket's default retention is COMPLIANCE for 365 days
    [lock] = graph.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    retention = lock.inputs["rule"]["defaultRetention"]
    assert retention == {"mode": "COMPLIANCE", "days": 365}, retention


def test_attack_flow_log_retention_of_a_month_is_refused() -> None:
    # Given a network whose flow logs keep 30 days (a CloudWatch period, below the pack's 365)
    message = _error_for({"mlops:network": {"flowLogRetentionDays": 30}})
    # Then validation refuses it in one line, naming the floor and the rule
    assert "mlops:network.flowLogRetentionDays: invalid value 30: must be at least 365 days" in (
        message
    ), message
    assert "cloudwatch-log-group-retention" in message and "\n" not in message, message


def test_parse_prod_capture_retention_beyond_180_days_is_refused() -> None:
    # Given a prod stack keeping captured requests a year
    message = _error_for(
        {
            "mlops:environment": "prod",
            "mlops:serving": {"initialInstanceCount": 2},
            "mlops:buckets": {"artifactObjectLock": {"enabled": True}, "captureRetentionDays": 365},
        }
    )
    # Then the stack file is refused with the limit and the value found
    assert "captureRetentionDays must be at most 180 in prod (found 365)" in message, message
