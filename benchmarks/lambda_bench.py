#!/usr/bin/env python3
"""hfaction's Lambda benchmark: what one chunk costs in the container image with Lambda's
CPU share imposed, and what a 60 s 1080p30 render would take and cost at each function size.

    python -m benchmarks.lambda_bench [--memory 1769,3538] [--frames-per-chunk 57]
        [--chunks 4] [--json out.json] [--build] [--image TAG]

Runs the Lambda image (scripts/build-image.sh; built when missing or with --build) the
way tests/integration/image/test_lambda_image.py does: read-only root, /tmp the only
writable path, no capabilities, an unprivileged user, behind the Runtime Interface
Emulator, against S3 emulated by a moto server on loopback, and here also with the CPU
share and memory Lambda gives each ``--memory`` size (``podman run --cpus=MB/1769
--memory=MB``). Every action goes through the invoke API.

For each size emulated (with its own capture pipelines, and with one pipeline alone
where it runs more):
1. A fresh container plans the 60 s 1920x1080 30 fps GSAP composition (the render the
   projection is about: cold plan), then plans a short one of ``--chunks`` chunks of
   ``--frames-per-chunk`` frames (warm).
2. A second fresh container renders chunk 0 (cold: the runtime's start, imports, browser
   launch and page load all happen here), chunk 0 again (warm), every other chunk
   (warm), and assembles them (warm). The container's cgroup gives each call's CPU time.
3. From the chunks: the fixed cost of a chunk, cold and warm (its round trip minus its
   capture and encode), the per-frame wall time and CPU time, and how many vCPUs stayed
   busy.

Sizes above this machine's cores (3, 4 and 5.8 vCPUs) are modeled from those measured
(see ``modeled``). The projection of the 60 s render at concurrency 8, 32 and 100, per
size: one wave of chunks of ceil(1800 / concurrency) frames; wall = cold plan + cold fixed
cost + the largest chunk's frames x per-frame time + assemble (scaled from the one
measured); cost from hfaction.aws.cost.render_cost over invocation records synthesized
from it (x86_64) and the state transitions the state machine would make.

See benchmarks/README.md ("Lambda benchmark") for what each number means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.render_bench import (
    cpu_model,
    font_files,
    gsap_file,
    write_composition,
)
from hfaction import __version__ as HFACTION_VERSION
from hfaction.aws.cost import NOT_INCLUDED, PRICES, Cost, render_cost
from hfaction.aws.sizing import (
    DEFAULT_MEMORY_MB,
    LAMBDA_MB_PER_VCPU,
    PIPELINES_VARIABLE,
    capture_pipelines,
    vcpus,
)
from hfaction.render.encode import ffprobe_binary
from tests.support.lambda_image import (
    RIE_IN_WHEEL,
    SBIN_PATH,
    Function,
    Podman,
    S3Server,
    download_rie,
    lambda_container,
    moto_s3_server,
    upload_site,
)

REPO_DIR = Path(__file__).resolve().parent.parent
BUCKET = "hfaction-lambda-bench"
FPS = 30
WIDTH, HEIGHT = 1920, 1080
PROJECT_SECONDS = 60
PROJECT_FRAMES = PROJECT_SECONDS * FPS
CONCURRENCIES = (8, 32, 100)
ARCHITECTURE = "x86_64"
EPHEMERAL_MB = 10240  # template.yaml: EphemeralStorage
INLINE_MAP_LIMIT = 40  # statemachine/render.asl.json: ChooseMapMode
# Issue 3's targets.
TARGET_WARM_FIXED_S = 1.5
TARGET_WALL_S = 30.0
TARGET_WALL_CONCURRENCY = 32
TARGET_COST_USD = 0.012  # issue 14: below Remotion's per-minute cost
# Sizes projected: one to six vCPUs. Those with at most this machine's cores are measured
# with Lambda's CPU share imposed; the others are modeled from them.
SIZES = (LAMBDA_MB_PER_VCPU, 2 * LAMBDA_MB_PER_VCPU, 3 * LAMBDA_MB_PER_VCPU,
         4 * LAMBDA_MB_PER_VCPU, 10240)
CHUNK_TIMINGS = ("download", "launch", "load", "capture", "encode", "upload")


def log(message: str) -> None:
    print(f"lambda_bench: {message}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


# --- podman, the image, the RIE ---------------------------------------------------------


def make_podman(scratch: Path) -> Podman:
    """podman with runc and no default ulimits, as the image test runs it."""
    missing = [tool for tool in ("podman", "runc") if shutil.which(tool, path=SBIN_PATH) is None]
    if missing:
        sys.exit(f"lambda_bench: needs {', '.join(missing)}: apt-get install podman runc "
                 "debootstrap (or run scripts/make-base-image.sh --install-tools)")
    return Podman.configured(scratch)


@dataclass(frozen=True)
class Image:
    tag: str
    image_id: str
    created: str
    size_bytes: int
    config: dict[str, Any]
    build_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "id": self.image_id[:12], "created": self.created,
                "size_mb": round(self.size_bytes / 1e6), "build_seconds": self.build_seconds}


def build_image(podman: Podman) -> tuple[str, float]:
    base = os.environ.get("HFACTION_BASE_IMAGE", "localhost/debian:bookworm-slim")
    started = time.monotonic()
    if base.startswith("localhost/"):
        run_script(podman, REPO_DIR / "scripts/make-base-image.sh", base)
    out = run_script(podman, REPO_DIR / "scripts/build-image.sh")
    tags = [line.split(":", 1)[1].strip() for line in out.splitlines()
            if line.startswith("image:")]
    if not tags:
        sys.exit(f"lambda_bench: build-image.sh printed no 'image: TAG' line:\n{out[-2000:]}")
    return tags[-1], time.monotonic() - started


def run_script(podman: Podman, script: Path, *args: str) -> str:
    log(f"running {script.relative_to(REPO_DIR)} {' '.join(args)}")
    completed = subprocess.run(["bash", str(script), *args], env=podman.env, text=True,
                               capture_output=True, timeout=1800, check=False)
    if completed.returncode != 0:
        sys.exit(f"lambda_bench: {script.name} failed ({completed.returncode}):\n"
                 f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    return completed.stdout


def image_for(podman: Podman, tag: str | None, build: bool) -> Image:
    build_seconds: float | None = None
    tag = tag or f"localhost/hfaction-lambda:{HFACTION_VERSION}"
    if build or podman("image", "exists", tag, check=False).returncode != 0:
        tag, build_seconds = build_image(podman)
    inspected = json.loads(podman("image", "inspect", tag).stdout)[0]
    return Image(tag, str(inspected["Id"]), str(inspected.get("Created", "")),
                 int(inspected["Size"]), inspected["Config"],
                 None if build_seconds is None else round(build_seconds, 1))


def rie_binary() -> Path:
    sam_venv = sorted(REPO_DIR.glob(f".venv-sam/lib/python3*/site-packages/{RIE_IN_WHEEL}"))
    if sam_venv:
        return sam_venv[-1]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hfaction"
    return download_rie(cache)


# --- S3 and the function's containers ---------------------------------------------------


@contextlib.contextmanager
def moto_s3(scratch: Path) -> Iterator[S3Server]:
    try:
        with moto_s3_server(BUCKET, scratch / "moto.log") as server:
            yield server
    except ImportError as error:
        sys.exit(f"lambda_bench: needs {error.name}: pip install boto3 'moto[server]'")


@dataclass(frozen=True)
class Config:
    """A function size (memory, and the CPU share Lambda gives it) and its pipelines."""

    memory_mb: int
    pipelines: int

    @property
    def vcpus(self) -> float:
        return vcpus(self.memory_mb)

    @property
    def label(self) -> str:
        return f"{self.memory_mb} MB ({self.vcpus:.2f} vCPU), {self.pipelines} pipeline(s)"

    def to_dict(self) -> dict[str, Any]:
        return {"memory_mb": self.memory_mb, "vcpus": round(self.vcpus, 3),
                "pipelines": self.pipelines}


@contextlib.contextmanager
def function_container(podman: Podman, image: Image, rie: Path, s3: S3Server,
                       role: str, config: Config) -> Iterator[Function]:
    """A fresh container of the image behind the RIE, run as the image test runs it, with
    the CPU share and memory Lambda gives ``config.memory_mb`` imposed."""
    with lambda_container(podman, image.tag, image.config, rie, endpoint=s3.endpoint,
                          bucket=BUCKET, memory_mb=config.memory_mb,
                          name_prefix=f"hfaction-lambda-bench-{role}",
                          show_logs=False, cpu_share=True,
                          env={PIPELINES_VARIABLE: str(config.pipelines)}) as fn:
        yield fn


# --- invocations ------------------------------------------------------------------------


@dataclass
class Call:
    """One invocation: what was asked, its result, its round trip and the load before it."""

    label: str
    result: dict[str, Any]
    round_trip_s: float
    loadavg: list[float]
    cpu_s: float | None = None  # the container's CPU time during the call

    @property
    def record(self) -> dict[str, Any]:
        return dict(self.result["invocation"])

    @property
    def timings(self) -> dict[str, float]:
        return {key: float(value) for key, value in self.record["timings"].items()}

    @property
    def duration_s(self) -> float:
        return float(self.record["duration_ms"]) / 1000

    @property
    def startup_s(self) -> float:
        """Round trip outside the handler's own duration: for the first invocation of a
        container, the runtime's start and imports; otherwise the RIE's and the record's
        upload overhead."""
        return self.round_trip_s - self.duration_s

    @property
    def frames(self) -> int:
        return int(self.result.get("frames") or 0)

    @property
    def frames_s(self) -> float:
        return self.timings.get("capture", 0.0) + self.timings.get("encode", 0.0)

    @property
    def fixed_s(self) -> float:
        """Everything but the per-frame work (capture + encode), as the caller waited."""
        return self.round_trip_s - self.frames_s

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "round_trip_s": round(self.round_trip_s, 3),
                "startup_s": round(self.startup_s, 3), "loadavg_before": self.loadavg,
                "frames": self.frames,
                "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 3),
                "result": {key: value for key, value in self.result.items()
                           if key not in ("chunks", "invocation")},
                "invocation": self.record}


def invoke(fn: Function, label: str, event: dict[str, Any]) -> Call:
    before = loadavg()
    cpu_before = fn.cpu_seconds()
    result, seconds = fn.invoke(event)
    cpu_after = fn.cpu_seconds()
    if "errorType" in result:
        sys.exit(f"lambda_bench: {label} failed: {result}\n{fn.logs()}")
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    call = Call(label, result, seconds, before, cpu)
    extra = ""
    if call.frames and event.get("action") == "render_chunk":
        extra = (f", {call.frames} frames, capture+encode {call.frames_s:.2f} s, "
                 f"fixed {call.fixed_s:.2f} s")
    if cpu is not None:
        extra += f", CPU {cpu:.2f} s"
    log(f"{label}: {seconds:.2f} s round trip (handler {call.duration_s:.2f} s, "
        f"init {call.record.get('init_ms', 0)} ms{extra}), load {before[0]:.2f}")
    return call


def plan_event(render_id: str, site_id: str, chunk_size: int) -> dict[str, Any]:
    return {"action": "plan", "bucket": BUCKET, "render_id": render_id, "site_id": site_id,
            "options": {"chunk_size": chunk_size}}


def chunk_event(planned: dict[str, Any], index: int) -> dict[str, Any]:
    return {"action": "render_chunk", "bucket": BUCKET, "render_id": planned["render_id"],
            "plan_key": planned["plan_key"], "plan_hash": planned["plan_hash"],
            "index": index}


def probe_output(s3: S3Server, key: str, scratch: Path) -> dict[str, int]:
    out = scratch / "assembled.mp4"
    s3.client.download_file(BUCKET, key, str(out))
    probed = subprocess.run(
        [ffprobe_binary(), "-v", "error", "-select_streams", "v:0", "-count_packets",
         "-show_entries", "stream=nb_read_packets,width,height", "-of", "json", str(out)],
        capture_output=True, text=True, check=True).stdout
    stream = json.loads(probed)["streams"][0]
    return {"frames": int(stream["nb_read_packets"]), "width": int(stream["width"]),
            "height": int(stream["height"]), "bytes": out.stat().st_size}


# --- measurements -------------------------------------------------------------------------


@dataclass
class Measured:
    config: Config
    plan_cold: Call  # the 60 s composition, first invocation of its container
    plan_warm: Call  # the short composition, same container
    cold: Call  # chunk 0, first invocation of a fresh container
    warm: list[Call]  # chunk 0 again, then the other chunks
    assemble: Call
    assembled_frames: int
    assembled_chunks: int

    @property
    def warm_repeat(self) -> Call:
        return self.warm[0]

    @property
    def warm_fixed_s(self) -> float:
        return statistics.median(call.fixed_s for call in self.warm)

    @property
    def warm_frames(self) -> int:
        return sum(call.frames for call in self.warm)

    @property
    def per_frame_s(self) -> float:
        return sum(call.frames_s for call in self.warm) / self.warm_frames

    @property
    def cpu_per_frame_s(self) -> float | None:
        """CPU-seconds per frame over the warm chunks (their small fixed part included)."""
        cpus = [call.cpu_s for call in self.warm]
        if any(cpu is None for cpu in cpus):
            return None
        return sum(cpu for cpu in cpus if cpu is not None) / self.warm_frames

    @property
    def busy_vcpus(self) -> float | None:
        """How many vCPUs the warm chunks kept busy, on average."""
        cpus = [call.cpu_s for call in self.warm]
        if any(cpu is None for cpu in cpus):
            return None
        return sum(cpu for cpu in cpus if cpu is not None) / sum(c.round_trip_s for c in self.warm)

    def per_frame_part_s(self, name: str) -> float:
        return sum(call.timings.get(name, 0.0) for call in self.warm) / self.warm_frames

    @property
    def assemble_variable_s(self) -> float:
        """The assemble's parts that grow with chunks and bytes: fetching the chunks,
        checking and joining them, uploading the result."""
        timings = self.assemble.timings
        return sum(timings.get(name, 0.0) for name in ("download", "assemble", "upload"))

    def assemble_scale(self, chunks: int, frames: int) -> float:
        # T = a*chunks + b*frames + fixed, so scaling the variable part by the larger of
        # the two ratios bounds the projected time from above.
        return max(chunks / self.assembled_chunks, frames / self.assembled_frames)

    def projected_assemble_s(self, chunks: int, frames: int) -> float:
        return self.assemble.round_trip_s - self.assemble_variable_s + \
            self.assemble_variable_s * self.assemble_scale(chunks, frames)


def transitions(chunks: int, concurrency: int) -> int:
    """State transitions of a successful render without retries, as
    statemachine/render.asl.json runs it (MaxConcurrency = concurrency)."""
    # Prepare, Plan, ChooseMapMode, the Map state, one task per chunk, ..., Assemble, Done.
    if concurrency > INLINE_MAP_LIMIT and chunks > INLINE_MAP_LIMIT:
        # RenderChunksDistributed (each child runs RenderChunkInChild), CheckChunks,
        # AnyChunkFailed.
        return 4 + chunks + 2 + 2
    return 4 + chunks + 2


@dataclass(frozen=True)
class SizeModel:
    """What a function of ``memory_mb`` takes: measured there, or modeled from the sizes
    measured (``basis`` says which)."""

    memory_mb: int
    pipelines: int
    basis: str
    per_frame_s: float  # wall per frame of a chunk
    plan_s: float  # the 60 s composition's plan, cold, round trip
    plan_billed_s: float
    plan_init_s: float
    cold_fixed_s: float  # a cold chunk's round trip minus its frames
    cold_init_s: float
    assemble: Measured  # scaled by projected_assemble_s

    def to_dict(self) -> dict[str, Any]:
        return {"memory_mb": self.memory_mb, "vcpus": round(vcpus(self.memory_mb), 3),
                "pipelines": self.pipelines, "basis": self.basis,
                "per_frame_ms": round(self.per_frame_s * 1000, 2),
                "plan_s": round(self.plan_s, 3), "cold_fixed_s": round(self.cold_fixed_s, 3),
                "cold_init_s": round(self.cold_init_s, 3)}


def measured_model(m: Measured) -> SizeModel:
    return SizeModel(memory_mb=m.config.memory_mb, pipelines=m.config.pipelines,
                     basis="measured", per_frame_s=m.per_frame_s,
                     plan_s=m.plan_cold.round_trip_s, plan_billed_s=m.plan_cold.duration_s,
                     plan_init_s=m.plan_cold.startup_s, cold_fixed_s=m.cold.fixed_s,
                     cold_init_s=m.cold.startup_s, assemble=m)


def modeled(memory_mb: int, runs: list[Measured]) -> SizeModel:
    """A size larger than any emulated here (this machine has 2 cores).

    A chunk's frames go as fast as the slower of two limits: the vCPUs
    (CPU-seconds per frame / vCPUs, the CPU per frame measured at the fullest use) and
    its pipelines (each no faster than one pipeline measured alone on the most vCPUs
    emulated). Everything else (plan, a cold chunk's fixed cost, assemble) is taken as
    measured on the largest size emulated: more vCPUs do not make it slower.
    """
    with_cpu = [r for r in runs if r.cpu_per_frame_s is not None]
    cpu_per_frame = min((r.cpu_per_frame_s or 0.0 for r in with_cpu),
                        default=min(r.per_frame_s * r.config.vcpus for r in runs))
    # One pipeline alone on the most vCPUs emulated is the closest to unhindered.
    single = [r for r in runs if r.config.pipelines == 1] or runs
    one_pipeline = max(single, key=lambda r: r.config.memory_mb)
    pipeline_frame_s = one_pipeline.per_frame_s * one_pipeline.config.pipelines
    largest = max(runs, key=lambda r: (r.config.memory_mb, r.config.pipelines))
    pipelines = capture_pipelines(memory_mb)
    per_frame = max(cpu_per_frame / vcpus(memory_mb), pipeline_frame_s / pipelines)
    return SizeModel(memory_mb=memory_mb, pipelines=pipelines,
                     basis=f"modeled ({cpu_per_frame * 1000:.0f} CPU-ms per frame, "
                           f"{pipeline_frame_s * 1000:.0f} ms per frame per pipeline; "
                           f"fixed costs of {largest.config.memory_mb} MB)",
                     per_frame_s=per_frame, plan_s=largest.plan_cold.round_trip_s,
                     plan_billed_s=largest.plan_cold.duration_s,
                     plan_init_s=largest.plan_cold.startup_s,
                     cold_fixed_s=largest.cold.fixed_s, cold_init_s=largest.cold.startup_s,
                     assemble=largest)


@dataclass
class Projection:
    memory_mb: int
    concurrency: int
    chunk_frames: int
    chunks: int
    plan_s: float
    fixed_s: float
    frames_s: float
    assemble_s: float
    assemble_scale: float
    cost: Cost
    transitions: int
    basis: str

    @property
    def wall_s(self) -> float:
        return self.plan_s + self.fixed_s + self.frames_s + self.assemble_s

    def to_dict(self) -> dict[str, Any]:
        return {"memory_mb": self.memory_mb, "concurrency": self.concurrency,
                "chunk_frames": self.chunk_frames,
                "chunks": self.chunks, "wall_s": round(self.wall_s, 2),
                "plan_s": round(self.plan_s, 3), "cold_fixed_s": round(self.fixed_s, 3),
                "chunk_frames_s": round(self.frames_s, 3),
                "assemble_s": round(self.assemble_s, 3),
                "assemble_scale": round(self.assemble_scale, 3),
                "state_transitions": self.transitions, "cost": self.cost.to_dict(),
                "basis": self.basis}


def synth(action: str, duration_s: float, memory_mb: int, init_s: float = 0.0,
          index: int | None = None) -> dict[str, Any]:
    return {"action": action, "index": index, "cold": init_s > 0,
            "duration_ms": round(duration_s * 1000), "init_ms": round(init_s * 1000),
            "memory_mb": memory_mb, "architecture": ARCHITECTURE}


def project(model: SizeModel, concurrency: int, frames: int = PROJECT_FRAMES) -> Projection:
    chunk_frames = math.ceil(frames / concurrency)
    chunks = math.ceil(frames / chunk_frames)
    sizes = [min(chunk_frames, frames - i * chunk_frames) for i in range(chunks)]
    assemble_s = model.assemble.projected_assemble_s(chunks, frames)
    memory = model.memory_mb
    # Billed as Lambda would: init (here, everything the caller waited outside the
    # handler's duration) plus duration. Every chunk is taken to start cold.
    cold_fixed_in_handler = model.cold_fixed_s - model.cold_init_s
    records = [synth("plan", model.plan_billed_s, memory, model.plan_init_s)]
    records += [synth("render_chunk", cold_fixed_in_handler + size * model.per_frame_s,
                      memory, model.cold_init_s, index) for index, size in enumerate(sizes)]
    records.append(synth("assemble", assemble_s, memory))
    count = transitions(chunks, concurrency)
    return Projection(memory_mb=memory, concurrency=concurrency, chunk_frames=chunk_frames,
                      chunks=chunks, plan_s=model.plan_s, fixed_s=model.cold_fixed_s,
                      frames_s=max(sizes) * model.per_frame_s, assemble_s=assemble_s,
                      assemble_scale=model.assemble.assemble_scale(chunks, frames),
                      cost=render_cost(records, count, ephemeral_mb=EPHEMERAL_MB),
                      transitions=count, basis=model.basis)


def size_models(runs: list[Measured]) -> list[SizeModel]:
    """One model per size of SIZES: the measured run with that size's own pipeline count
    where there is one, else modeled."""
    models = []
    for memory in SIZES:
        own = [r for r in runs if r.config == Config(memory, capture_pipelines(memory))]
        models.append(measured_model(own[0]) if own else modeled(memory, runs))
    return models


def cheapest_within_target(projections: list[Projection]) -> Projection | None:
    at_target = [p for p in projections if p.concurrency == TARGET_WALL_CONCURRENCY
                 and p.wall_s <= TARGET_WALL_S]
    return min(at_target, key=lambda p: p.cost.total, default=None)


# --- the run ------------------------------------------------------------------------------


def composition(folder: Path, seconds: float, files: Sequence[Path]) -> Path:
    return write_composition(folder, WIDTH, HEIGHT, seconds, files[0], files[1:])


def run(args: argparse.Namespace, podman: Podman, image: Image, rie: Path,
        scratch: Path, config: Config) -> Measured:
    files = [gsap_file(), *font_files()]
    # Whole seconds: hfaction.render.planner.Plan.duration is float(str(Fraction)), which fails on
    # '38/5', so the handler's plan refuses a composition of 7.6 s. The last chunk of the
    # measured render may then be shorter than --frames-per-chunk; it is rendered too.
    short_seconds = math.ceil(args.frames_per_chunk * args.chunks / FPS)
    long_site = composition(scratch / "long", PROJECT_SECONDS, files)
    short_site = composition(scratch / "short", short_seconds, files)
    tag = uuid.uuid4().hex[:8]
    log(f"--- {config.label}")
    with moto_s3(scratch) as s3:
        long_id = upload_site(s3.client, BUCKET, long_site)
        short_id = upload_site(s3.client, BUCKET, short_site)

        with function_container(podman, image, rie, s3, "plan", config) as planner:
            plan_cold = invoke(planner, f"plan {PROJECT_SECONDS} s (cold)",
                               plan_event(f"long-{tag}", long_id, args.frames_per_chunk))
            plan_warm = invoke(planner, "plan short (warm)",
                               plan_event(f"short-{tag}", short_id, args.frames_per_chunk))
        if plan_cold.result["frames"] != PROJECT_FRAMES:
            sys.exit(f"lambda_bench: the {PROJECT_SECONDS} s composition planned "
                     f"{plan_cold.result['frames']} frames, expected {PROJECT_FRAMES}")
        planned = plan_warm.result
        if (planned["width"], planned["height"]) != (WIDTH, HEIGHT):
            sys.exit(f"lambda_bench: planned {planned['width']}x{planned['height']}")

        with function_container(podman, image, rie, s3, "chunks", config) as fn:
            results: dict[int, dict[str, Any]] = {}
            cold = invoke(fn, "chunk 0 (cold)", chunk_event(planned, 0))
            warm = [invoke(fn, "chunk 0 (warm, again)", chunk_event(planned, 0))]
            results[0] = warm[0].result
            for chunk in planned["chunks"][1:]:
                index = int(chunk["index"])
                warm.append(invoke(fn, f"chunk {index} (warm)", chunk_event(planned, index)))
                results[index] = warm[-1].result
            ran = sorted({r.get("pipelines") for r in results.values()}, key=str)
            if ran != [config.pipelines]:
                sys.exit(f"lambda_bench: chunks ran {ran} pipelines, {config.pipelines} "
                         "were asked for (is the image older than the code?)")
            chunks = [{key: results[i][key] for key in ("index", "key", "start", "end", "frames")}
                      for i in sorted(results)]
            assembled = invoke(fn, f"assemble {len(chunks)} chunks (warm)", {
                "action": "assemble", "bucket": BUCKET, "render_id": planned["render_id"],
                "plan_key": planned["plan_key"], "chunks": chunks,
                "output_key": planned["output_key"]})
        probed = probe_output(s3, planned["output_key"], scratch)
    if (probed["frames"], probed["width"], probed["height"]) != (planned["frames"], WIDTH,
                                                                 HEIGHT):
        sys.exit(f"lambda_bench: the assembled render is {probed}, the plan has "
                 f"{planned['frames']} frames at {WIDTH}x{HEIGHT}")
    return Measured(config=config, plan_cold=plan_cold, plan_warm=plan_warm, cold=cold,
                    warm=warm, assemble=assembled, assembled_frames=int(planned["frames"]),
                    assembled_chunks=len(chunks))


# --- the report ---------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def breakdown(call: Call) -> str:
    timings = call.timings
    other = call.duration_s - sum(timings.values())
    order = [name for name in CHUNK_TIMINGS if name in timings]
    order += [name for name in timings if name not in order]
    parts = [f"startup {call.startup_s:.2f}"]
    parts += [f"{name} {timings[name]:.2f}" for name in order]
    parts.append(f"other {other:.2f}")
    return ", ".join(parts)


def measured_lines(m: Measured) -> list[str]:
    lines = [f"{m.config.label}:"]
    for call in (m.plan_cold, m.plan_warm, m.cold, *m.warm, m.assemble):
        frames = f" {call.frames:4d} fr" if call.frames else "        "
        cpu = "" if call.cpu_s is None else f"  CPU {call.cpu_s:6.2f}"
        lines.append(f"  {call.label:<26}{frames} round trip {call.round_trip_s:6.2f}{cpu}  "
                     f"[{breakdown(call)}]  load {call.loadavg[0]:.2f}")
    cold = m.cold
    launch, load = cold.timings.get("launch", 0.0), cold.timings.get("load", 0.0)
    cpu_per_frame, busy_vcpus = m.cpu_per_frame_s, m.busy_vcpus
    busy = "" if cpu_per_frame is None or busy_vcpus is None else (
        f"; {cpu_per_frame * 1000:.1f} CPU-ms per frame, "
        f"{busy_vcpus:.2f} of {m.config.vcpus:.2f} vCPUs busy")
    lines.append(f"  => per frame {m.per_frame_s * 1000:.1f} ms wall (capture "
                 f"{m.per_frame_part_s('capture') * 1000:.1f} + encode "
                 f"{m.per_frame_part_s('encode') * 1000:.1f}){busy}")
    lines.append(f"  => cold fixed {cold.fixed_s:.2f} s (runtime start + imports "
                 f"{cold.startup_s:.2f}, launch {launch:.2f}, load {load:.2f}); warm fixed "
                 f"{m.warm_fixed_s:.2f} s; plan (60 s) {m.plan_cold.round_trip_s:.2f} s cold; "
                 f"assemble {m.assemble.round_trip_s:.2f} s")
    return lines


def report(runs: list[Measured], models: list[SizeModel], projections: list[Projection],
           machine: dict[str, Any]) -> str:
    lines = [f"Lambda benchmark: {WIDTH}x{HEIGHT} {FPS} fps GSAP composition, in the image "
             f"{machine['image']['tag']} ({machine['image']['id']}) under the RIE, with "
             "Lambda's CPU share and memory imposed (podman --cpus --memory)", ""]
    lines.append("Measured (seconds; round trip = as the caller waited; startup = round trip "
                 "- handler duration; CPU = the container's cgroup):")
    for m in runs:
        lines += measured_lines(m)
    lines.append("")
    lines.append("Sizes:")
    for model in models:
        lines.append(f"  {model.memory_mb:>6} MB {vcpus(model.memory_mb):4.2f} vCPU "
                     f"{model.pipelines} pipeline(s): {model.per_frame_s * 1000:6.1f} ms per "
                     f"frame, cold fixed {model.cold_fixed_s:.2f} s  [{model.basis}]")
    lines.append("")
    lines.append(f"Projection: {PROJECT_SECONDS} s {WIDTH}x{HEIGHT} {FPS} fps "
                 f"({PROJECT_FRAMES} frames), one wave, every chunk cold, {ARCHITECTURE}:")
    lines.append(f"  {'memory':>6} {'conc.':>5} {'chunk fr':>8} {'plan':>6} {'cold fix':>8} "
                 f"{'frames':>7} {'assemble':>8} {'wall s':>7} {'cost $':>8}")
    for p in projections:
        lines.append(f"  {p.memory_mb:>6} {p.concurrency:>5} {p.chunk_frames:>8} "
                     f"{p.plan_s:>6.2f} {p.fixed_s:>8.2f} {p.frames_s:>7.2f} "
                     f"{p.assemble_s:>8.2f} {p.wall_s:>7.2f} {p.cost.total:>8.5f}")
    best = cheapest_within_target(projections)
    default = next(p for p in projections if p.memory_mb == DEFAULT_MEMORY_MB
                   and p.concurrency == TARGET_WALL_CONCURRENCY)
    lines.append("")
    lines.append(f"Targets (issue 14), concurrency {TARGET_WALL_CONCURRENCY}, wall <= "
                 f"{TARGET_WALL_S:g} s and cost <= ${TARGET_COST_USD}:")
    lines.append(f"  the deploy default, {DEFAULT_MEMORY_MB} MB: {default.wall_s:.1f} s "
                 f"{verdict(default.wall_s <= TARGET_WALL_S)}, ${default.cost.total:.5f} "
                 f"{verdict(default.cost.total <= TARGET_COST_USD)}")
    if best is None:
        lines.append("  no size meets the wall-time target")
    else:
        lines.append(f"  cheapest size within the wall target: {best.memory_mb} MB "
                     f"({best.wall_s:.1f} s, ${best.cost.total:.5f})"
                     + ("" if best.memory_mb == DEFAULT_MEMORY_MB
                        else "  <- differs from the deploy default"))
    lines.append("")
    lines.append(f"Machine: {machine['cores']} cores ({machine['cpu']}), load average "
                 f"{machine['loadavg_before']} before, {machine['loadavg_after']} after.")
    lines.append("Not measured: pulling the image on a real cold start, Step Functions' own "
                 "latency between states, S3 over the network instead of loopback, Lambda's "
                 "per-vCPU speed (taken as this machine's).")
    lines.append(f"Cost: Lambda compute (init + duration), requests and ephemeral storage "
                 f"({EPHEMERAL_MB} MB) and Step Functions transitions at "
                 f"${PRICES['sfn_state_transition']}; not included: {NOT_INCLUDED}.")
    return "\n".join(lines)


def machine_info(image: Image) -> dict[str, Any]:
    cpu = cpu_model()
    return {"cores": len(os.sched_getaffinity(0)), "cpu": cpu,
            "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1e9,
                               1),
            "platform": platform.platform(), "hfaction": HFACTION_VERSION,
            "image": image.to_dict()}


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def memory_list(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"{text} is not a comma-separated list of positive "
                                         "integers")
    return sizes


def configs(memories: list[int], cores: int, pipelines: list[int] | None) -> list[Config]:
    """Each size with its own pipeline count and one pipeline alone (how many vCPUs one
    pipeline keeps busy), or with each count of ``pipelines``."""
    chosen = []
    for memory in memories:
        if vcpus(memory) > cores + 1e-9:
            sys.exit(f"lambda_bench: {memory} MB is {vcpus(memory):.2f} vCPUs; this machine "
                     f"has {cores} cores, so it cannot be emulated (it is modeled instead)")
        counts = set(pipelines) if pipelines else {1, capture_pipelines(memory)}
        chosen += [Config(memory, count) for count in sorted(counts)]
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames-per-chunk", type=positive_int, default=57,
                        help="frames per measured chunk (default 57, a 60 s render's chunk "
                             "at concurrency 32)")
    parser.add_argument("--chunks", type=positive_int, default=4,
                        help="chunks of the measured render (default 4; chunk 0 is rendered "
                             "twice, cold then warm)")
    parser.add_argument("--memory", type=memory_list,
                        default=[LAMBDA_MB_PER_VCPU, 2 * LAMBDA_MB_PER_VCPU],
                        help="function sizes to emulate, comma-separated MB (default "
                             "1769,3538: 1 and 2 vCPUs)")
    parser.add_argument("--pipelines", type=memory_list, default=None,
                        help="capture pipelines to measure at every size, comma-separated "
                             "(default: 1 and the size's own count)")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--image", default=None,
                        help=f"image to run (default localhost/hfaction-lambda:"
                             f"{HFACTION_VERSION}, built when missing)")
    parser.add_argument("--build", action="store_true",
                        help="build the image with scripts/build-image.sh first")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    load_before = loadavg()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="hfaction-lambda-bench-") as tmp:
        scratch = Path(tmp)
        podman = make_podman(scratch)
        image = image_for(podman, args.image, args.build)
        rie = rie_binary()
        log(f"image {image.tag} ({image.image_id[:12]}, created {image.created}), "
            f"load average {load_before}")
        runs = [run(args, podman, image, rie, scratch / f"{c.memory_mb}-{c.pipelines}", c)
                for c in configs(args.memory, cores, args.pipelines)]
    machine = machine_info(image)
    machine.update(loadavg_before=load_before, loadavg_after=loadavg())
    models = size_models(runs)
    projections = [project(model, concurrency) for model in models
                   for concurrency in CONCURRENCIES]
    elapsed = time.perf_counter() - started
    print(report(runs, models, projections, machine))
    print(f"(benchmark took {elapsed:.0f} s)")
    if args.json:
        best = cheapest_within_target(projections)
        document = {
            "command": [sys.executable, *sys.argv], "machine": machine,
            "settings": {"frames_per_chunk": args.frames_per_chunk, "chunks": args.chunks,
                         "fps": FPS, "width": WIDTH, "height": HEIGHT,
                         "architecture": ARCHITECTURE, "ephemeral_mb": EPHEMERAL_MB,
                         "default_memory_mb": DEFAULT_MEMORY_MB},
            "measured": [{
                "config": m.config.to_dict(),
                "cold_fixed_s": round(m.cold.fixed_s, 3),
                "cold_startup_s": round(m.cold.startup_s, 3),
                "warm_fixed_s": round(m.warm_fixed_s, 3),
                "per_frame_ms": round(m.per_frame_s * 1000, 2),
                "per_frame_capture_ms": round(m.per_frame_part_s("capture") * 1000, 2),
                "per_frame_encode_ms": round(m.per_frame_part_s("encode") * 1000, 2),
                "cpu_per_frame_ms": None if m.cpu_per_frame_s is None
                else round(m.cpu_per_frame_s * 1000, 2),
                "busy_vcpus": None if m.busy_vcpus is None else round(m.busy_vcpus, 3),
                "plan_cold_s": round(m.plan_cold.round_trip_s, 3),
                "assemble_s": round(m.assemble.round_trip_s, 3),
                "calls": [call.to_dict() for call in (m.plan_cold, m.plan_warm, m.cold,
                                                      *m.warm, m.assemble)],
            } for m in runs],
            "sizes": [model.to_dict() for model in models],
            "projections": [p.to_dict() for p in projections],
            "cheapest_within_target": None if best is None else best.to_dict(),
            "targets": {"wall_s": TARGET_WALL_S, "wall_concurrency": TARGET_WALL_CONCURRENCY,
                        "cost_usd": TARGET_COST_USD},
            "seconds": round(elapsed, 1),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
