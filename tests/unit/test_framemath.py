"""Frame rates, frame counts, frame times and chunk splitting (pure arithmetic)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from hfaction.errors import InvalidDuration, InvalidFps, InvalidOption
from hfaction.render.framemath import (
    MAX_AUTO_CHUNK,
    MIN_AUTO_CHUNK,
    auto_chunk_size,
    format_fps,
    frame_count,
    frame_time,
    parse_duration,
    parse_fps,
    split_chunks,
    split_frames,
)

# --- parse_fps ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (30, Fraction(30)),
        ("30", Fraction(30)),
        (" 60 ", Fraction(60)),
        ("24", Fraction(24)),
        ("29.97", Fraction(30000, 1001)),
        (29.97, Fraction(30000, 1001)),
        ("23.976", Fraction(24000, 1001)),
        ("59.94", Fraction(60000, 1001)),
        ("30000/1001", Fraction(30000, 1001)),
        ("24000/1001", Fraction(24000, 1001)),
        ("12.5", Fraction(25, 2)),
        ("240", Fraction(240)),
        (Fraction(25), Fraction(25)),
    ],
)
def test_parse_fps_accepts_rates_exactly(value: object, expected: Fraction) -> None:
    result = parse_fps(value)  # type: ignore[arg-type]
    assert isinstance(result, Fraction)
    assert result == expected


def test_parse_fps_ntsc_is_not_the_decimal() -> None:
    assert parse_fps("29.97") != Fraction("29.97")


@pytest.mark.parametrize(
    "value",
    ["abc", "", "thirty", "30/0", "nan", 0, "0", "0/1001", -30, "-29.97", "240.001", 241,
     "1000", Fraction(-1), Fraction(0)],
)
def test_parse_fps_rejects_invalid_rates(value: object) -> None:
    with pytest.raises(InvalidFps) as caught:
        parse_fps(value)  # type: ignore[arg-type]
    assert caught.value.exit_code == 2
    assert caught.value.code == "INVALID_FPS"


def test_parse_fps_error_names_where_and_value() -> None:
    with pytest.raises(InvalidFps) as caught:
        parse_fps("fast", where="data-fps at index.html:3")
    message = str(caught.value)
    assert "data-fps at index.html:3" in message
    assert "fast" in message
    assert "\n" not in message


def test_format_fps() -> None:
    assert format_fps(Fraction(30)) == "30"
    assert format_fps(Fraction(30000, 1001)) == "30000/1001"
    assert format_fps(parse_fps("23.976")) == "24000/1001"


# --- parse_duration -------------------------------------------------------------------


def test_parse_duration_is_exact() -> None:
    assert parse_duration("5.2") == Fraction(26, 5)
    assert parse_duration(" 2.5 ") == Fraction(5, 2)
    assert parse_duration("0") == 0


@pytest.mark.parametrize("value", ["abc", "", "-1", "1/0"])
def test_parse_duration_rejects(value: str) -> None:
    with pytest.raises(InvalidDuration) as caught:
        parse_duration(value)
    assert caught.value.exit_code == 2


# --- frame_count ------------------------------------------------------------------------


def _contract_frame_count(duration: Fraction, fps: Fraction) -> int:
    """The contract's formula, written independently of the module."""
    exact = duration * fps
    nearest = round(exact)
    if abs(exact - nearest) <= Fraction(1, 1000):
        return int(nearest)
    return math.ceil(exact)


@pytest.mark.parametrize(
    ("duration", "fps", "expected"),
    [
        ("5", "30", 150),
        ("2", "30", 60),
        ("1.0001", "30", 31),  # 30.003: 0.003 > 1e-3 from 30, so ceil
        ("1.00001", "30", 30),  # 30.0003: within 1e-3 of 30, so round
        ("1.00003", "30", 30),  # 30.0009: still within 1e-3
        ("10.01", "30000/1001", 300),  # exactly 300
        ("10", "30000/1001", 300),  # 299.7002...: ceil
        ("1.2", "30000/1001", 36),  # 35.964...: ceil
        ("0.5", "30000/1001", 15),  # 14.985...: ceil
        ("1", "30000/1001", 30),  # 29.97...: ceil
        ("0.0333", "30", 1),  # 0.999: within 1e-3 of 1
        ("0.01", "30", 1),  # 0.3: ceil
        ("3.3333", "30", 100),  # 99.999: within 1e-3
        ("3.3331", "30", 100),  # 99.993: ceil
        ("3.3", "30", 99),  # exactly 99
        ("0", "30", 0),
    ],
)
def test_frame_count_follows_the_contract(duration: str, fps: str, expected: int) -> None:
    d, f = Fraction(duration), parse_fps(fps)
    assert frame_count(d, f) == expected
    assert _contract_frame_count(d, f) == expected


def test_frame_count_matches_formula_on_a_grid() -> None:
    for fps_text in ("24", "25", "30", "60", "30000/1001", "24000/1001"):
        fps = parse_fps(fps_text)
        for thousandths in range(0, 5000, 37):
            duration = Fraction(thousandths, 1000)
            assert frame_count(duration, fps) == _contract_frame_count(duration, fps)


# --- frame_time -------------------------------------------------------------------------


def test_frame_time_is_exact() -> None:
    assert frame_time(0, Fraction(30)) == 0
    assert frame_time(30, Fraction(30)) == 1
    assert frame_time(1, Fraction(30)) == Fraction(1, 30)
    ntsc = Fraction(30000, 1001)
    assert frame_time(1, ntsc) == Fraction(1001, 30000)
    assert frame_time(30000, ntsc) == 1001
    assert isinstance(frame_time(7, ntsc), Fraction)
    # k / fps, exactly, for every frame: no float drift over long renders.
    assert all(frame_time(k, ntsc) * ntsc == k for k in range(0, 100_000, 997))


# --- split_chunks -----------------------------------------------------------------------


@pytest.mark.parametrize(("frames", "size"), [(100, 30), (90, 30), (1, 1), (1, 50), (150, 7),
                                              (899, 900), (901, 900)])
def test_split_chunks_covers_all_frames_without_overlap(frames: int, size: int) -> None:
    chunks = split_chunks(frames, size)
    assert chunks[0][0] == 0
    assert chunks[-1][1] == frames
    for (_, end), (next_start, _) in itertools.pairwise(chunks):
        assert end == next_start
    covered = [frame for start, end in chunks for frame in range(start, end)]
    assert covered == list(range(frames))
    assert all(0 < end - start <= size for start, end in chunks)
    assert len(chunks) == math.ceil(frames / size)


def test_split_chunks_last_chunk_is_shorter() -> None:
    assert split_chunks(100, 30) == [(0, 30), (30, 60), (60, 90), (90, 100)]
    assert split_chunks(90, 30) == [(0, 30), (30, 60), (60, 90)]


@pytest.mark.parametrize("frames", [0, -5])
def test_split_chunks_rejects_no_frames(frames: int) -> None:
    with pytest.raises(InvalidDuration) as caught:
        split_chunks(frames, 10)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("size", [0, -1])
def test_split_chunks_rejects_bad_chunk_size(size: int) -> None:
    with pytest.raises(InvalidOption) as caught:
        split_chunks(100, size)
    assert caught.value.exit_code == 2
    assert str(size) in str(caught.value)


# --- auto_chunk_size ---------------------------------------------------------------------


@pytest.mark.parametrize("frames", [1, 5, 29, 30, 31, 100, 150, 600, 1800, 5000, 100_000])
@pytest.mark.parametrize("parallelism", [0, 1, 2, 4, 16, 200])
def test_auto_chunk_size_bounds(frames: int, parallelism: int) -> None:
    size = auto_chunk_size(frames, parallelism)
    assert 1 <= size <= frames
    assert size <= MAX_AUTO_CHUNK
    assert size >= min(frames, MIN_AUTO_CHUNK)


def test_auto_chunk_size_values() -> None:
    assert auto_chunk_size(10, 4) == 10  # never larger than the render
    assert auto_chunk_size(600, 4) == 150  # 4 chunks: one per worker
    assert auto_chunk_size(600, 1) == 600
    assert auto_chunk_size(100, 16) == MIN_AUTO_CHUNK
    assert auto_chunk_size(100_000, 1) == MAX_AUTO_CHUNK
    assert auto_chunk_size(600, 0) == auto_chunk_size(600, 1)
    assert auto_chunk_size(600, 2, chunks_per_worker=2) == 150


@pytest.mark.parametrize(("start", "end", "parts", "expected"), [
    (0, 10, 1, [(0, 10)]),
    (0, 10, 3, [(0, 3), (3, 6), (6, 10)]),
    (30, 60, 2, [(30, 45), (45, 60)]),
    (5, 7, 4, [(5, 6), (6, 7)]),  # never an empty part
])
def test_split_frames_cuts_contiguous_parts(start: int, end: int, parts: int,
                                            expected: list[tuple[int, int]]) -> None:
    got = split_frames(start, end, parts)
    assert got == expected
    assert [b for _a, b in got[:-1]] == [a for a, _b in got[1:]]


def test_split_frames_refuses_no_pipeline() -> None:
    with pytest.raises(InvalidOption, match="at least 1"):
        split_frames(0, 10, 0)
