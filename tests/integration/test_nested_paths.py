"""Relative URLs in a nested composition lead where HyperFrames takes them, in planning and
in the page alike: ``../x`` from the composition's folder; ``x`` beside the composition when
it is there, else from the entry document's folder. Real browser and ffmpeg.

tests/fixtures/nested-paths holds the markup; its images, video and audio are written here
(no binaries in git). Every wrong resolution either fails the render (a file not in the
project) or shows a decoy: white files at the paths the entry document would have used.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

from hfaction.render import RenderOptions, render_local
from tests.integration.conftest import decode_rgb
from tests.integration.media_support import copy_fixture, stream_types, tone, write_wav
from tests.integration.test_nested_css import assert_colours

WHITE = (255, 255, 255)
# project path -> colour; cells are 64x40, six to a row.
IMAGES = {
    "assets/a.png": (255, 0, 0),  # ../assets/a.png
    "compositions/b.png": (0, 255, 0), "b.png": WHITE,  # b.png, beside
    "assets/c.png": (0, 0, 255),  # assets/c.png: not beside, so the project's
    "compositions/d.png": (0, 255, 255), "d.png": WHITE,  # style="" url(d.png)
    "assets/e.png": (255, 128, 0),  # <style> url("../assets/e.png")
    "compositions/f.png": (128, 0, 255), "f.png": WHITE,  # @import "card.css" -> url(f.png)
    "compositions/g.png": (255, 255, 0), "g.png": WHITE,  # compositions/parts: ../g.png
    "compositions/s.png": (128, 128, 128), "s.png": WHITE,  # srcset="s.png 1x"
    "compositions/k.png": (0, 128, 0), "k.png": WHITE,  # <link href="more.css"> -> url(k.png)
    "assets/m.png": (128, 0, 0),  # <style> url(assets/m.png): the project's
}
CLIP = (255, 0, 255)  # compositions/clip.mp4, <video src="clip.mp4">


def write_png(path: Path, colour: tuple[int, int, int], size: int = 8) -> None:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + bytes(colour) * size for _ in range(size))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def nested_paths_project(tmp_path: Path) -> Path:
    project = copy_fixture("nested-paths", tmp_path)
    for relative, colour in IMAGES.items():
        write_png(project / relative, colour)
    hex_colour = "0x" + "".join(f"{value:02X}" for value in CLIP)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c={hex_colour}:s=64x40:r=30:d=1", "-c:v", "libx264", "-qp", "0",
                    # ffmpeg converts with BT.601; tagged so, the clip decodes to its colour
                    # (untagged video is read as BT.709, as Chromium reads it).
                    "-colorspace", "smpte170m", "-color_primaries", "smpte170m",
                    "-color_trc", "smpte170m",
                    "-pix_fmt", "yuv444p", str(project / "compositions" / "clip.mp4")],
                   check=True)
    write_wav(project / "compositions" / "tone.wav", tone(0.5))
    return project


def test_relative_urls_in_a_nested_composition_resolve_as_in_hyperframes(
        tmp_path: Path) -> None:
    out = tmp_path / "nested-paths.mp4"
    result = render_local(nested_paths_project(tmp_path), out, RenderOptions(crf=0), workers=1)
    # Planning found the composition's <audio src="tone.wav"> beside it, and mixed it.
    assert result.plan.audio is not None
    assert "audio" in stream_types(out)
    assert result.plan.runtime["files"] == sorted(
        path for path in [*IMAGES, "compositions/clip.mp4", "compositions/tone.wav",
                          "compositions/card.html", "compositions/card.css",
                          "compositions/more.css", "compositions/card.js",
                          "compositions/parts/badge.html"]
        if path.startswith("compositions/"))

    def at(column: int, row: int) -> tuple[int, int]:
        return column * 64 + 27, row * 40 + 15

    assert_colours(decode_rgb(out)[0], {
        "<img src=../assets/a.png>": (at(0, 0), IMAGES["assets/a.png"]),
        "<img src=b.png> beside": (at(1, 0), IMAGES["compositions/b.png"]),
        "<img src=assets/c.png> the project's": (at(2, 0), IMAGES["assets/c.png"]),
        "<video src=clip.mp4> beside": (at(3, 0), CLIP),
        "style='' url(d.png) beside": (at(4, 0), IMAGES["compositions/d.png"]),
        "<style> url(../assets/e.png)": (at(5, 0), IMAGES["assets/e.png"]),
        "<style> @import card.css, its url(f.png)": (at(0, 1), IMAGES["compositions/f.png"]),
        "compositions/parts/badge.html: ../g.png": (at(1, 1), IMAGES["compositions/g.png"]),
        "<script src=card.js> beside": (at(2, 1), (0, 128, 255)),
        "<img srcset=s.png> beside": (at(3, 1), IMAGES["compositions/s.png"]),
        "<link href=more.css> beside, its url(k.png)": (at(4, 1), IMAGES["compositions/k.png"]),
        "<style> url(assets/m.png) the project's": (at(5, 1), IMAGES["assets/m.png"]),
    })
