"""One release per stack at a time.

A release of a stack is: the stack-file edit (the release PR), its merge, `pulumi up`,
and SageMaker's blue/green traffic shift, which goes on for up to the stack's
`maximumExecutionTimeoutSeconds` after `pulumi up` has returned. Three things keep two
of them from overlapping, each covering a different window:

1. **GitHub concurrency** (the workflows): every job that runs `pulumi up` for a stack,
   in model-release or infra-deploy, is in the group `pulumi-<stack>` with
   `cancel-in-progress: false`. A second deploy waits for the first, watch included; a
   third replaces the waiting second (it carries the second's commit anyway: main is
   cumulative).
2. **Pulumi's stack lock**: the state backend refuses a second concurrent update of
   the same stack, whoever starts it (a laptop, another workflow).
3. **The endpoints themselves** (this module): while an endpoint of the stack is
   Creating, Updating, SystemUpdating, RollingBack or Deleting, a release is in
   progress. `mlops release` (the edit) and `mlops release verify --require-idle`
   (right before `pulumi up`) refuse to start then, with one line naming the endpoint.

No lock object is written anywhere. A lock object in the artifact bucket (an S3
conditional put) was considered and rejected: prod's artifact bucket has object lock
in COMPLIANCE mode, so every lock ever taken would stay there for the retention period,
the deploy role would need write access to the bucket that holds the evidence, and a
crashed job would leave a stale lock someone must delete by hand. The endpoint status
cannot go stale: it is the state of the release itself.
"""

from __future__ import annotations

from typing import Any

from common.errors import MlopsError
from infra.config import StackConfig
from ml.release.endpoints import EndpointState, describe_endpoint, endpoint_name


class ReleaseInProgress(MlopsError):
    """Another release of the same stack has not finished yet."""


def endpoint_states(sagemaker: Any, cfg: StackConfig) -> list[EndpointState]:
    """The state of every endpoint the stack declares a model for."""
    return [describe_endpoint(sagemaker, endpoint_name(cfg, model)) for model in cfg.models]


def require_idle(sagemaker: Any, cfg: StackConfig) -> list[EndpointState]:
    """The stack's endpoint states, or `ReleaseInProgress` if any is still changing."""
    states = endpoint_states(sagemaker, cfg)
    busy = [state for state in states if state.in_progress]
    if busy:
        first = busy[0]
        more = f" (and {len(busy) - 1} more)" if len(busy) > 1 else ""
        raise ReleaseInProgress(
            f"stack {cfg.environment}: a release is in progress: endpoint {first.name} is "
            f"{first.status}{more}; wait until `mlops release watch --stack "
            f"{cfg.environment}` reports promote or rollback"
        )
    return states
