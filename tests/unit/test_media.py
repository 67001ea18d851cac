"""Media, pure parts: reading <audio>/<video> from markup, timing, and ffmpeg arguments."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from hfaction.errors import MediaAttributeInvalid, MediaNotFound
from hfaction.render.composition import MediaElement, load_project
from hfaction.render.encode import (
    MEDIA_INPUT_OPTIONS,
    MixTrack,
    extract_frames_args,
    mix_args,
    mix_track_filter,
)
from hfaction.render.media import (
    AudioInfo,
    ProbedMedia,
    frame_window,
    mix_track,
    source_frames,
)
from hfaction.render.project import frozen_sha256

ROOT = """<!doctype html><html><body>
<div data-composition-id="main" data-width="64" data-height="64" data-duration="10">
  <audio id="music" src="media/music.mp3" data-start="1" data-volume="0.5"></audio>
  <video src="clips/a.mp4" data-start="2" data-duration="3" data-media-start="1.5"
         data-playback-rate="2" data-has-audio="true"></video>
  <video id="b"><source src="clips/b.webm" type="video/webm"><source src="x.mp4"></video>
  <div data-composition-src="compositions/inner.html" data-composition-id="inner"
       data-start="4" data-duration="2"></div>
</div>
</body></html>
"""
INNER = """<template>
  <div data-composition-id="inner-root" data-width="64" data-height="64">
    <video id="first" src="https://cdn.example/clip.mp4" data-start="0.5"></video>
    <audio src="media/voice.wav" data-start="1" data-duration="5"></audio>
  </div>
</template>
"""


def _project(tmp_path: Path, root: str = ROOT) -> Path:
    (tmp_path / "compositions").mkdir()
    (tmp_path / "index.html").write_text(root)
    (tmp_path / "compositions" / "inner.html").write_text(INNER)
    return tmp_path


def _by_src(media: list[MediaElement]) -> dict[str, MediaElement]:
    return {item.src: item for item in media}


def test_media_elements_are_read_with_absolute_times(tmp_path: Path) -> None:
    media = _by_src(load_project(_project(tmp_path)).media)
    assert sorted(media) == ["clips/a.mp4", "clips/b.webm", "https://cdn.example/clip.mp4",
                             "media/music.mp3", "media/voice.wav"]
    music = media["media/music.mp3"]
    assert (music.tag, music.element_id, music.start, music.duration, music.volume,
            music.has_audio, music.where) == ("audio", "music", 1, None, Fraction(1, 2), True,
                                              "index.html:3")
    clip = media["clips/a.mp4"]
    assert (clip.start, clip.duration, clip.media_start, clip.rate, clip.has_audio,
            clip.ordinal, clip.composition_id) == (2, 3, Fraction(3, 2), 2, True, 0, "main")
    assert media["clips/b.webm"].ordinal == 1  # the first <source> is the one played
    # In a nested composition: absolute start = host start + local start; the host's
    # duration cuts it off; the page knows it under the host's composition id.
    remote = media["https://cdn.example/clip.mp4"]
    assert (remote.start, remote.limit, remote.end, remote.composition_id,
            remote.ordinal) == (Fraction(9, 2), 6, 6, "inner", 0)
    voice = media["media/voice.wav"]
    assert (voice.start, voice.end, voice.where) == (5, 6, "compositions/inner.html:4")


@pytest.mark.parametrize("attribute", ['data-volume="1.5"', 'data-playback-rate="0"',
                                       'data-media-start="-1"', 'data-volume="loud"'])
def test_bad_media_attributes_name_the_element(tmp_path: Path, attribute: str) -> None:
    root = ROOT.replace('data-volume="0.5"', attribute)
    with pytest.raises(MediaAttributeInvalid, match=r"<audio> at index\.html:3"):
        load_project(_project(tmp_path, root))


def test_media_without_src_is_an_error(tmp_path: Path) -> None:
    root = ROOT.replace('src="media/music.mp3" ', "")
    with pytest.raises(MediaNotFound, match=r"index\.html:3 has no src"):
        load_project(_project(tmp_path, root))


def _element(**changes: object) -> MediaElement:
    values: dict[str, object] = {
        "tag": "video", "element_id": "v", "composition_id": "main", "ordinal": 0,
        "src": "v.mp4", "start": Fraction(1), "duration": Fraction(1),
        "media_start": Fraction(0), "volume": Fraction(1), "rate": Fraction(1),
        "has_audio": False, "limit": None, "where": "index.html:1"}
    values.update(changes)
    return MediaElement(**values)  # type: ignore[arg-type]


def test_frame_window_is_the_element_window_in_frames() -> None:
    fps = Fraction(30)
    assert frame_window(_element(), fps, 90) == (30, 60)
    assert frame_window(_element(start=Fraction(1, 100)), fps, 90) == (1, 31)
    assert frame_window(_element(duration=None), fps, 90) == (30, 90)
    assert frame_window(_element(duration=None, limit=Fraction(3, 2)), fps, 90) == (30, 45)
    assert frame_window(_element(start=Fraction(5)), fps, 90) == (150, 150)  # never shown


def test_source_frames_follow_media_start_and_rate() -> None:
    times = [Fraction(i, 30) for i in range(30)]
    fps = Fraction(30)
    item = _element(media_start=Fraction(1, 2))
    assert source_frames(item, times, fps, 30, 33) == [15, 16, 17]
    fast = _element(rate=Fraction(2))
    assert source_frames(fast, times, fps, 30, 34) == [0, 2, 4, 6]
    assert source_frames(fast, times, fps, 44, 47) == [28, 29, 29]  # holds the last frame
    # Variable frame rate: the frame displayed at a time is the last one not later.
    vfr = [Fraction(0), Fraction(1, 20), Fraction(1, 15), Fraction(7, 60), Fraction(2, 15)]
    assert source_frames(_element(), vfr, fps, 30, 35) == [0, 0, 2, 2, 4]


def test_mix_track_places_and_cuts_in_samples(tmp_path: Path) -> None:
    audio = AudioInfo(stream=0, channels=1, duration=Fraction(10))
    item = _element(tag="audio", has_audio=True, start=Fraction(1), duration=Fraction(2),
                    volume=Fraction(1, 2))
    track = mix_track(ProbedMedia(item, tmp_path / "a.wav", audio=audio), 90, Fraction(30))
    assert track is not None
    assert (track.at_sample, track.length, track.volume) == (48_000, 96_000, Fraction(1, 2))
    # Past the end of the video it is cut; a start before 0 skips that much source.
    late = _element(tag="audio", start=Fraction(-1, 2), duration=None, rate=Fraction(2))
    track = mix_track(ProbedMedia(late, tmp_path / "a.wav", audio=audio), 90, Fraction(30))
    assert track is not None
    assert (track.at_sample, track.length, track.media_start) == (0, 144_000, 1)
    silent = _element(tag="audio", volume=Fraction(0))
    assert mix_track(ProbedMedia(silent, tmp_path / "a.wav", audio=audio), 90,
                     Fraction(30)) is None
    after = _element(tag="audio", start=Fraction(4))
    assert mix_track(ProbedMedia(after, tmp_path / "a.wav", audio=audio), 90,
                     Fraction(30)) is None


def test_mix_arguments() -> None:
    mono = MixTrack(path=Path("/p/a.wav"), stream=0, channels=1, at_sample=48_000,
                    length=96_000, media_start=Fraction(1, 4), rate=Fraction(1, 4),
                    volume=Fraction(1, 2))
    chain = mix_track_filter(0, mono)
    assert chain.startswith("[0:a:0]aresample=48000,pan=stereo|c0=c0|c1=c0,atrim=start=0.25")
    assert "atempo=0.5,atempo=0.5," in chain  # 0.25 is two halvings
    assert "atrim=end_sample=96000" in chain and "volume=0.5" in chain
    assert "adelay=delays=48000S:all=1" in chain
    stereo = MixTrack(path=Path("/p/b.m4a"), stream=0, channels=2, at_sample=0, length=None,
                      media_start=Fraction(0), rate=Fraction(1), volume=Fraction(1))
    assert "atempo" not in mix_track_filter(1, stereo)
    args = mix_args("ffmpeg", [mono, stereo], 144_000, Path("/out/mix.m4a"))
    graph = args[args.index("-filter_complex") + 1]
    assert "amix=inputs=2:duration=longest:normalize=0" in graph
    assert graph.endswith("apad=whole_len=144000,atrim=end_sample=144000[mix]")
    assert args[args.index("-c:a") + 1] == "aac" and args[args.index("-ar") + 1] == "48000"
    assert args[args.index("-ac") + 1] == "2"
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "-i"] == ["/p/a.wav",
                                                                          "/p/b.m4a"]
    # Untrusted media: each input may only be a local file read by an audio/video demuxer.
    for index in (i for i, arg in enumerate(args) if arg == "-i"):
        assert args[index - 4:index] == list(MEDIA_INPUT_OPTIONS)
    assert "hls" not in MEDIA_INPUT_OPTIONS[3] and MEDIA_INPUT_OPTIONS[1] == "file"
    with pytest.raises(ValueError):
        mix_args("ffmpeg", [], 10, Path("/out/mix.m4a"))


def test_extract_frames_arguments() -> None:
    args = extract_frames_args("ffmpeg", Path("/p/v.mp4"), 15, 44, Path("/plan/v0"))
    assert args[args.index("-vf") + 1].startswith("select='between(n\\,15\\,44)'")
    assert args[args.index("-frames:v") + 1] == "30"
    assert args[args.index("-i") - 4:args.index("-i")] == list(MEDIA_INPUT_OPTIONS)
    assert args[args.index("-start_number") + 1] == "15"
    assert args[args.index("-fps_mode") + 1] == "passthrough"
    assert args[-1] == "/plan/v0/%06d.jpg"
    # Untagged video is read as BT.709, as a browser reads it; the JPEG is full-range BT.601.
    scale = next(part for part in args[args.index("-vf") + 1].split(",")
                 if part.startswith("scale="))
    assert "in_color_matrix=bt709:out_color_matrix=bt601:out_range=pc" in scale


@pytest.mark.parametrize(("tag", "matrix"), [(None, "bt709"), ("unknown", "bt709"),
                                             ("bt709", "bt709"), ("smpte170m", "smpte170m"),
                                             ("bt470bg", "bt470")])
def test_extract_frames_reads_the_source_matrix(tag: str | None, matrix: str) -> None:
    args = extract_frames_args("ffmpeg", Path("/p/v.mp4"), 0, 9, Path("/plan/v0"),
                               color_space=tag)
    assert f"in_color_matrix={matrix}:" in args[args.index("-vf") + 1]


def test_frozen_sha256_covers_every_file_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"a")
    (tmp_path / "b.jpg").write_bytes(b"b")
    first = frozen_sha256(tmp_path)
    (tmp_path / "b.jpg").write_bytes(b"c")
    assert frozen_sha256(tmp_path) != first
    (tmp_path / "b.jpg").write_bytes(b"b")
    assert frozen_sha256(tmp_path) == first
    assert frozen_sha256(tmp_path / "a.jpg") != first


def test_loop_wraps_source_time() -> None:
    times = [Fraction(i, 30) for i in range(10)]  # a 1/3 s source
    looped = _element(loop=True, start=Fraction(0), duration=Fraction(1))
    assert source_frames(looped, times, Fraction(30), 8, 13, length=Fraction(1, 3)) == \
        [8, 9, 0, 1, 2]
    assert source_frames(_element(start=Fraction(0)), times, Fraction(30), 8, 13,
                         length=Fraction(1, 3)) == [8, 9, 9, 9, 9]
    track = MixTrack(path=Path("/p/a.wav"), stream=0, channels=2, at_sample=0, length=480,
                     media_start=Fraction(0), rate=Fraction(1), volume=Fraction(1), loop=True)
    args = mix_args("ffmpeg", [track], 480, Path("/out/mix.m4a"))
    assert args[args.index("-stream_loop") + 1] == "-1"
    assert args.index("-stream_loop") < args.index("-i")  # an input option
    # The source is not cut at a length: the loop repeats it, the window ends it.
    assert ":end=" not in mix_track_filter(0, track)
    assert "atrim=end_sample=480" in mix_track_filter(0, track)


def test_loop_attribute_is_read(tmp_path: Path) -> None:
    root = ROOT.replace('<audio id="music" ', '<audio id="music" loop ')
    media = _by_src(load_project(_project(tmp_path, root)).media)
    assert media["media/music.mp3"].loop and not media["clips/a.mp4"].loop


def test_a_zero_duration_is_a_zero_length_clip_not_the_whole_source(tmp_path: Path) -> None:
    root = ROOT.replace('data-start="1" data-volume="0.5"',
                        'data-start="1" data-duration="0" data-volume="0.5"')
    music = _by_src(load_project(_project(tmp_path, root)).media)["media/music.mp3"]
    assert music.duration == 0 and music.end == 1
    audio = AudioInfo(stream=0, channels=2, duration=Fraction(10))
    assert mix_track(ProbedMedia(music, tmp_path / "m.mp3", audio=audio), 300,
                     Fraction(30)) is None
    assert frame_window(music, Fraction(30), 300) == (30, 30)
