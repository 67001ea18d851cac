#!/usr/bin/env python3
"""hfaction's Lambda benchmark: what one chunk costs in the container image, and what a
60 s 1080p30 render would take and cost on 10 GB functions.

    python -m benchmarks.lambda_bench [--frames-per-chunk 60] [--chunks 4]
        [--json out.json] [--build] [--image TAG]

Runs the Lambda image (scripts/build-image.sh; built when missing or with --build) the
way tests/integration/image/test_lambda_image.py does: read-only root, /tmp the only
writable path, no capabilities, an unprivileged user, behind the Runtime Interface
Emulator, against S3 emulated by a moto server on loopback. Every action goes through
the invoke API.

1. A fresh container plans the 60 s 1920x1080 30 fps GSAP composition (the render the
   projection is about: cold plan), then plans a short one of ``--chunks`` chunks of
   ``--frames-per-chunk`` frames (warm).
2. A second fresh container renders chunk 0 (cold: the runtime's start, imports, browser
   launch and page load all happen here), chunk 0 again (warm: the browser is reused),
   every other chunk (warm), and assembles them (warm). The short composition lasts
   ceil(frames-per-chunk x chunks / 30) whole seconds, so its last chunk may be shorter.
3. From the chunks: the fixed cost of a chunk, cold and warm (its round trip minus its
   capture and encode), and the per-frame cost (capture + encode per frame, warm chunks).
4. The projection of the 60 s render at concurrency 8, 32 and 100: one wave of chunks of
   ceil(1800 / concurrency) frames; wall = cold plan + cold fixed cost + the largest
   chunk's frames x per-frame cost + assemble (scaled from the one measured); cost from
   hfaction.aws.cost.render_cost over invocation records synthesized from it (10240 MB,
   x86_64) and the state transitions the state machine would make.

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
    format_seconds,
    gsap_file,
    write_composition,
)
from hfaction import __version__ as HFACTION_VERSION
from hfaction.aws.cost import NOT_INCLUDED, PRICES, Cost, render_cost
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
)

REPO_DIR = Path(__file__).resolve().parent.parent
BUCKET = "hfaction-lambda-bench"
FPS = 30
WIDTH, HEIGHT = 1920, 1080
PROJECT_SECONDS = 60
PROJECT_FRAMES = PROJECT_SECONDS * FPS
CONCURRENCIES = (8, 32, 100)
MEMORY_MB = 10240
ARCHITECTURE = "x86_64"
EPHEMERAL_MB = 10240  # template.yaml: EphemeralStorage
INLINE_MAP_LIMIT = 40  # statemachine/render.asl.json: ChooseMapMode
# Issue 3's targets.
TARGET_WARM_FIXED_S = 1.5
TARGET_WALL_S = 30.0
TARGET_WALL_CONCURRENCY = 32
TARGET_COST_USD = 0.015
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
    conf = scratch / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n')
    runtime = shutil.which("runc", path=SBIN_PATH)
    assert runtime is not None
    return Podman({**os.environ, "CONTAINERS_CONF": str(conf)}, runtime)


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


@contextlib.contextmanager
def function_container(podman: Podman, image: Image, rie: Path, s3: S3Server,
                       role: str) -> Iterator[Function]:
    """A fresh container of the image behind the RIE, run as the image test runs it."""
    with lambda_container(podman, image.tag, image.config, rie, endpoint=s3.endpoint,
                          bucket=BUCKET, memory_mb=MEMORY_MB,
                          name_prefix=f"hfaction-lambda-bench-{role}",
                          show_logs=False) as fn:
        yield fn


# --- invocations ------------------------------------------------------------------------


@dataclass
class Call:
    """One invocation: what was asked, its result, its round trip and the load before it."""

    label: str
    result: dict[str, Any]
    round_trip_s: float
    loadavg: list[float]

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
                "result": {key: value for key, value in self.result.items()
                           if key not in ("chunks", "invocation")},
                "invocation": self.record}


def invoke(fn: Function, label: str, event: dict[str, Any]) -> Call:
    before = loadavg()
    result, seconds = fn.invoke(event)
    if "errorType" in result:
        sys.exit(f"lambda_bench: {label} failed: {result}\n{fn.logs()}")
    call = Call(label, result, seconds, before)
    extra = ""
    if call.frames and event.get("action") == "render_chunk":
        extra = (f", {call.frames} frames, capture+encode {call.frames_s:.2f} s, "
                 f"fixed {call.fixed_s:.2f} s")
    log(f"{label}: {seconds:.2f} s round trip (handler {call.duration_s:.2f} s, "
        f"init {call.record.get('init_ms', 0)} ms{extra}), load {before[0]:.2f}")
    return call


def upload_site(s3: S3Server, folder: Path, site_id: str) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        s3.client.upload_file(str(path), BUCKET,
                              f"sites/{site_id}/{path.relative_to(folder).as_posix()}")


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
    def per_frame_s(self) -> float:
        return sum(call.frames_s for call in self.warm) / sum(call.frames for call in self.warm)

    def per_frame_part_s(self, name: str) -> float:
        return (sum(call.timings.get(name, 0.0) for call in self.warm)
                / sum(call.frames for call in self.warm))

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


@dataclass
class Projection:
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

    @property
    def wall_s(self) -> float:
        return self.plan_s + self.fixed_s + self.frames_s + self.assemble_s

    def to_dict(self) -> dict[str, Any]:
        return {"concurrency": self.concurrency, "chunk_frames": self.chunk_frames,
                "chunks": self.chunks, "wall_s": round(self.wall_s, 2),
                "plan_s": round(self.plan_s, 3), "cold_fixed_s": round(self.fixed_s, 3),
                "chunk_frames_s": round(self.frames_s, 3),
                "assemble_s": round(self.assemble_s, 3),
                "assemble_scale": round(self.assemble_scale, 3),
                "state_transitions": self.transitions, "cost": self.cost.to_dict()}


def synth(action: str, duration_s: float, init_s: float = 0.0,
          index: int | None = None) -> dict[str, Any]:
    return {"action": action, "index": index, "cold": init_s > 0,
            "duration_ms": round(duration_s * 1000), "init_ms": round(init_s * 1000),
            "memory_mb": MEMORY_MB, "architecture": ARCHITECTURE}


def project(m: Measured, concurrency: int, frames: int = PROJECT_FRAMES) -> Projection:
    chunk_frames = math.ceil(frames / concurrency)
    chunks = math.ceil(frames / chunk_frames)
    sizes = [min(chunk_frames, frames - i * chunk_frames) for i in range(chunks)]
    assemble_s = m.projected_assemble_s(chunks, frames)
    # Billed as Lambda would: init (here, everything the caller waited outside the
    # handler's duration) plus duration. Every chunk is taken to start cold.
    cold_init = m.cold.startup_s
    cold_fixed_in_handler = m.cold.fixed_s - cold_init
    records = [synth("plan", m.plan_cold.duration_s, m.plan_cold.startup_s)]
    records += [synth("render_chunk", cold_fixed_in_handler + size * m.per_frame_s, cold_init,
                      index) for index, size in enumerate(sizes)]
    records.append(synth("assemble", assemble_s))
    count = transitions(chunks, concurrency)
    return Projection(concurrency=concurrency, chunk_frames=chunk_frames, chunks=chunks,
                      plan_s=m.plan_cold.round_trip_s, fixed_s=m.cold.fixed_s,
                      frames_s=max(sizes) * m.per_frame_s, assemble_s=assemble_s,
                      assemble_scale=m.assemble_scale(chunks, frames),
                      cost=render_cost(records, count, ephemeral_mb=EPHEMERAL_MB),
                      transitions=count)


# --- the run ------------------------------------------------------------------------------


def composition(folder: Path, seconds: float, files: Sequence[Path]) -> Path:
    return write_composition(folder, WIDTH, HEIGHT, seconds, files[0], files[1:])


def run(args: argparse.Namespace, podman: Podman, image: Image, rie: Path,
        scratch: Path) -> Measured:
    files = [gsap_file(), *font_files()]
    # Whole seconds: hfaction.render.planner.Plan.duration is float(str(Fraction)), which fails on
    # '38/5', so the handler's plan refuses a composition of 7.6 s. The last chunk of the
    # measured render may then be shorter than --frames-per-chunk; it is rendered too.
    short_seconds = math.ceil(args.frames_per_chunk * args.chunks / FPS)
    long_site = composition(scratch / "long", PROJECT_SECONDS, files)
    short_site = composition(scratch / "short", short_seconds, files)
    tag = uuid.uuid4().hex[:8]
    with moto_s3(scratch) as s3:
        upload_site(s3, long_site, f"long-{tag}")
        upload_site(s3, short_site, f"short-{tag}")

        with function_container(podman, image, rie, s3, "plan") as planner:
            plan_cold = invoke(planner, f"plan {PROJECT_SECONDS} s (cold)",
                               plan_event(f"long-{tag}", f"long-{tag}", args.frames_per_chunk))
            plan_warm = invoke(planner, "plan short (warm)",
                               plan_event(f"short-{tag}", f"short-{tag}",
                                          args.frames_per_chunk))
        if plan_cold.result["frames"] != PROJECT_FRAMES:
            sys.exit(f"lambda_bench: the {PROJECT_SECONDS} s composition planned "
                     f"{plan_cold.result['frames']} frames, expected {PROJECT_FRAMES}")
        planned = plan_warm.result
        if (planned["width"], planned["height"]) != (WIDTH, HEIGHT):
            sys.exit(f"lambda_bench: planned {planned['width']}x{planned['height']}")

        with function_container(podman, image, rie, s3, "chunks") as fn:
            results: dict[int, dict[str, Any]] = {}
            cold = invoke(fn, "chunk 0 (cold)", chunk_event(planned, 0))
            warm = [invoke(fn, "chunk 0 (warm, again)", chunk_event(planned, 0))]
            results[0] = warm[0].result
            for chunk in planned["chunks"][1:]:
                index = int(chunk["index"])
                warm.append(invoke(fn, f"chunk {index} (warm)", chunk_event(planned, index)))
                results[index] = warm[-1].result
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
    return Measured(plan_cold=plan_cold, plan_warm=plan_warm, cold=cold, warm=warm,
                    assemble=assembled, assembled_frames=int(planned["frames"]),
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


def report(m: Measured, projections: list[Projection], machine: dict[str, Any]) -> str:
    lines = []
    cold, repeat = m.cold, m.warm_repeat
    lines.append(f"Lambda benchmark: {WIDTH}x{HEIGHT} {FPS} fps GSAP composition, in the "
                 f"image {machine['image']['tag']} ({machine['image']['id']}) under the RIE")
    lines.append("")
    lines.append("Raw measurements (seconds; round trip = as the caller waited; startup = "
                 "round trip - handler duration):")
    for call in (m.plan_cold, m.plan_warm, cold, *m.warm, m.assemble):
        frames = f" {call.frames:4d} fr" if call.frames else "        "
        lines.append(f"  {call.label:<26}{frames} round trip {call.round_trip_s:6.2f}  "
                     f"[{breakdown(call)}]  init_ms {call.record.get('init_ms', 0)}  "
                     f"load {call.loadavg[0]:.2f}")
    lines.append("")
    lines.append("Per chunk:")
    launch, load = cold.timings.get("launch", 0.0), cold.timings.get("load", 0.0)
    rest = cold.fixed_s - cold.startup_s - launch - load
    lines.append(f"  cold fixed cost   {cold.fixed_s:6.2f} s  (runtime start + imports "
                 f"{cold.startup_s:.2f}, launch {launch:.2f}, load to first frame "
                 f"{load:.2f}, rest {rest:.2f})")
    lines.append(f"  warm fixed cost   {m.warm_fixed_s:6.2f} s  (median of {len(m.warm)}; "
                 f"chunk 0 again: {repeat.fixed_s:.2f}, launch "
                 f"{repeat.timings.get('launch', 0):.3f}, load "
                 f"{repeat.timings.get('load', 0):.2f})")
    lines.append(f"  per frame         {m.per_frame_s * 1000:6.1f} ms (capture "
                 f"{m.per_frame_part_s('capture') * 1000:.1f} + encode "
                 f"{m.per_frame_part_s('encode') * 1000:.1f}; warm chunks, "
                 f"{sum(c.frames for c in m.warm)} frames); cold chunk: "
                 f"{cold.frames_s / cold.frames * 1000:.1f} ms")
    lines.append(f"  plan (60 s comp.) {m.plan_cold.round_trip_s:6.2f} s cold, "
                 f"short comp. warm {m.plan_warm.round_trip_s:.2f} s")
    lines.append(f"  assemble          {m.assemble.round_trip_s:6.2f} s for "
                 f"{m.assembled_chunks} chunks, {m.assembled_frames} frames (warm; "
                 f"download + join + upload {m.assemble_variable_s:.2f} s)")
    lines.append("")
    lines.append(f"Projection: {PROJECT_SECONDS} s {WIDTH}x{HEIGHT} {FPS} fps "
                 f"({PROJECT_FRAMES} frames), one wave, every chunk cold, {MEMORY_MB} MB "
                 f"{ARCHITECTURE}:")
    header = (f"  {'conc.':>5} {'chunk fr':>8} {'chunks':>6} {'plan':>6} {'cold fix':>8} "
              f"{'frames':>7} {'assemble':>8} {'(x)':>5} {'wall s':>7} {'cost $':>8} "
              f"{'transit.':>8}  "
              f"{'wall<' + format_seconds(TARGET_WALL_S) + 's':>8} "
              f"{'cost<$' + format_seconds(TARGET_COST_USD):>11}")
    lines.append(header)
    for p in projections:
        wall_mark = verdict(p.wall_s < TARGET_WALL_S)
        if p.concurrency != TARGET_WALL_CONCURRENCY:
            wall_mark = f"({wall_mark})"
        lines.append(f"  {p.concurrency:>5} {p.chunk_frames:>8} {p.chunks:>6} {p.plan_s:>6.2f} "
                     f"{p.fixed_s:>8.2f} {p.frames_s:>7.2f} {p.assemble_s:>8.2f} "
                     f"{p.assemble_scale:>5.1f} "
                     f"{p.wall_s:>7.2f} {p.cost.total:>8.5f} {p.transitions:>8}  "
                     f"{wall_mark:>8} {verdict(p.cost.total < TARGET_COST_USD):>11}")
    at_target = next(p for p in projections if p.concurrency == TARGET_WALL_CONCURRENCY)
    lines.append("")
    lines.append("Targets (issue 3):")
    lines.append(f"  warm fixed cost per chunk < {TARGET_WARM_FIXED_S} s: "
                 f"{m.warm_fixed_s:.2f} s  {verdict(m.warm_fixed_s < TARGET_WARM_FIXED_S)}")
    lines.append(f"  {PROJECT_SECONDS} s 1080p30 wall at concurrency {TARGET_WALL_CONCURRENCY} "
                 f"< {TARGET_WALL_S:g} s: {at_target.wall_s:.1f} s  "
                 f"{verdict(at_target.wall_s < TARGET_WALL_S)}")
    lines.append(f"  {PROJECT_SECONDS} s 1080p30 cost at concurrency {TARGET_WALL_CONCURRENCY} "
                 f"< ${TARGET_COST_USD}: ${at_target.cost.total:.5f}  "
                 f"{verdict(at_target.cost.total < TARGET_COST_USD)}")
    lines.append("")
    lines.append(f"Machine: {machine['cores']} cores ({machine['cpu']}), load average "
                 f"{machine['loadavg_before']} before, {machine['loadavg_after']} after "
                 "(shared machine).")
    lines.append("The projection uses the per-frame cost measured here, in a container on "
                 f"{machine['cores']} cores; a {MEMORY_MB} MB Lambda has 6 vCPUs, so it is "
                 "likely conservative (Lambda's per-core speed is not known here). Not "
                 "measured: pulling the image on a real cold start, Step Functions' own "
                 "latency between states, S3 over the network instead of loopback.")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames-per-chunk", type=positive_int, default=60,
                        help="frames per measured chunk (default 60, near the 57 of a 60 s "
                             "render's chunk at concurrency 32)")
    parser.add_argument("--chunks", type=positive_int, default=4,
                        help="chunks of the measured render (default 4; chunk 0 is rendered "
                             "twice, cold then warm)")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--image", default=None,
                        help=f"image to run (default localhost/hfaction-lambda:"
                             f"{HFACTION_VERSION}, built when missing)")
    parser.add_argument("--build", action="store_true",
                        help="build the image with scripts/build-image.sh first")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="hfaction-lambda-bench-") as tmp:
        scratch = Path(tmp)
        podman = make_podman(scratch)
        image = image_for(podman, args.image, args.build)
        rie = rie_binary()
        log(f"image {image.tag} ({image.image_id[:12]}, created {image.created}), "
            f"load average {load_before}")
        measured = run(args, podman, image, rie, scratch)
    machine = machine_info(image)
    machine.update(loadavg_before=load_before, loadavg_after=loadavg())
    projections = [project(measured, concurrency) for concurrency in CONCURRENCIES]
    elapsed = time.perf_counter() - started
    print(report(measured, projections, machine))
    print(f"(benchmark took {elapsed:.0f} s)")
    if args.json:
        document = {
            "command": [sys.executable, *sys.argv], "machine": machine,
            "settings": {"frames_per_chunk": args.frames_per_chunk, "chunks": args.chunks,
                         "fps": FPS, "width": WIDTH, "height": HEIGHT,
                         "memory_mb": MEMORY_MB, "architecture": ARCHITECTURE,
                         "ephemeral_mb": EPHEMERAL_MB},
            "measured": {
                "cold_fixed_s": round(measured.cold.fixed_s, 3),
                "cold_startup_s": round(measured.cold.startup_s, 3),
                "warm_fixed_s": round(measured.warm_fixed_s, 3),
                "per_frame_ms": round(measured.per_frame_s * 1000, 2),
                "per_frame_capture_ms": round(measured.per_frame_part_s("capture") * 1000, 2),
                "per_frame_encode_ms": round(measured.per_frame_part_s("encode") * 1000, 2),
                "plan_cold_s": round(measured.plan_cold.round_trip_s, 3),
                "assemble_s": round(measured.assemble.round_trip_s, 3),
                "assembled_chunks": measured.assembled_chunks,
                "assembled_frames": measured.assembled_frames,
                "calls": [call.to_dict() for call in (measured.plan_cold, measured.plan_warm,
                                                      measured.cold, *measured.warm,
                                                      measured.assemble)],
            },
            "projections": [p.to_dict() for p in projections],
            "targets": {"warm_fixed_s": TARGET_WARM_FIXED_S, "wall_s": TARGET_WALL_S,
                        "wall_concurrency": TARGET_WALL_CONCURRENCY,
                        "cost_usd": TARGET_COST_USD},
            "seconds": round(elapsed, 1),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
