"""Remote asset helpers that need no network: stylesheet references and the asset cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfaction.render.assets import RemoteFetcher, _cache_path, css_references

BASE = "https://cdn.example.com/lib/css/main.css"


def test_css_references_url_forms_resolve_relative_to_the_stylesheet() -> None:
    css = """
    @font-face { font-family: A; src: url(fonts/a.woff2) format("woff2"),
                 url('../b.woff') format("woff"); }
    .x { background: url( "/img/c.png" ); }
    .y { background-image: url("https://other.example.org/d.svg"); }
    """
    assert css_references(css, BASE) == [
        "https://cdn.example.com/lib/css/fonts/a.woff2",
        "https://cdn.example.com/lib/b.woff",
        "https://cdn.example.com/img/c.png",
        "https://other.example.org/d.svg",
    ]


def test_css_references_imports() -> None:
    css = ('@import "theme.css";\n@import \'print.css\' print;\n'
           '@import url("https://fonts.googleapis.com/css2?family=Inter:wght@400;700");')
    assert css_references(css, BASE) == [
        "https://cdn.example.com/lib/css/theme.css",
        "https://cdn.example.com/lib/css/print.css",
        "https://fonts.googleapis.com/css2?family=Inter:wght@400;700",
    ]


def test_css_references_skips_data_uris_and_duplicates() -> None:
    css = (".a{background:url(data:image/png;base64,iVBORw0KGgo=)}"
           ".b{background:url('data:image/svg+xml;utf8,<svg/>')}"
           ".c{background:url(x.png)} .d{background:url('x.png')}")
    assert css_references(css, BASE) == ["https://cdn.example.com/lib/css/x.png"]


def test_css_references_only_http() -> None:
    assert css_references(".a{background:url(x.png)}", "file:///tmp/a.css") == []
    assert css_references("", BASE) == []


def write(root: Path, relative: str, text: str = "x") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cache_path_finds_host_and_path(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cached = write(cache, "cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js")
    url = "https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js"
    assert _cache_path(cache, url) == cached
    assert _cache_path(cache, "https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/other.js") is None


def test_cache_path_with_query(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with_query = write(cache, "fonts.googleapis.com/css2?family=Inter")
    plain = write(cache, "fonts.example.com/a.css")
    assert _cache_path(cache, "https://fonts.googleapis.com/css2?family=Inter") == with_query
    assert _cache_path(cache, "https://fonts.example.com/a.css?v=2") == plain


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/a/../../secret.txt",
        "https://cdn.example.com/a/%2e%2e/%2e%2e/secret.txt",
        "https://cdn.example.com/../secret.txt",
        "https:///secret.txt",
    ],
)
def test_cache_path_refuses_dot_dot(tmp_path: Path, url: str) -> None:
    cache = tmp_path / "cache"
    write(cache, "cdn.example.com/a/x.js")
    write(tmp_path, "secret.txt", "credentials")
    write(tmp_path, "cache/secret.txt", "in cache root")
    assert _cache_path(cache, url) is None


@pytest.mark.parametrize("url", ["https://../secret.txt", "https://..:443/secret.txt"])
def test_cache_path_refuses_dot_dot_host(tmp_path: Path, url: str) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    write(tmp_path, "secret.txt", "credentials")
    assert _cache_path(cache, url) is None


def test_remote_fetcher_uses_the_cache_and_follows_css(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was used")

    monkeypatch.setattr("hfaction.render.assets.open_url", no_network)
    cache = tmp_path / "cache"
    write(cache, "cdn.example.com/lib/css/main.css", "@font-face{src:url(fonts/a.woff2)}")
    write(cache, "cdn.example.com/lib/css/fonts/a.woff2", "WOFF2")
    fetcher = RemoteFetcher(tmp_path / "remote", cache_dir=cache)
    asset = fetcher(BASE)
    assert asset.content_type == "text/css"
    assert asset.size == len("@font-face{src:url(fonts/a.woff2)}")
    assert asset.path.endswith(".css")
    assert (tmp_path / "remote" / asset.path).read_text().startswith("@font-face")
    # The font the stylesheet names was frozen too, without a request for it.
    assert set(fetcher.fetched) == {BASE, "https://cdn.example.com/lib/css/fonts/a.woff2"}
    assert fetcher(BASE) is asset


def test_non_public_addresses_are_refused_when_the_environment_denies_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lambda image sets HFACTION_FETCH_PRIVATE=deny: a project URL pointing at
    loopback (the Runtime API lives on 127.0.0.1:9001) must not be fetched."""
    from hfaction.errors import RemoteAssetFetchFailed
    from tests.loopback import RecordingServer

    server = RecordingServer(lambda request: (200, {}, b"ok"))
    url = f"{server.url}/2018-06-01/runtime/invocation/next"
    try:
        monkeypatch.setenv("HFACTION_FETCH_PRIVATE", "deny")
        with pytest.raises(RemoteAssetFetchFailed, match=r"non-public address 127\.0\.0\.1"):
            RemoteFetcher(tmp_path / "denied")(url)
        assert server.requests == []
        monkeypatch.setenv("HFACTION_FETCH_PRIVATE", "allow")
        assert RemoteFetcher(tmp_path / "allowed")(url).size == 2
        assert len(server.requests) == 1
    finally:
        server.stop()
