"""``assemble``: check every chunk, join them by stream copy, mux audio, moov first."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from hfaction import proc
from hfaction.errors import ChunkIncomplete, ChunkMissing, EncodeFailed
from hfaction.render.encode import (
    assemble_args,
    concat_list,
    count_frames_args,
    ffmpeg_binary,
    ffprobe_binary,
)
from hfaction.render.planner import Plan, load_plan


@dataclass
class AssembleResult:
    path: Path
    frames: int
    duration: float
    width: int
    height: int
    bytes: int
    plan_hash: str
    seconds: float
    fps: Fraction

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "frames": self.frames, "duration": self.duration,
                "width": self.width, "height": self.height, "bytes": self.bytes,
                "plan_hash": self.plan_hash, "seconds": round(self.seconds, 3)}


def probe_video(path: Path) -> tuple[int, int, int]:
    """(frames, width, height) of a file's first video stream."""
    completed = proc.run(count_frames_args(ffprobe_binary(), path), what=f"ffprobe {path.name}",
                         error=EncodeFailed, timeout=120)
    streams = json.loads(completed.stdout or b"{}").get("streams") or [{}]
    stream = streams[0]
    return (int(stream.get("nb_read_packets", 0)), int(stream.get("width", 0)),
            int(stream.get("height", 0)))


def _checked_chunks(plan_: Plan, chunk_paths: list[Path]) -> list[Path]:
    expected = plan_.chunks
    if len(chunk_paths) != len(expected):
        raise ChunkMissing(
            f"plan {plan_.hash[:12]} has {len(expected)} chunks, {len(chunk_paths)} were given"
        )
    for index, (path, (start, end)) in enumerate(zip(chunk_paths, expected, strict=True)):
        if not path.is_file():
            raise ChunkMissing(f"chunk {index} (frames {start}..{end - 1}) is missing: {path}",
                               hint="render the chunk again")
        try:
            frames, width, height = probe_video(path)
        except EncodeFailed:
            frames, width, height = 0, 0, 0
        if frames != end - start or (width, height) != plan_.output_size:
            raise ChunkIncomplete(
                f"chunk {index} ({path}) has {frames} frames at {width}x{height}; the plan "
                f"expects {end - start} at {plan_.output_size[0]}x{plan_.output_size[1]}",
                hint="render the chunk again",
            )
    return chunk_paths


def assemble(plan_dir: Path, chunk_paths: list[Path], out: Path) -> AssembleResult:
    """Join ``chunk_paths`` (in chunk order) into ``out``; nothing is left behind on failure."""
    started = time.perf_counter()
    plan_ = load_plan(plan_dir, verify_files=False)
    chunks = _checked_chunks(plan_, chunk_paths)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    audio = plan_dir / plan_.audio if plan_.audio else None
    with tempfile.TemporaryDirectory(prefix="hfaction-assemble-") as scratch:
        list_file = Path(scratch) / "chunks.txt"
        list_file.write_text(concat_list(chunks))
        try:
            proc.run(assemble_args(ffmpeg_binary(), list_file, partial, fps=plan_.fps,
                                   audio=audio),
                     what="ffmpeg joining chunks", error=EncodeFailed)
            frames, width, height = probe_video(partial)
            if frames != plan_.frames:
                raise ChunkIncomplete(f"the joined video has {frames} frames; the plan has "
                                      f"{plan_.frames}")
            os.replace(partial, out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return AssembleResult(path=out, frames=frames, duration=plan_.frames / float(plan_.fps),
                          width=width, height=height, bytes=out.stat().st_size,
                          plan_hash=plan_.hash, seconds=time.perf_counter() - started,
                          fps=plan_.fps)
