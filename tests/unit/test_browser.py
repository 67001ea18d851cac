"""Browser flags and locating a browser (nothing here starts Chromium)."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hfaction.errors import BrowserNotFound
from hfaction.render.browser import NO_EGRESS_ARGS, BrowserInfo, launch_args, resolve_browser

SWIFTSHADER = ["--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
BEGIN_FRAME = ["--enable-begin-frame-control", "--deterministic-mode",
               "--run-all-compositor-stages-before-draw"]
SHELL = BrowserInfo("/opt/chrome-headless-shell", "headless-shell")
CHROMIUM = BrowserInfo("/usr/bin/chromium", "chromium")


@pytest.mark.parametrize("browser", [SHELL, CHROMIUM], ids=["headless-shell", "chromium"])
def test_launch_args_always_software_rendered(browser: BrowserInfo) -> None:
    args = launch_args(browser)
    for flag in SWIFTSHADER:
        assert flag in args
    assert "--force-color-profile=srgb" in args
    assert "--disable-dev-shm-usage" in args
    assert len(args) == len(set(args))
    assert all(arg.startswith("--") for arg in args)


@pytest.mark.parametrize("browser", [SHELL, CHROMIUM], ids=["headless-shell", "chromium"])
def test_launch_args_leave_no_way_out_of_the_browser(browser: BrowserInfo) -> None:
    # Issue 13: routing sees HTTP(S) only, so the network stack itself must not connect
    # (WebSockets, WebTransport, WebRTC, from workers too): tests/integration/test_egress.py.
    args = launch_args(browser)
    assert set(NO_EGRESS_ARGS) <= set(args)
    proxies = [arg.split("=", 1)[1] for arg in args if arg.startswith("--proxy-server=")]
    assert len(proxies) == 1
    # A proxy that cannot be reached, and no DIRECT fallback after it.
    host = urlsplit(proxies[0]).hostname or ""
    assert host.endswith(".invalid") and ";" not in proxies[0] and "direct" not in proxies[0]
    # Chromium sends loopback around the proxy unless told otherwise.
    assert "--proxy-bypass-list=<-loopback>" in args
    assert "--host-resolver-rules=MAP * ~NOTFOUND" in args
    assert "--force-webrtc-ip-handling-policy=disable_non_proxied_udp" in args


def test_launch_args_begin_frame_only_for_headless_shell() -> None:
    shell_args = launch_args(SHELL)
    chromium_args = launch_args(CHROMIUM)
    for flag in BEGIN_FRAME:
        assert flag in shell_args
        assert flag not in chromium_args
    assert not any("begin-frame" in arg for arg in chromium_args)


def test_begin_frame_follows_kind() -> None:
    assert SHELL.begin_frame is True
    assert CHROMIUM.begin_frame is False


def test_resolve_browser_nonexistent_explicit_path(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HFACTION_BROWSER", raising=False)
    missing = str(tmp_path / "no-such-chrome")
    with pytest.raises(BrowserNotFound) as caught:
        resolve_browser(missing)
    assert caught.value.exit_code == 1
    assert caught.value.code == "BROWSER_NOT_FOUND"
    assert missing in str(caught.value)
    assert "\n" not in str(caught.value)


def test_resolve_browser_explicit_beats_environment(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFACTION_BROWSER", str(tmp_path / "from-env"))
    missing = str(tmp_path / "explicit")
    with pytest.raises(BrowserNotFound) as caught:
        resolve_browser(missing)
    assert missing in str(caught.value)
    assert "from-env" not in str(caught.value)


def test_resolve_browser_environment_when_not_explicit(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFACTION_BROWSER", str(tmp_path / "from-env"))
    with pytest.raises(BrowserNotFound) as caught:
        resolve_browser(None)
    assert "from-env" in str(caught.value)


@pytest.mark.parametrize(("name", "kind"), [("chrome-headless-shell", "headless-shell"),
                                            ("headless_shell", "headless-shell"),
                                            ("chromium", "chromium"), ("chrome", "chromium")])
def test_resolve_browser_explicit_file_and_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                name: str, kind: str) -> None:
    monkeypatch.delenv("HFACTION_BROWSER", raising=False)
    binary = tmp_path / name
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    info = resolve_browser(str(binary))
    assert info.path == str(binary)
    assert info.kind == kind
    assert info.begin_frame is (kind == "headless-shell")
