#!/usr/bin/env python3
"""What issue 5's media and font work costs: planning and rendering with and without it.

    python -m benchmarks.media_bench [--repeats 3] [--workers N] [--json out.json]

Four variants of the render benchmark's GSAP composition (benchmarks/compositions/
gsap-bench) at 1280x720, 30 fps, 6 s, each in its own project folder so that every plan
freezes only its own files; (b), (c) and (d) each add one thing to (a):

a. no media, text in a generic family (``sans-serif``: the plan's frozen DejaVu fallback);
b. + one ``<audio>`` over the whole duration (an 8 s 48 kHz stereo AAC sine);
c. + one muted ``<video>`` over the whole duration (an 8 s 1920x1080 30 fps H.264 testsrc2);
d. + the bundled web font Inter, named and not loaded (hfaction freezes it from the pinned
   @fontsource package; the font cache is filled once before anything is timed).

The media are made by ffmpeg in a temporary folder. Per repetition, in a rotating order:
``hfaction.render.planner.plan`` of each variant (time and plan folder size), the media step of
planning replayed alone for (b) and (c) (``probe_media`` then ``freeze_media``: the
audio mix, or the video's frame extraction), and ``hfaction.render.local.render_local`` of each
variant at the standard preset (fps, and the assemble time, with the mix muxed for (b)).
Every figure is the median over the repetitions, as a ratio to (a) measured in the same
run. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from benchmarks.render_bench import (
    FPS,
    MB,
    gsap_file,
    log,
    machine_info,
    median,
    positive_int,
    write_composition,
)
from hfaction.render.assets import RemoteFetcher
from hfaction.render.composition import load_project
from hfaction.render.encode import ffmpeg_binary, ffprobe_binary
from hfaction.render.fonts import bundled_families, bundled_package, font_cache_dir
from hfaction.render.local import default_workers, render_local
from hfaction.render.media import freeze_media, probe_media
from hfaction.render.options import RenderOptions
from hfaction.render.planner import plan

WIDTH, HEIGHT = 1280, 720
SECONDS = 6
SOURCE_SECONDS = 8
WEB_FONT = "Inter"
AUDIO_FILE = "tone.m4a"
VIDEO_FILE = "clip.mp4"
# The template's text family, loaded with @font-face from the project; every variant
# replaces it (and drops those rules) so that (a) uses no web font at all.
TEMPLATE_FAMILY = 'font-family: "Bench Sans", sans-serif;'
FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}\s*")
MEDIA_ANCHOR = '<div id="b1" class="box"></div>'
VIDEO_STYLE = ("#bench-video { position: absolute; right: 4vw; top: 18vh; width: 36vw; "
               "height: 20.25vw; object-fit: cover; }")


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    family: str  # the root's CSS font-family value
    audio: bool = False
    video: bool = False


VARIANTS = (
    Variant("a", "no media, generic font", "sans-serif"),
    Variant("b", "+ <audio>", "sans-serif", audio=True),
    Variant("c", "+ <video>", "sans-serif", video=True),
    Variant("d", f"+ web font {WEB_FONT}", f"{WEB_FONT}, sans-serif"),
)


# --- the projects --------------------------------------------------------------------


def make_media(folder: Path) -> tuple[Path, Path]:
    """The sources, made by ffmpeg (not timed): an AAC sine and a 1080p testsrc2 clip."""
    folder.mkdir(parents=True, exist_ok=True)
    audio, video = folder / AUDIO_FILE, folder / VIDEO_FILE
    ffmpeg = ffmpeg_binary()
    common = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi"]
    subprocess.run([*common, "-i", f"sine=frequency=440:sample_rate=48000:"
                    f"duration={SOURCE_SECONDS}", "-ac", "2", "-c:a", "aac", "-b:a", "128k",
                    str(audio)], check=True)
    subprocess.run([*common, "-i", f"testsrc2=size=1920x1080:rate=30:duration={SOURCE_SECONDS}",
                    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                    str(video)], check=True)
    return audio, video


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise RuntimeError(f"the benchmark composition must contain {old!r} exactly once")
    return text.replace(old, new)


def write_variant(folder: Path, variant: Variant, gsap: Path, media: tuple[Path, Path]
                  ) -> Path:
    """The composition of ``variant`` in its own folder, with only the files it uses."""
    project = write_composition(folder, WIDTH, HEIGHT, SECONDS, gsap, fonts=())
    (project / "fonts").rmdir()
    index = project / "index.html"
    html, faces = FONT_FACE.subn("", index.read_text(encoding="utf-8"))
    if faces == 0:
        raise RuntimeError("the benchmark composition has no @font-face rules to remove")
    html = _replace_once(html, TEMPLATE_FAMILY, f"font-family: {variant.family};")
    elements = []
    if variant.audio:
        shutil.copyfile(media[0], project / AUDIO_FILE)
        elements.append(f'<audio id="bench-audio" src="{AUDIO_FILE}" data-start="0" '
                        f'data-duration="{SECONDS}"></audio>')
    if variant.video:
        shutil.copyfile(media[1], project / VIDEO_FILE)
        elements.append(f'<video id="bench-video" src="{VIDEO_FILE}" data-start="0" '
                        f'data-duration="{SECONDS}" muted></video>')
        html = _replace_once(html, "</style>", f"  {VIDEO_STYLE}\n  </style>")
    if elements:
        html = _replace_once(html, MEDIA_ANCHOR, "\n    ".join([*elements, MEDIA_ANCHOR]))
    index.write_text(html, encoding="utf-8")
    return project


def warm_font_cache() -> str:
    """Fill hfaction's font cache with the web font's pinned package; say what was done."""
    pin = bundled_families()[WEB_FONT]
    name = pin["package"].rsplit("/", 1)[-1]
    folder = font_cache_dir() / "fontsource" / f"{name}@{pin['version']}"
    was_cached = (folder / ".complete").is_file()
    started = time.perf_counter()
    bundled_package(WEB_FONT, pin)
    how = ("already cached" if was_cached
           else f"fetched from the npm registry in {time.perf_counter() - started:.1f} s")
    return f"{pin['package']}@{pin['version']} {how} ({folder})"


# --- measurements ----------------------------------------------------------------------


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def measure_plan(project: Path, scratch: Path, workers: int, browser: str | None
                 ) -> dict[str, Any]:
    """``plan`` as ``hfaction plan`` runs it (its own browser), and the folder it wrote."""
    plan_dir = Path(tempfile.mkdtemp(prefix="plan-", dir=scratch)) / "plan"
    options = RenderOptions(quality="standard", browser=browser, parallelism=workers)
    started = time.perf_counter()
    plan_ = plan(project, options, plan_dir)
    seconds = time.perf_counter() - started
    frozen: dict[str, int] = {}
    for entry in plan_.to_dict()["frozen"]:
        frozen[entry["kind"]] = frozen.get(entry["kind"], 0) + int(entry["bytes"])
    result = {"seconds": seconds, "bytes": folder_bytes(plan_dir), "frozen_bytes": frozen,
              "frames": plan_.frames, "chunks": len(plan_.chunks)}
    shutil.rmtree(plan_dir.parent, ignore_errors=True)
    return result


def measure_media_step(project: Path, scratch: Path, frames: int) -> dict[str, Any]:
    """Planning's media step alone, with the same library calls: probe, then mix/extract."""
    composition = load_project(project)
    work = Path(tempfile.mkdtemp(prefix="media-", dir=scratch))
    fetcher = RemoteFetcher(work / "remote")
    started = time.perf_counter()
    probed = probe_media(composition, project, fetcher)
    probed_at = time.perf_counter()
    freeze_media(probed, work, ffmpeg=ffmpeg_binary(), fps=Fraction(FPS), frames=frames)
    ended = time.perf_counter()
    shutil.rmtree(work, ignore_errors=True)
    return {"probe_s": probed_at - started, "freeze_s": ended - probed_at}


def audio_streams(path: Path) -> int:
    completed = subprocess.run(
        [ffprobe_binary(), "-v", "error", "-select_streams", "a", "-show_entries",
         "stream=index", "-of", "json", str(path)], check=True, capture_output=True, text=True)
    return len(json.loads(completed.stdout).get("streams") or [])


def measure_render(project: Path, output: Path, variant: Variant, workers: int,
                   browser: str | None) -> dict[str, Any]:
    """render_local at the standard preset, timed from the call to its return."""
    options = RenderOptions(quality="standard", browser=browser)
    started = time.perf_counter()
    result = render_local(project, output, options, workers=workers)
    wall = time.perf_counter() - started
    streams = audio_streams(output)
    if streams != int(variant.audio):
        raise RuntimeError(f"({variant.key}) rendered {streams} audio streams, expected "
                           f"{int(variant.audio)}")
    return {"fps": result.plan.frames / wall, "wall_s": wall, "frames": result.plan.frames,
            "workers": result.workers, "chunks": len(result.plan.chunks),
            "plan_s": result.plan_seconds, "assemble_s": result.output.seconds,
            "output_bytes": result.output.bytes}


# --- running it ----------------------------------------------------------------------


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def _medians(samples: list[dict[str, Any]], key: str) -> float | None:
    return median([float(sample[key]) for sample in samples])


def summarize(plans: dict[str, list[dict[str, Any]]], media: dict[str, list[dict[str, Any]]],
              renders: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    base_plan_s = _medians(plans["a"], "seconds")
    base_plan_b = _medians(plans["a"], "bytes")
    base_fps = _medians(renders["a"], "fps")
    base_assemble = _medians(renders["a"], "assemble_s")
    for variant in VARIANTS:
        plan_s = _medians(plans[variant.key], "seconds")
        plan_b = _medians(plans[variant.key], "bytes")
        steps = media.get(variant.key, [])
        freeze_s = _medians(steps, "freeze_s")
        fps = _medians(renders[variant.key], "fps")
        assemble_s = _medians(renders[variant.key], "assemble_s")
        rows.append({
            "variant": variant.key, "label": variant.label,
            "plan_s": plan_s, "plan_ratio": _ratio(plan_s, base_plan_s),
            "plan_mb": None if plan_b is None else plan_b / MB,
            "plan_size_ratio": _ratio(plan_b, base_plan_b),
            "probe_s": _medians(steps, "probe_s"), "freeze_s": freeze_s,
            "freeze_share": _ratio(freeze_s, plan_s),
            "e2e_fps": fps, "fps_ratio": _ratio(fps, base_fps),
            "assemble_s": assemble_s, "assemble_ratio": _ratio(assemble_s, base_assemble),
            "samples": {"plan": plans[variant.key], "media_step": steps,
                        "render": renders[variant.key]},
        })
    return rows


def _fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _grid(headers: list[str], lines: list[list[str]]) -> str:
    everything = [headers, *lines]
    widths = [max(len(line[i]) for line in everything) for i in range(len(headers))]
    text = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                      for i, (cell, width) in enumerate(zip(line, widths, strict=True)))
            for line in everything]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def table(rows: list[dict[str, Any]]) -> str:
    planning = _grid(
        ["planning", "plan s", "vs a", "plan MB", "vs a", "probe s", "mix/extract s",
         "share of plan"],
        [[f"({row['variant']}) {row['label']}", _fmt(row["plan_s"]),
          _fmt(row["plan_ratio"], suffix="x"), _fmt(row["plan_mb"]),
          _fmt(row["plan_size_ratio"], suffix="x"), _fmt(row["probe_s"]),
          _fmt(row["freeze_s"]),
          "-" if row["freeze_share"] is None else f"{100 * row['freeze_share']:.0f} %"]
         for row in rows])
    rendering = _grid(
        ["rendering", "e2e fps", "vs a", "assemble s", "vs a"],
        [[f"({row['variant']}) {row['label']}", _fmt(row["e2e_fps"]),
          _fmt(row["fps_ratio"], suffix="x"), _fmt(row["assemble_s"]),
          _fmt(row["assemble_ratio"], suffix="x")] for row in rows])
    return f"{planning}\n\n{rendering}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark what audio, video elements and a bundled web font cost "
        "hfaction at planning and rendering (1280x720, 30 fps, 6 s).")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="interleaved repetitions; medians are reported (default 3)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="render workers (default: hfaction.render.local.default_workers())")
    parser.add_argument("--browser", default=None, help="Chromium to use (default: hfaction's)")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers to this file")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    workers = args.workers or default_workers()
    machine = machine_info(args.browser)
    log(f"machine: {machine['cores']} cores, {machine['cpu']}, {machine['browser']}; "
        f"{workers} render workers")
    font_cache = warm_font_cache()
    log(f"font cache (filled before timing): {font_cache}")
    plans: dict[str, list[dict[str, Any]]] = {v.key: [] for v in VARIANTS}
    media: dict[str, list[dict[str, Any]]] = {v.key: [] for v in VARIANTS if v.audio or v.video}
    renders: dict[str, list[dict[str, Any]]] = {v.key: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="hfaction-media-bench-") as tmp:
        scratch = Path(tmp)
        sources = make_media(scratch / "sources")
        gsap = gsap_file()
        projects = {v.key: write_variant(scratch / f"project-{v.key}", v, gsap, sources)
                    for v in VARIANTS}
        # Untimed: the first browser launch and plan of the run pay for cold caches.
        frames = measure_plan(projects["a"], scratch, workers, args.browser)["frames"]
        steps: list[tuple[str, Callable[[], None]]] = []
        for variant in VARIANTS:
            project = projects[variant.key]

            def run_plan(v: Variant = variant, p: Path = project) -> None:
                plans[v.key].append(measure_plan(p, scratch, workers, args.browser))

            def run_render(v: Variant = variant, p: Path = project) -> None:
                renders[v.key].append(measure_render(p, scratch / f"out-{v.key}.mp4", v,
                                                     workers, args.browser))

            steps += [(f"plan {variant.key}", run_plan), (f"render {variant.key}", run_render)]
            if variant.key in media:

                def run_media(v: Variant = variant, p: Path = project) -> None:
                    media[v.key].append(measure_media_step(p, scratch, frames))

                steps.append((f"media step {variant.key}", run_media))
        load_before = os.getloadavg()
        for repetition in range(args.repeats):
            # Rotate the order so that a slow phase of the machine hits every step alike.
            shift = repetition * len(steps) // args.repeats
            for name, step in steps[shift:] + steps[:shift]:
                log(f"repetition {repetition + 1}/{args.repeats}: {name}")
                step()
        load_after = os.getloadavg()
    rows = summarize(plans, media, renders)
    print(table(rows))
    print(f"(medians of {args.repeats} interleaved runs; {WIDTH}x{HEIGHT}, {SECONDS} s at {FPS} "
          f"fps, {frames} frames; {workers} workers, standard preset; font cache warm; "
          f"benchmark took {time.perf_counter() - started:.0f} s)")
    if args.json:
        document = {"command": [sys.executable, *sys.argv], "machine": machine,
                    "settings": {"width": WIDTH, "height": HEIGHT, "seconds": SECONDS,
                                 "fps": FPS, "repeats": args.repeats, "workers": workers,
                                 "web_font": WEB_FONT, "font_cache": font_cache},
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after],
                    "results": rows}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
