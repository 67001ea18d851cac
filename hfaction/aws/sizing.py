"""How big the render function is, and how many browsers a chunk runs at that size.

Lambda gives CPU in proportion to memory: one vCPU per 1,769 MB, up to 6 vCPUs at
10,240 MB, and bills memory x time. So a vCPU-second costs the same at every size, and
what a render costs is its CPU-seconds divided by how busy the function keeps its vCPUs.
One capture pipeline (a browser feeding the chunk's encoder) kept 1.2 of 2 vCPUs busy in
``benchmarks/lambda_bench.py`` (the image with Lambda's CPU share imposed), so a larger
function runs more pipelines per chunk; :data:`VCPUS_PER_PIPELINE` leaves each some room,
as two pipelines on 2 vCPUs were no faster than one there.

The default size, :data:`DEFAULT_MEMORY_MB` (1 vCPU, one pipeline kept it 95% busy), was
the cheapest of the sizes projected for a 60 s 1080p30 render at concurrency 32 within the
30 s wall-time target: every chunk pays for its browser's start either way, and a vCPU that
waits is billed all the same.
"""

from __future__ import annotations

import math
import os

from hfaction.errors import InvalidOption

LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MAX_VCPUS = 6
MIN_MEMORY_MB = 1024  # a headless Chromium at 1080p and ffmpeg need about 1 GB between them
MAX_MEMORY_MB = 10240
DEFAULT_MEMORY_MB = LAMBDA_MB_PER_VCPU
ARCHITECTURES = ("x86_64", "arm64")
DEFAULT_ARCHITECTURE = "x86_64"
VCPUS_PER_PIPELINE = 1.5
PIPELINES_VARIABLE = "HFACTION_CAPTURE_PIPELINES"


def vcpus(memory_mb: int) -> float:
    return min(LAMBDA_MAX_VCPUS, memory_mb / LAMBDA_MB_PER_VCPU)


def capture_pipelines(memory_mb: int) -> int:
    """Browsers per chunk for a function of ``memory_mb``: enough to keep its vCPUs busy."""
    return max(1, math.floor(vcpus(memory_mb) / VCPUS_PER_PIPELINE + 0.5))


def pipelines_here(environ: dict[str, str] | None = None) -> int:
    """This function's pipelines: ``HFACTION_CAPTURE_PIPELINES`` if set (a benchmark's
    override), else from the memory Lambda gave it."""
    env = os.environ if environ is None else environ
    override = env.get(PIPELINES_VARIABLE, "")
    if override.isdigit() and int(override) >= 1:
        return int(override)
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    return capture_pipelines(int(memory)) if memory.isdigit() else 1


def check_memory(memory_mb: int) -> int:
    if not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        raise InvalidOption(
            f"--memory is {memory_mb} MB; the render function needs {MIN_MEMORY_MB} to "
            f"{MAX_MEMORY_MB} MB (Lambda's maximum)",
            hint=f"the default, {DEFAULT_MEMORY_MB} MB (1 vCPU), renders at the lowest "
                 "cost; more memory gives more vCPUs and a shorter render")
    return memory_mb


def check_architecture(architecture: str) -> str:
    if architecture not in ARCHITECTURES:
        raise InvalidOption(f"--architecture is {architecture!r}; choose "
                            f"{' or '.join(ARCHITECTURES)}")
    return architecture
