"""ffmpeg command lines built as data (nothing here runs ffmpeg)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from hfaction.errors import InvalidOption
from hfaction.render.encode import (
    QUALITY_PRESETS,
    EncoderSettings,
    assemble_args,
    chunk_encode_args,
    concat_list,
    count_frames_args,
    encoder_settings,
    even_size,
    source_color_matrix,
    track_timescale,
)

RATES = [Fraction(24), Fraction(25), Fraction(30), Fraction(60), Fraction(30000, 1001),
         Fraction(24000, 1001), Fraction(60000, 1001), Fraction(50), Fraction(240)]


def option(args: list[str], name: str) -> str:
    """The value following ``name`` in an argument list (exactly one occurrence)."""
    assert args.count(name) == 1, f"{name} appears {args.count(name)} times in {args}"
    return args[args.index(name) + 1]


def options(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == name]


def chunk_args(fps: Fraction = Fraction(30), size: tuple[int, int] = (640, 360),
               settings: EncoderSettings | None = None, threads: int = 0) -> list[str]:
    return chunk_encode_args("/opt/ffmpeg", Path("/tmp/out/chunk-0.mp4"), fps=fps,
                             capture_size=size, settings=settings or encoder_settings(),
                             threads=threads)


# --- chunk_encode_args ----------------------------------------------------------------------


def test_chunk_encode_args_input_is_mjpeg_on_stdin() -> None:
    args = chunk_args()
    assert args[0] == "/opt/ffmpeg"
    input_at = args.index("-i")
    assert args[input_at + 1] == "pipe:0"
    before_input = args[:input_at]
    assert before_input[before_input.index("-f") + 1] == "image2pipe"
    assert before_input[before_input.index("-vcodec") + 1] == "mjpeg"
    assert before_input[before_input.index("-framerate") + 1] == "30"
    assert args[-1] == "-y"
    assert "/tmp/out/chunk-0.mp4" in args


@pytest.mark.parametrize(("fps", "text"), [(Fraction(30000, 1001), "30000/1001"),
                                           (Fraction(24000, 1001), "24000/1001"),
                                           (Fraction(25), "25")])
def test_chunk_encode_args_framerate_is_fraction_text(fps: Fraction, text: str) -> None:
    args = chunk_args(fps=fps)
    assert option(args, "-framerate") == text


def test_chunk_encode_args_output_encoding() -> None:
    settings = encoder_settings("high", 18)
    args = chunk_args(settings=settings)
    output_at = args.index("-i")
    after_input = args[output_at + 2:]
    assert option(after_input, "-vcodec") == "libx264"
    assert option(args, "-preset") == "medium"
    assert option(args, "-crf") == "18"
    assert option(args, "-pix_fmt") == "yuv420p"
    assert option(args, "-colorspace") == "bt709"
    assert option(args, "-color_primaries") == "bt709"
    assert option(args, "-color_trc") == "bt709"
    assert option(args, "-color_range") == "tv"
    assert option(after_input, "-f") == "mp4"
    assert "-threads" not in args
    filters = option(args, "-filter_complex")
    assert "out_color_matrix=bt709" in filters
    assert "format=yuv420p" in filters


@pytest.mark.parametrize("quality", list(QUALITY_PRESETS))
def test_chunk_encode_args_follow_the_preset(quality: str) -> None:
    preset, crf, x264_params = QUALITY_PRESETS[quality]
    args = chunk_args(settings=encoder_settings(quality))
    assert option(args, "-preset") == preset
    assert option(args, "-crf") == str(crf)
    if x264_params:
        assert option(args, "-x264-params") == x264_params
    else:
        assert "-x264-params" not in args


def test_chunk_encode_args_threads() -> None:
    assert option(chunk_args(threads=2), "-threads") == "2"


@pytest.mark.parametrize("fps", RATES)
def test_chunk_encode_args_timescales(fps: Fraction) -> None:
    args = chunk_args(fps=fps)
    expected = str(track_timescale(fps))
    assert option(args, "-video_track_timescale") == expected
    assert option(args, "-movie_timescale") == expected


@pytest.mark.parametrize("size", [(640, 360), (1080, 1920), (16, 16)])
def test_chunk_encode_args_no_pad_for_even_sizes(size: tuple[int, int]) -> None:
    assert "pad=" not in option(chunk_args(size=size), "-filter_complex")


@pytest.mark.parametrize(("size", "padded"), [((321, 181), "322:182"), ((320, 181), "320:182"),
                                              ((321, 180), "322:180")])
def test_chunk_encode_args_pad_for_odd_sizes(size: tuple[int, int], padded: str) -> None:
    filters = option(chunk_args(size=size), "-filter_complex")
    assert f"pad={padded}:0:0" in filters
    assert "color=black" in filters
    # Padding happens before the colour conversion and pixel format.
    assert filters.index("pad=") < filters.index("scale=") < filters.index("format=")


# --- track_timescale ---------------------------------------------------------------------------


@pytest.mark.parametrize("fps", RATES)
def test_track_timescale_has_whole_ticks_per_frame(fps: Fraction) -> None:
    timescale = track_timescale(fps)
    ticks_per_frame = Fraction(timescale) * fps.denominator / fps.numerator
    assert ticks_per_frame.denominator == 1
    assert ticks_per_frame >= 1
    assert 10_000 <= timescale < 2**31


def test_track_timescale_values() -> None:
    assert track_timescale(Fraction(30000, 1001)) == 30000
    assert track_timescale(Fraction(30)) % 30 == 0


# --- encoder_settings ------------------------------------------------------------------------


def test_encoder_settings_presets() -> None:
    assert encoder_settings() == EncoderSettings("standard", "libx264", "superfast", 20, "yuv420p",
                                                 "mbtree=1:rc-lookahead=10")
    assert encoder_settings("draft") == EncoderSettings("draft", "libx264", "ultrafast", 28)
    assert encoder_settings("high") == EncoderSettings("high", "libx264", "medium", 16)
    assert encoder_settings("draft", 10).crf == 10
    assert encoder_settings().to_dict() == {"quality": "standard", "codec": "libx264",
                                            "preset": "superfast", "crf": 20,
                                            "pix_fmt": "yuv420p",
                                            "x264_params": "mbtree=1:rc-lookahead=10"}


@pytest.mark.parametrize("crf", [0, 51, 23])
def test_encoder_settings_crf_bounds_accept(crf: int) -> None:
    assert encoder_settings("standard", crf).crf == crf


@pytest.mark.parametrize("crf", [-1, 52, 100])
def test_encoder_settings_crf_bounds_refuse(crf: int) -> None:
    with pytest.raises(InvalidOption) as caught:
        encoder_settings("standard", crf)
    assert caught.value.exit_code == 2
    assert "--crf" in str(caught.value)


@pytest.mark.parametrize("quality", ["ultra", "", "Standard"])
def test_encoder_settings_unknown_quality(quality: str) -> None:
    with pytest.raises(InvalidOption) as caught:
        encoder_settings(quality)
    assert "draft" in str(caught.value) and "high" in str(caught.value)


# --- concat_list, assemble_args ----------------------------------------------------------------


def test_concat_list_lists_absolute_paths_in_order(tmp_path: Path) -> None:
    paths = [tmp_path / "chunk-1.mp4", tmp_path / "chunk-0.mp4"]
    text = concat_list(paths)
    assert text.endswith("\n")
    assert text.splitlines() == [f"file '{tmp_path / 'chunk-1.mp4'}'",
                                 f"file '{tmp_path / 'chunk-0.mp4'}'"]


def test_concat_list_escapes_single_quotes(tmp_path: Path) -> None:
    text = concat_list([tmp_path / "it's here.mp4"])
    assert text == f"file '{tmp_path}/it'\\''s here.mp4'\n"


def test_concat_list_makes_relative_paths_absolute(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert concat_list([Path("a.mp4")]) == f"file '{tmp_path.resolve()}/a.mp4'\n"


def test_assemble_args_without_audio() -> None:
    args = assemble_args("/opt/ffmpeg", Path("/tmp/list.txt"), Path("/tmp/out.mp4"),
                         fps=Fraction(30000, 1001))
    assert args[0] == "/opt/ffmpeg"
    assert options(args, "-i") == ["/tmp/list.txt"]
    before = args[:args.index("-i")]
    assert before[before.index("-f") + 1] == "concat"
    assert before[before.index("-safe") + 1] == "0"
    assert option(args, "-c") == "copy"
    assert option(args, "-movflags") == "+faststart"
    assert options(args, "-map") == ["0:v"]
    assert option(args, "-video_track_timescale") == "30000"
    assert option(args, "-movie_timescale") == "30000"
    assert "/tmp/out.mp4" in args
    assert "-nostdin" in args
    assert args[-1] == "-y"


def test_assemble_args_with_audio() -> None:
    args = assemble_args("ffmpeg", Path("/tmp/list.txt"), Path("/tmp/out.mp4"),
                         fps=Fraction(30), audio=Path("/tmp/mix.m4a"))
    assert options(args, "-i") == ["/tmp/list.txt", "/tmp/mix.m4a"]
    assert options(args, "-map") == ["0:v", "1:a"]
    assert option(args, "-c") == "copy"


def test_count_frames_args() -> None:
    args = count_frames_args("ffprobe", Path("/tmp/a.mp4"))
    assert args[0] == "ffprobe"
    assert "-count_packets" in args
    assert option(args, "-select_streams") == "v:0"
    assert args[-1] == "/tmp/a.mp4"


# --- even_size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "even"), [((640, 360), (640, 360)), ((321, 181), (322, 182)),
                                            ((321, 180), (322, 180)), ((16, 17), (16, 18))])
def test_even_size(size: tuple[int, int], even: tuple[int, int]) -> None:
    assert even_size(*size) == even
    assert all(side % 2 == 0 for side in even_size(*size))


@pytest.mark.parametrize(("tag", "matrix"), [
    (None, "bt709"), ("", "bt709"), ("unknown", "bt709"), ("unspecified", "bt709"),
    ("reserved", "bt709"),  # untagged: BT.709, as Chromium decodes it
    ("bt709", "bt709"), ("smpte170m", "smpte170m"), ("bt470bg", "bt470"),
    ("BT470BG", "bt470"), ("smpte240m", "smpte240m"), ("fcc", "fcc"),
    ("bt2020nc", "bt2020"), ("bt2020c", "bt2020"),
    ("gbr", "auto"), ("ycgco", "auto"),  # no swscale matrix: ffmpeg decides
])
def test_source_color_matrix(tag: str | None, matrix: str) -> None:
    assert source_color_matrix(tag) == matrix
