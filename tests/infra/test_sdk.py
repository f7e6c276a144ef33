"""pulumi-aws services load one resource module at a time (infra/sdk.py), same classes.

Each case runs in a fresh interpreter: which modules a process loaded is the behaviour.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
import pulumi_aws as aws
from infra.sdk import load_services_on_demand
load_services_on_demand()
vpc = aws.ec2.Vpc
args = aws.s3.BucketVersioningVersioningConfigurationArgs
get_key = aws.kms.get_public_key_output
loaded = sorted(m for m in sys.modules if m.startswith("pulumi_aws.ec2."))
try:
    aws.ec2.NoSuchResource
    missing = "found"
except AttributeError as error:
    missing = str(error)
after = sum(m.startswith("pulumi_aws.ec2.") for m in sys.modules)
import importlib
print(json.dumps({
    "vpc": f"{vpc.__module__}.{vpc.__qualname__}",
    "same_vpc": vpc is importlib.import_module("pulumi_aws.ec2.vpc").Vpc,
    "args": f"{args.__module__}.{args.__qualname__}",
    "get_key": f"{get_key.__module__}.{get_key.__qualname__}",
    "loaded_for_vpc": loaded,
    "missing": missing,
    "ec2_modules_after_fallback": after,
    "network_insights_path": hasattr(aws.ec2, "NetworkInsightsPath"),
}))
"""


@pytest.fixture(scope="module")
def seen(repo_root: Path) -> dict:
    """What a fresh process saw after using a few names, then a missing one."""
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_services_load_only_the_modules_of_the_names_used(seen: dict) -> None:
    # Given the on-demand services, when the program uses a few names of three services
    # Then each name is the SDK's own object, from the module the SDK defines it in
    assert seen["vpc"] == "pulumi_aws.ec2.vpc.Vpc" and seen["same_vpc"], seen
    assert seen["args"] == "pulumi_aws.s3._inputs.BucketVersioningVersioningConfigurationArgs"
    assert seen["get_key"] == "pulumi_aws.kms.get_public_key.get_public_key_output", seen
    # And `aws.ec2.Vpc` loaded vpc.py alone, not the ~180 modules of EC2
    assert seen["loaded_for_vpc"] == ["pulumi_aws.ec2.vpc"], seen["loaded_for_vpc"]


def test_a_name_the_layout_does_not_predict_loads_the_whole_service(seen: dict) -> None:
    # Given the on-demand services, when a name no module is named after is asked for
    # Then the service's real __init__ ran (every module), and the name is still missing
    assert seen["missing"] == "module 'pulumi_aws.ec2' has no attribute 'NoSuchResource'"
    assert seen["ec2_modules_after_fallback"] > 100, seen["ec2_modules_after_fallback"]
    assert seen["network_insights_path"], "every EC2 name is there after the fallback"
