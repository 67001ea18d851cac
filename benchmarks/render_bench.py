#!/usr/bin/env python3
"""hfaction's render benchmark: how fast, how close to the capture ceiling, how much memory,
and (with --peer) how it compares with the HyperFrames CLI on the same composition.

    python -m benchmarks.render_bench [--seconds 5] [--sizes 1920x1080,1280x720]
        [--workers N] [--repeats 3] [--peer] [--json out.json] [--keep DIR]

Per size, in one run and interleaved (rotating order each repetition, so every
measurement shares the machine's noise):

a. capture-only: as many worker processes as the render uses, each with its own browser,
   capture the plan's chunks as JPEG (CompositionPage.capture), nothing is encoded;
b. end-to-end: hfaction.render.local.render_local at the standard preset (plan + chunks + assemble),
   while the whole process tree's RSS is sampled every 100 ms;
e. with --peer: the HyperFrames CLI at its defaults (benchmarks/peer_hyperframes.sh).

Then, untimed: one lossless render (--crf 0) and each output's size and PSNR against it.
See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import multiprocessing
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from hfaction import __version__ as HFACTION_VERSION
from hfaction.render.browser import browser_version, resolve_browser
from hfaction.render.encode import ffmpeg_binary, ffmpeg_version, ffprobe_binary
from hfaction.render.local import default_workers, render_local
from hfaction.render.options import RenderOptions
from hfaction.render.planner import Plan, plan

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
TEMPLATE = BENCH_DIR / "compositions" / "gsap-bench" / "index.html"
PEER_SCRIPT = BENCH_DIR / "peer_hyperframes.sh"
VENDORED_GSAP = REPO_DIR / "examples" / "gsap-intro" / "vendor" / "gsap.min.js"
FPS = 30
SAMPLE_INTERVAL_S = 0.1
READY_TIMEOUT_S = 60.0
MB = 1_000_000


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hfaction-bench"


# --- the composition -----------------------------------------------------------------


def gsap_file() -> Path:
    """GSAP from the examples' vendored copy, else from the npm package gsap@3 (cached)."""
    if VENDORED_GSAP.is_file():
        return VENDORED_GSAP
    cached = cache_dir() / "gsap" / "gsap.min.js"
    if cached.is_file():
        return cached
    if shutil.which("npm") is None:
        sys.exit("render_bench: GSAP is needed: run scripts/setup-examples.sh or install npm")
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        packed = subprocess.run(["npm", "pack", "--silent", "gsap@3"], cwd=tmp, check=True,
                                capture_output=True, text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(Path(tmp) / packed) as archive:
            member = archive.extractfile("package/dist/gsap.min.js")
            if member is None:
                sys.exit(f"render_bench: {packed} has no dist/gsap.min.js")
            partial = cached.with_suffix(".partial")
            partial.write_bytes(member.read())
            partial.replace(cached)
    return cached


FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
             Path("/usr/share/fonts/TTF"))


def font_files() -> list[Path]:
    """DejaVu Sans regular and bold from the system (Debian/Ubuntu: fonts-dejavu-core)."""
    found = []
    for name in FONT_FILES:
        candidates = [folder / name for folder in FONT_DIRS if (folder / name).is_file()]
        if not candidates:
            sys.exit(f"render_bench: {name} not found in {', '.join(map(str, FONT_DIRS))}; "
                     "install it (apt-get install fonts-dejavu-core)")
        found.append(candidates[0])
    return found


def format_seconds(seconds: float) -> str:
    return f"{seconds:g}"


def write_composition(folder: Path, width: int, height: int, seconds: float,
                      gsap: Path, fonts: Sequence[Path]) -> Path:
    """The benchmark composition at this size and duration, with GSAP and fonts beside it."""
    html = TEMPLATE.read_text(encoding="utf-8")
    for attribute, value in (("data-width", "1920"), ("data-height", "1080"),
                             ("data-duration", "5")):
        old = f'{attribute}="{value}"'
        if html.count(old) != 1:
            raise RuntimeError(f"{TEMPLATE} must contain {old} exactly once")
        new_value = {"data-width": str(width), "data-height": str(height),
                     "data-duration": format_seconds(seconds)}[attribute]
        html = html.replace(old, f'{attribute}="{new_value}"')
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(html, encoding="utf-8")
    shutil.copyfile(gsap, folder / "gsap.min.js")
    (folder / "fonts").mkdir(exist_ok=True)
    for font in fonts:
        shutil.copyfile(font, folder / "fonts" / font.name)
    return folder


# --- memory ----------------------------------------------------------------------------


def _load_psutil() -> ModuleType | None:
    try:
        return importlib.import_module("psutil")
    except ImportError:
        return None


PSUTIL = _load_psutil()
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _proc_tree_rss(root: int) -> tuple[int, int]:
    """RSS bytes summed over ``root`` and all its descendants, and their count, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
            parent = int(stat[stat.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    total = count = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as handle:
                resident_pages = int(handle.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        total += resident_pages * PAGE_SIZE
        count += 1
        stack.extend(children.get(pid, ()))
    return total, count


def _psutil_tree_rss(psutil: ModuleType, root: int) -> tuple[int, int]:
    try:
        top = psutil.Process(root)
        processes = [top, *top.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    total = count = 0
    for process in processes:
        try:
            total += int(process.memory_info().rss)
            count += 1
        except psutil.Error:
            continue
    return total, count


def tree_rss(root: int) -> tuple[int, int]:
    if PSUTIL is not None:
        return _psutil_tree_rss(PSUTIL, root)
    return _proc_tree_rss(root)


class TreeMemorySampler:
    """Samples the RSS of a process tree every ``interval`` seconds; keeps the peak."""

    def __init__(self, root_pid: int, interval: float = SAMPLE_INTERVAL_S) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.peak_bytes = 0
        self.peak_processes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            total, count = tree_rss(self.root_pid)
            self.samples += 1
            if total > self.peak_bytes:
                self.peak_bytes, self.peak_processes = total, count
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / MB


# --- a. capture-only ceiling -------------------------------------------------------------


def _capture_worker(plan_dir: str, browser: str | None, tasks: Any, results: Any) -> None:
    """One worker of the capture-only run: like a render worker, minus ffmpeg."""
    from hfaction.render.capture import BrowserSession
    from hfaction.render.chunk import chunk_frames, chunk_server
    from hfaction.render.planner import load_plan

    report: dict[str, Any] = {"error": None, "frames": 0, "bytes": 0, "chunks": 0,
                              "launch_s": 0.0, "load_s": 0.0, "capture_s": 0.0}
    try:
        plan_ = load_plan(Path(plan_dir), verify_files=False)
        mark = time.perf_counter()
        with BrowserSession(resolve_browser(browser)) as session:
            report["launch_s"] = time.perf_counter() - mark
            while True:
                index = tasks.get()
                if index is None:
                    break
                start, end = plan_.chunks[index]
                mark = time.perf_counter()
                page = session.open(server=chunk_server(Path(plan_dir), plan_),
                                    entry=plan_.entry, runtime_config=plan_.runtime_config,
                                    size=plan_.capture_size)
                try:
                    page.load(READY_TIMEOUT_S)
                    report["load_s"] += time.perf_counter() - mark
                    mark = time.perf_counter()
                    # The same frames, priming included, that render_chunk captures.
                    for image in chunk_frames(page, start, end):
                        report["bytes"] += len(image)
                        report["frames"] += 1
                    report["capture_s"] += time.perf_counter() - mark
                finally:
                    page.close()
                report["chunks"] += 1
    except BaseException as error:  # reported to the parent, which stops the benchmark
        report["error"] = f"{type(error).__name__}: {error}"
    results.put(report)


@dataclass
class CaptureSample:
    frames: int
    wall_s: float
    workers: int
    chunks: int
    jpeg_bytes: int
    launch_s: float
    load_s: float
    capture_s: float

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s

    def to_dict(self) -> dict[str, Any]:
        return {"fps": round(self.fps, 3), "wall_s": round(self.wall_s, 3),
                "frames": self.frames, "workers": self.workers, "chunks": self.chunks,
                "jpeg_mb": round(self.jpeg_bytes / MB, 2),
                "worker_launch_s": round(self.launch_s, 3),
                "worker_load_s": round(self.load_s, 3),
                "worker_capture_s": round(self.capture_s, 3)}


def measure_capture_only(plan_dir: Path, plan_: Plan, workers: int,
                         browser: str | None) -> CaptureSample:
    """Wall time of ``workers`` spawned processes capturing every chunk of the plan."""
    context = multiprocessing.get_context("spawn")
    tasks = context.Queue()
    results = context.Queue()
    worker_count = max(1, min(workers, len(plan_.chunks)))
    for index in range(len(plan_.chunks)):
        tasks.put(index)
    for _ in range(worker_count):
        tasks.put(None)
    started = time.perf_counter()
    processes = [context.Process(target=_capture_worker, daemon=True,
                                 args=(str(plan_dir), browser, tasks, results))
                 for _ in range(worker_count)]
    for process in processes:
        process.start()
    reports: list[dict[str, Any]] = []
    try:
        while len(reports) < worker_count:
            try:
                reports.append(results.get(timeout=1.0))
            except queue.Empty:
                dead = [p for p in processes if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise RuntimeError(f"a capture worker died (exit code {dead[0].exitcode})"
                                       ) from None
                continue
            if reports[-1]["error"]:
                raise RuntimeError(f"capture worker failed: {reports[-1]['error']}")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        tasks.close()
        results.close()
    wall = time.perf_counter() - started
    frames = sum(int(r["frames"]) for r in reports)
    if frames != plan_.frames:
        raise RuntimeError(f"capture-only captured {frames} frames, the plan has {plan_.frames}")
    return CaptureSample(frames=frames, wall_s=wall, workers=worker_count,
                         chunks=len(plan_.chunks),
                         jpeg_bytes=sum(int(r["bytes"]) for r in reports),
                         launch_s=max(float(r["launch_s"]) for r in reports),
                         load_s=sum(float(r["load_s"]) for r in reports),
                         capture_s=sum(float(r["capture_s"]) for r in reports))


# --- b. end-to-end ---------------------------------------------------------------------------


class _PhaseClock:
    """A ProgressSink that only notes when planning ended and assembling began."""

    def __init__(self) -> None:
        self.planned_at = 0.0
        self.assembling_at = 0.0

    def planned(self, plan_: Plan, workers: int) -> None:
        self.planned_at = time.perf_counter()

    def frame_done(self, frame: int) -> None:
        pass

    def chunk_done(self, index: int, start: int, end: int, seconds: float) -> None:
        pass

    def assembling(self) -> None:
        self.assembling_at = time.perf_counter()


@dataclass
class RenderSample:
    frames: int
    wall_s: float
    workers: int
    chunks: int
    plan_s: float
    chunks_s: float
    assemble_s: float
    peak_rss_bytes: int
    peak_processes: int
    rss_samples: int
    output_bytes: int
    chunk_timings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s

    def to_dict(self) -> dict[str, Any]:
        return {"fps": round(self.fps, 3), "wall_s": round(self.wall_s, 3),
                "frames": self.frames, "workers": self.workers, "chunks": self.chunks,
                "plan_s": round(self.plan_s, 3), "chunks_s": round(self.chunks_s, 3),
                "assemble_s": round(self.assemble_s, 3),
                "peak_rss_mb": round(self.peak_rss_bytes / MB, 1),
                "peak_processes": self.peak_processes, "rss_samples": self.rss_samples,
                "output_bytes": self.output_bytes, "chunk_timings": self.chunk_timings}


def measure_end_to_end(project: Path, output: Path, workers: int, browser: str | None,
                       crf: int | None = None) -> RenderSample:
    """render_local at the standard preset, timed from the call to the written MP4."""
    options = RenderOptions(quality="standard", crf=crf, browser=browser)
    clock = _PhaseClock()
    with TreeMemorySampler(os.getpid()) as memory:
        started = time.perf_counter()
        result = render_local(project, output, options, workers=workers, progress=clock)
        ended = time.perf_counter()
    return RenderSample(
        frames=result.plan.frames, wall_s=ended - started, workers=result.workers,
        chunks=len(result.plan.chunks), plan_s=clock.planned_at - started,
        chunks_s=clock.assembling_at - clock.planned_at, assemble_s=ended - clock.assembling_at,
        peak_rss_bytes=memory.peak_bytes, peak_processes=memory.peak_processes,
        rss_samples=memory.samples, output_bytes=output.stat().st_size,
        chunk_timings=result.chunk_timings)


# --- e. the peer -------------------------------------------------------------------------------


@dataclass
class PeerSample:
    frames: int
    wall_s: float
    output_bytes: int
    peak_rss_bytes: int
    workers: int | None
    quality: str | None
    self_reported_s: float | None  # its own "rendered in" figure, which starts later
    log: str

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s

    def to_dict(self) -> dict[str, Any]:
        return {"fps": round(self.fps, 3), "wall_s": round(self.wall_s, 3),
                "frames": self.frames, "output_bytes": self.output_bytes,
                "peak_rss_mb": round(self.peak_rss_bytes / MB, 1), "workers": self.workers,
                "quality": self.quality, "self_reported_s": self.self_reported_s,
                "log": self.log}


def peer_environment(browser: str | None) -> dict[str, str]:
    env = dict(os.environ)
    info = resolve_browser(browser)
    if info.begin_frame:  # the same Chromium for both, when it is a headless shell
        env.setdefault("PRODUCER_HEADLESS_SHELL_PATH", info.path)
    env.setdefault("HYPERFRAMES_FFMPEG_PATH", ffmpeg_binary())
    env.setdefault("HYPERFRAMES_FFPROBE_PATH", ffprobe_binary())
    return env


def install_peer(env: dict[str, str]) -> str:
    """Install node and hyperframes into the cache (not timed); their versions."""
    completed = subprocess.run(["bash", str(PEER_SCRIPT), "install"], env=env, text=True,
                               capture_output=True)
    if completed.returncode != 0:
        raise RuntimeError(f"peer install failed:\n{completed.stderr[-2000:]}")
    return completed.stdout.strip().splitlines()[-1]


def measure_peer(composition: Path, output: Path, scratch: Path, env: dict[str, str],
                 flags: Sequence[str] = ()) -> PeerSample:
    """The HyperFrames CLI (at its defaults unless ``flags``) on a fresh copy of the project:
    it writes into the project folder."""
    project = Path(tempfile.mkdtemp(prefix="peer-project-", dir=scratch))
    shutil.copytree(composition, project, dirs_exist_ok=True)
    output.unlink(missing_ok=True)
    process = subprocess.Popen(["bash", str(PEER_SCRIPT), "render", str(project), str(output),
                                *flags], env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    with TreeMemorySampler(process.pid) as memory:
        stdout, stderr = process.communicate()
    shutil.rmtree(project, ignore_errors=True)
    if process.returncode != 0:
        raise RuntimeError(f"the peer failed:\n{stderr[-3000:]}")
    values = dict(re.findall(r"(\w+)=(\S+)", stdout.strip().splitlines()[-1]))
    log = values.get("log", "")
    log_text = Path(log).read_text(errors="replace") if log and Path(log).is_file() else ""
    workers = re.search(r'"workerCount":(\d+)', log_text)
    quality = re.search(r'"quality":"(\w+)"', log_text)
    rendered_in = re.search(r"rendered in ([\d.]+)s", log_text)
    return PeerSample(frames=int(values["frames"]), wall_s=float(values["wall_s"]),
                      output_bytes=int(values["size_bytes"]), peak_rss_bytes=memory.peak_bytes,
                      workers=int(workers.group(1)) if workers else None,
                      quality=quality.group(1) if quality else None,
                      self_reported_s=float(rendered_in.group(1)) if rendered_in else None,
                      log=log)


# --- f. quality ---------------------------------------------------------------------------------


def video_info(path: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [ffprobe_binary(), "-v", "error", "-select_streams", "v:0", "-count_frames",
         "-show_entries", "stream=nb_read_frames,width,height,pix_fmt,codec_name",
         "-of", "json", str(path)], check=True, capture_output=True, text=True)
    stream = json.loads(completed.stdout)["streams"][0]
    return {"frames": int(stream["nb_read_frames"]), "width": int(stream["width"]),
            "height": int(stream["height"]), "pix_fmt": stream.get("pix_fmt"),
            "codec": stream.get("codec_name"), "bytes": path.stat().st_size}


def average_psnr(test: Path, reference: Path) -> float:
    """ffmpeg's psnr filter, average over all frames and planes (inf when identical)."""
    completed = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-nostats", "-i", str(test), "-i", str(reference),
         "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"], capture_output=True, text=True)
    match = re.search(r"PSNR .*average:(\S+)", completed.stderr)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(f"ffmpeg psnr failed:\n{completed.stderr[-2000:]}")
    return float(match.group(1))


def compare(name: str, test: Path, reference: Path, ref_info: dict[str, Any]
            ) -> dict[str, Any]:
    info = video_info(test)
    result: dict[str, Any] = {"name": name, **info, "psnr_db": None, "note": None}
    if (info["width"], info["height"]) != (ref_info["width"], ref_info["height"]):
        result["note"] = (f"size {info['width']}x{info['height']} differs from the lossless "
                          f"render's {ref_info['width']}x{ref_info['height']}; no PSNR")
    elif info["frames"] != ref_info["frames"]:
        result["note"] = (f"{info['frames']} frames, the lossless render has "
                          f"{ref_info['frames']}; no PSNR")
    else:
        value = average_psnr(test, reference)
        result["psnr_db"] = value if value != float("inf") else None
        if value == float("inf"):
            result["note"] = "identical to the lossless render"
    return result


# --- running it ----------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(\d+)x(\d+)\s*", item)
        if not match:
            raise argparse.ArgumentTypeError(f"{item!r} is not WIDTHxHEIGHT")
        sizes.append((int(match.group(1)), int(match.group(2))))
    return sizes


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def machine_info(browser: str | None) -> dict[str, Any]:
    cpu = cpu_model()
    info = resolve_browser(browser)
    return {
        "cores": len(os.sched_getaffinity(0)), "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * PAGE_SIZE / 1e9, 1),
        "platform": platform.platform(), "python": platform.python_version(),
        "hfaction": HFACTION_VERSION, "browser": f"{browser_version(info.path)} ({info.path})",
        "ffmpeg": ffmpeg_version(ffmpeg_binary()),
        "memory_sampler": "psutil" if PSUTIL is not None else "/proc",
        "default_workers": default_workers(),
    }


def bench_size(width: int, height: int, args: argparse.Namespace, files: Sequence[Path],
               scratch: Path, outputs: Path, peer_env: dict[str, str] | None
               ) -> dict[str, Any]:
    label = f"{width}x{height}"
    composition = write_composition(scratch / f"composition-{label}", width, height,
                                    args.seconds, files[0], files[1:])
    # Computed once, so capture-only and end-to-end use the same count by construction.
    workers = args.workers or default_workers()
    # One plan for the capture-only runs, chunked exactly as render_local chunks.
    plan_dir = scratch / f"plan-{label}"
    plan_ = plan(composition, RenderOptions(quality="standard", browser=args.browser,
                                            parallelism=workers), plan_dir)
    log(f"[{label}] {plan_.frames} frames in {len(plan_.chunks)} chunks, {workers} workers")
    ours_out = outputs / f"ours-standard-{label}.mp4"
    peer_out = outputs / f"peer-{label}.mp4"
    captures: list[CaptureSample] = []
    renders: list[RenderSample] = []
    peers: list[PeerSample] = []
    load_before = os.getloadavg()

    def run_capture() -> None:
        sample = measure_capture_only(plan_dir, plan_, workers, args.browser)
        captures.append(sample)
        log(f"  capture-only: {sample.frames} frames in {sample.wall_s:.2f}s = "
            f"{sample.fps:.2f} fps ({sample.workers} workers)")

    def run_ours() -> None:
        sample = measure_end_to_end(composition, ours_out, workers, args.browser)
        renders.append(sample)
        log(f"  end-to-end:   {sample.frames} frames in {sample.wall_s:.2f}s = "
            f"{sample.fps:.2f} fps (plan {sample.plan_s:.2f}s, chunks {sample.chunks_s:.2f}s, "
            f"assemble {sample.assemble_s:.2f}s; peak {sample.peak_rss_bytes / MB:.0f} MB)")

    def run_peer() -> None:
        assert peer_env is not None
        sample = measure_peer(composition, peer_out, scratch, peer_env)
        peers.append(sample)
        log(f"  peer:         {sample.frames} frames in {sample.wall_s:.2f}s = "
            f"{sample.fps:.2f} fps ({sample.workers} workers, quality {sample.quality}, "
            f"self-reported {sample.self_reported_s}s; peak {sample.peak_rss_bytes / MB:.0f} MB)")

    steps: list[Callable[[], None]] = [run_capture, run_ours]
    if peer_env is not None:
        steps.append(run_peer)
    for repetition in range(args.repeats):
        log(f"[{label}] repetition {repetition + 1}/{args.repeats}")
        shift = repetition % len(steps)
        for step in steps[shift:] + steps[:shift]:
            step()
    load_after = os.getloadavg()

    log(f"[{label}] lossless reference render (--crf 0, untimed)")
    lossless_out = outputs / f"ours-lossless-{label}.mp4"
    lossless = measure_end_to_end(composition, lossless_out, workers, args.browser, crf=0)
    reference = video_info(lossless_out)
    quality = [compare("ours (standard)", ours_out, lossless_out, reference)]
    if peers:
        assert peer_env is not None
        peer_quality = compare("peer (defaults)", peer_out, lossless_out, reference)
        log(f"[{label}] the peer's own lossless render (--crf 0, untimed)")
        peer_lossless_out = outputs / f"peer-lossless-{label}.mp4"
        measure_peer(composition, peer_lossless_out, scratch, peer_env, ["--crf", "0"])
        own = compare("peer (defaults) vs its own lossless", peer_out, peer_lossless_out,
                      video_info(peer_lossless_out))
        peer_quality["psnr_vs_own_lossless_db"] = own["psnr_db"]
        peer_quality["own_lossless_bytes"] = peer_lossless_out.stat().st_size
        if own["note"]:
            notes = [peer_quality["note"], f"vs its own lossless render: {own['note']}"]
            peer_quality["note"] = "; ".join(note for note in notes if note)
        quality.append(peer_quality)
    shutil.rmtree(plan_dir, ignore_errors=True)

    capture_fps = median([s.fps for s in captures])
    ours_fps = median([s.fps for s in renders])
    peer_fps = median([s.fps for s in peers])
    return {
        "size": label, "width": width, "height": height, "seconds": args.seconds, "fps": FPS,
        "frames": plan_.frames, "workers": renders[-1].workers, "chunks": len(plan_.chunks),
        "capture_only_fps": capture_fps, "end_to_end_fps": ours_fps,
        "ratio": ours_fps / capture_fps if ours_fps and capture_fps else None,
        "peak_rss_mb": max(s.peak_rss_bytes for s in renders) / MB,
        "peer_fps": peer_fps,
        "speedup_vs_peer": ours_fps / peer_fps if ours_fps and peer_fps else None,
        "peer_peak_rss_mb": max(s.peak_rss_bytes for s in peers) / MB if peers else None,
        "peer_workers": peers[-1].workers if peers else None,
        "peer_quality": peers[-1].quality if peers else None,
        "lossless": {**reference, "wall_s": round(lossless.wall_s, 3)},
        "quality": quality,
        "samples": {"capture_only": [s.to_dict() for s in captures],
                    "end_to_end": [s.to_dict() for s in renders],
                    # the peer's logs are kept only with --keep
                    "peer": [{**s.to_dict(), "log": s.log if args.keep else None}
                             for s in peers]},
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
    }


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict[str, Any]]) -> str:
    headers = ["size", "workers", "capture fps", "e2e fps", "e2e/capture", "peak MB",
               "peer fps", "vs peer", "ours MB", "peer MB", "lossless MB", "PSNR ours",
               "PSNR peer", "peer/own"]
    lines = [headers]
    notes: list[str] = []
    for row in rows:
        by_name = {item["name"]: item for item in row["quality"]}
        ours = by_name.get("ours (standard)", {})
        peer = by_name.get("peer (defaults)")
        for item in row["quality"]:
            if item["note"]:
                notes.append(f"{row['size']} {item['name']}: {item['note']}")
        lines.append([
            row["size"], str(row["workers"]), _fmt(row["capture_only_fps"]),
            _fmt(row["end_to_end_fps"]), _fmt(row["ratio"]), _fmt(row["peak_rss_mb"], 0),
            _fmt(row["peer_fps"]),
            "-" if row["speedup_vs_peer"] is None else f"{row['speedup_vs_peer']:.2f}x",
            _fmt(ours.get("bytes", 0) / MB), "-" if peer is None else _fmt(peer["bytes"] / MB),
            _fmt(row["lossless"]["bytes"] / MB), _fmt(ours.get("psnr_db")),
            "-" if peer is None else _fmt(peer["psnr_db"]),
            "-" if peer is None else _fmt(peer.get("psnr_vs_own_lossless_db")),
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    text = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
            for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text + [f"note: {note}" for note in notes])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark hfaction: capture-only ceiling, end-to-end render, memory, "
        "and (--peer) the HyperFrames CLI on the same GSAP composition.")
    parser.add_argument("--seconds", type=positive_float, default=5.0,
                        help="composition length (default 5; 30 fps)")
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1920x1080,1280x720"),
                        help="comma-separated WIDTHxHEIGHT (default 1920x1080,1280x720)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="workers for capture-only and ours (default: hfaction's default)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="interleaved repetitions per size; medians are reported (default 3)")
    parser.add_argument("--peer", action="store_true",
                        help="also render with the HyperFrames CLI (benchmarks/"
                        "peer_hyperframes.sh; installs node and hyperframes into "
                        "~/.cache/hfaction-bench/peer on first use)")
    parser.add_argument("--browser", default=None, help="Chromium for both (default: hfaction's)")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers to this file")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the rendered MP4s (and the peer's logs) in this folder")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    files = [gsap_file(), *font_files()]
    machine = machine_info(args.browser)
    log(f"machine: {machine['cores']} cores, {machine['cpu']}, {machine['browser']}, "
        f"memory sampled with {machine['memory_sampler']}")
    peer_env: dict[str, str] | None = None
    if args.peer:
        peer_env = peer_environment(args.browser)
        machine["peer"] = install_peer(peer_env)
        log(f"peer: {machine['peer']}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hfaction-bench-") as tmp:
        scratch = Path(tmp)
        outputs = args.keep.resolve() if args.keep else scratch / "outputs"
        outputs.mkdir(parents=True, exist_ok=True)
        for width, height in args.sizes:
            rows.append(bench_size(width, height, args, files, scratch, outputs, peer_env))
    print(table(rows))
    print(f"(medians of {args.repeats} interleaved runs; {args.seconds:g} s at {FPS} fps; "
          f"benchmark took {time.perf_counter() - started:.0f} s)")
    if args.json:
        document = {"command": [sys.executable, *sys.argv], "machine": machine,
                    "settings": {"seconds": args.seconds, "fps": FPS, "repeats": args.repeats,
                                 "workers": args.workers, "peer": args.peer},
                    "results": rows}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
