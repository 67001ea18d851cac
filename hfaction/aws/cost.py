"""What a render on AWS costs: Lambda compute, requests and ephemeral storage, and Step
Functions state transitions.

Not included (and said so wherever cost is shown): S3 storage and requests, data
transfer, CloudWatch Logs, and the container image's storage in ECR.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# US East (N. Virginia), first pricing tier. Sources:
#   https://aws.amazon.com/lambda/pricing/       (duration, requests, ephemeral storage)
#   https://aws.amazon.com/step-functions/pricing/ (standard workflows)
# Lambda bills duration per 1 ms, and the INIT phase of container-image functions.
PRICES: dict[str, float] = {
    "lambda_gb_second_x86_64": 0.0000166667,
    "lambda_gb_second_arm64": 0.0000133334,
    "lambda_request": 0.20 / 1_000_000,
    "lambda_ephemeral_gb_second": 0.0000000309,  # above the free 512 MB
    "sfn_state_transition": 0.000025,
}
NOT_INCLUDED = "S3 storage and requests, data transfer, CloudWatch Logs and ECR storage"
FREE_EPHEMERAL_MB = 512


@dataclass(frozen=True)
class Cost:
    lambda_compute: float
    lambda_requests: float
    lambda_ephemeral: float
    step_functions: float
    invocations: int
    billed_ms: int
    transitions: int

    @property
    def lambda_total(self) -> float:
        return self.lambda_compute + self.lambda_requests + self.lambda_ephemeral

    @property
    def total(self) -> float:
        return self.lambda_total + self.step_functions

    def to_dict(self) -> dict[str, Any]:
        return {
            "lambda_usd": round(self.lambda_total, 6),
            "lambda_compute_usd": round(self.lambda_compute, 6),
            "lambda_requests_usd": round(self.lambda_requests, 6),
            "lambda_ephemeral_usd": round(self.lambda_ephemeral, 6),
            "step_functions_usd": round(self.step_functions, 6),
            "total_usd": round(self.total, 6),
            "invocations": self.invocations,
            "billed_ms": self.billed_ms,
            "state_transitions": self.transitions,
            "not_included": NOT_INCLUDED,
        }


def billed_ms(invocation: Mapping[str, Any]) -> int:
    """Billed duration of one invocation: its duration plus init, rounded up to 1 ms."""
    return math.ceil(float(invocation.get("duration_ms", 0)) +
                     float(invocation.get("init_ms", 0)))


def render_cost(
    invocations: Iterable[Mapping[str, Any]],
    transitions: int,
    *,
    ephemeral_mb: int = 10240,
    prices: Mapping[str, float] = PRICES,
) -> Cost:
    """Cost of a render from its invocation records and its state transitions."""
    compute = ephemeral = 0.0
    count = total_ms = 0
    for invocation in invocations:
        count += 1
        ms = billed_ms(invocation)
        total_ms += ms
        gb = float(invocation.get("memory_mb", 0)) / 1024
        architecture = str(invocation.get("architecture") or "x86_64")
        price = prices.get(f"lambda_gb_second_{architecture}",
                           prices["lambda_gb_second_x86_64"])
        compute += gb * ms / 1000 * price
        extra_gb = max(0, ephemeral_mb - FREE_EPHEMERAL_MB) / 1024
        ephemeral += extra_gb * ms / 1000 * prices["lambda_ephemeral_gb_second"]
    return Cost(
        lambda_compute=compute,
        lambda_requests=count * prices["lambda_request"],
        lambda_ephemeral=ephemeral,
        step_functions=transitions * prices["sfn_state_transition"],
        invocations=count,
        billed_ms=total_ms,
        transitions=transitions,
    )


def state_transitions(history: Iterable[Mapping[str, Any]]) -> int:
    """Billable state transitions in an execution history.

    Every state entered is one transition (Map iterations' states included), and so is
    every retry of a task.
    """
    entered = scheduled = task_entered = 0
    for event in history:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            entered += 1
            if kind == "TaskStateEntered":
                task_entered += 1
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled"):
            scheduled += 1
    return entered + max(0, scheduled - task_entered)
