"""The job summary, step outputs and annotations written from a render's result JSON.

Summaries are checked as rendered HTML too (markdown-it-py, CommonMark with raw HTML on and
GFM tables, as GitHub parses them), so escaping is judged by what a reader would get."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from hfaction.cli import main
from hfaction.errors import InvalidResultFile
from hfaction.github import summary
from tests.conftest import FIXTURES
from tests.unit.test_github_workflow import runner_parse

SUCCEEDED = FIXTURES / "github" / "result-succeeded.json"
FAILED = FIXTURES / "github" / "result-failed.json"


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls.extend(value or "" for name, value in attrs if name in ("href", "src"))
        self.tags.extend(f"{tag}[{name}]" for name, _ in attrs if name.startswith("on"))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def rendered(markdown: str) -> _Html:
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    parser = _Html()
    parser.feed(html)
    return parser


def load(path: Path, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    data.update(changes)
    return data


NOW = datetime(2026, 11, 27, 10, 16, 0, tzinfo=UTC)


def test_summary_of_a_realistic_render() -> None:
    data = load(SUCCEEDED)
    report = summary.RenderReport.from_dict(data)
    text = summary.summary_markdown(report, now=NOW, project="videos/intro")
    html = rendered(text)
    body = " ".join(" ".join(html.text).split())
    assert data["output_url"] in html.urls  # the presigned link, intact
    assert data["poster_url"] in html.urls and "img" in html.tags
    assert "The link expires at 2026-11-27 11:15 UTC (in about 60 min;" in body
    assert "session credentials that signed it" in body
    for expected in ("Duration 10 s", "Size 12.3 MB", "Frames 300", "Frame rate 30 fps",
                     "Chunks 4", "Wall time 42.3 s", "Project videos/intro",
                     "AWS Lambda (5 invocations, 180,004 billed ms) $0.031245",
                     "Step Functions (20 state transitions) $0.000500", "Total $0.031745",
                     "Not included: S3 storage and requests, data transfer"):
        assert expected in body, expected
    assert "table" in html.tags and html.tags.count("table") == 2


def test_outputs_of_a_realistic_render() -> None:
    data = load(SUCCEEDED)
    outputs = summary.RenderReport.from_dict(data).outputs(data)
    assert outputs == {
        "render-id": "hf-20261127-101500-1a2b3c4d", "video-url": data["output_url"],
        "s3-uri": data["output_uri"], "cost-usd": "0.031745", "frames": "300",
        "duration-seconds": "10", "poster-url": data["poster_url"]}


def test_expiry_notes() -> None:
    report = summary.RenderReport.from_dict(load(SUCCEEDED))
    later = NOW + timedelta(hours=2)
    assert summary.expiry_note(report, now=later).startswith(
        "The link expired at 2026-11-27 11:15 UTC")
    report.url_expires_at = None
    note = summary.expiry_note(report, now=NOW, presign_expiry_s=3600,
                               credentials_expire=datetime(2026, 11, 27, 11, 0, tzinfo=UTC))
    assert note == ("The link works at most 3600 s after it was signed and no later than "
                    "2026-11-27 11:00 UTC, when the credentials that signed it expire.")
    assert "not known" in summary.expiry_note(report, now=NOW)


HOSTILE = {
    "render_id": "<script>alert(1)</script>",
    "status": "SUCCEEDED",
    "fps": "30 [click](javascript:alert(1)) <img src=x onerror=alert(1)>",
    "output_uri": "s3://b/k\n## Injected heading\n<iframe src=https://evil.example>",
    "output_url": "javascript:alert(document.cookie)//https://ok",
    "poster_url": "https://x.example/a.png) ![x](javascript:alert(1)",
    "output_bytes": "12 MB",
    "frames": {"total": "300<b>"},
    "cost": {"total_usd": "free", "lambda_usd": float("nan") if False else 1e309},
    "duration_s": True,
    "errors": [],
}


def test_hostile_result_renders_inert() -> None:
    report = summary.RenderReport.from_dict(json.loads(json.dumps(HOSTILE)))
    text = summary.summary_markdown(report, now=NOW, project="x](javascript:alert(1))")
    html = rendered(text)
    assert set(html.tags) <= {"h2", "p", "strong", "a", "img", "table", "thead", "tbody",
                              "tr", "th", "td", "em", "code"}
    assert not {"script", "iframe"} & set(html.tags)
    assert not any("[on" in tag for tag in html.tags)
    assert all(url.startswith("https://") for url in html.urls)
    assert html.tags.count("h2") == 1 and "img" not in html.tags and "a" not in html.tags
    visible = "".join(html.text)
    assert "<script>alert(1)</script>" in visible  # shown as text, not run
    assert "No download link" in visible
    # Non-numbers are not shown as numbers.
    assert "| Size | n/a |" in text and "| Frames | n/a |" in text


def test_poster_url_cannot_close_its_image() -> None:
    data = {"render_id": "r", "status": "SUCCEEDED",
            "output_url": "https://ok.example/v.mp4?a=1&b=(2)",
            "poster_url": "https://x.example/a.png\")<script>x</script>"}
    text = summary.summary_markdown(summary.RenderReport.from_dict(data), now=NOW)
    html = rendered(text)
    assert "script" not in html.tags
    assert "https://ok.example/v.mp4?a=1&b=%282%29" in html.urls
    assert "https://x.example/a.png%22%29%3Cscript%3Ex%3C/script%3E" in html.urls


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<script>", "//evil.example/x",
    "http://evil.example/x", "https://", "https://a b", "ftp://x/y", "https://x/\u0000",
    " https://x/", "vbscript:x", 42, None,
])
def test_unsafe_urls_are_refused(url: Any) -> None:
    assert summary.safe_url(url) is None
    assert summary.plain_url(url) == ""


def test_loopback_http_is_allowed_for_tests() -> None:
    assert summary.safe_url("http://127.0.0.1:9000/b/k.mp4") == "http://127.0.0.1:9000/b/k.mp4"
    assert summary.safe_url("http://localhost/x?a=1&b=2") == "http://localhost/x?a=1&amp;b=2"


def test_md_neutralises_mentions_and_autolinks() -> None:
    text = summary.md("@acme/team see https://evil.example and www.evil.example")
    assert "@acme" not in text and "https://evil" not in text and "www.evil" not in text
    assert summary.md("a\n\n# b | c") == "a \\# b \\| c"


def test_failed_render_summary_and_annotations(tmp_path: Path) -> None:
    report = summary.RenderReport.from_dict(load(FAILED))
    text = summary.summary_markdown(report, now=NOW)
    body = " ".join(" ".join(rendered(text).text).split())
    assert "Render hf-20261127-101500-deadbeef failed" in body
    assert "PAGE_SCRIPT_ERROR 2 ReferenceError: gsap is not defined at scenes/intro.html:12" in body
    assert "Total $0.010300" in body
    (tmp_path / "videos" / "intro" / "scenes").mkdir(parents=True)
    lines = summary.error_annotations(report, project_dir="videos/intro",
                                      workspace=str(tmp_path))
    assert lines == ["::error file=videos/intro/scenes/intro.html,line=12,"
                     "title=PAGE_SCRIPT_ERROR (chunk 2)::ReferenceError: gsap is not defined "
                     "at scenes/intro.html:12"]
    assert summary.error_annotations(summary.RenderReport.from_dict(load(SUCCEEDED)),
                                     project_dir=None) == []


@pytest.mark.parametrize(("content", "reason"), [
    ("", "is empty"), ("{", "is not JSON"), ("[1]", "must hold a JSON object")])
def test_bad_result_files(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "result.json"
    path.write_text(content)
    with pytest.raises(InvalidResultFile, match=reason):
        summary.load_result(path)
    with pytest.raises(InvalidResultFile, match="does not exist"):
        summary.load_result(tmp_path / "missing.json")


def _github_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    step_summary, output = tmp_path / "summary.md", tmp_path / "output"
    output.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    return step_summary, output


def test_report_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    step_summary, output = _github_files(tmp_path, monkeypatch)
    expires = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    result = tmp_path / "result.json"
    result.write_text(json.dumps(load(SUCCEEDED, url_expires_at=expires)))
    assert main(["github", "report", str(result), "--project", "videos/intro"]) == 0
    text = step_summary.read_text()
    assert "(in about 30 min;" in text or "(in about 29 min;" in text
    outputs = runner_parse(output.read_text())
    assert outputs["earlier"] == "1" and outputs["frames"] == "300"
    assert set(outputs) == {"earlier", "render-id", "video-url", "s3-uri", "cost-usd",
                            "frames", "duration-seconds", "poster-url"}
    assert "::error" not in capsys.readouterr().out
    # A second report appends: both stay readable.
    assert main(["github", "report", str(result)]) == 0
    assert step_summary.read_text().count("## 🎬 Render") == 2


def test_report_command_with_hostile_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    step_summary, output = _github_files(tmp_path, monkeypatch)
    result = tmp_path / "result.json"
    hostile = dict(HOSTILE, render_id="r\nvideo-url=https://evil.example/\n::add-mask::x",
                   status="FAILED",
                   errors=[{"chunk": "1\n::warning::x", "code": "X\n::error::y",
                            "message": "boom\n::set-env name=A::b at index.html:3"}])
    result.write_text(json.dumps(hostile, allow_nan=True))
    assert main(["github", "report", str(result)]) == 0
    outputs = runner_parse(output.read_text())
    assert outputs["render-id"] == hostile["render_id"]  # kept whole, in its own entry
    assert outputs["video-url"] == "" and outputs["poster-url"] == ""
    assert len(outputs) == 8
    captured = capsys.readouterr()
    commands = [line for line in (captured.out + captured.err).splitlines()
                if line.startswith("::")]
    assert commands == ["::error title=X%0A%3A%3Aerror%3A%3Ay::boom%0A::set-env name=A::b at "
                        "index.html:3"]  # one annotation, its hostile parts escaped
    assert "<script>" not in step_summary.read_text()


def test_report_without_github_files_prints_the_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    assert main(["github", "report", str(FAILED)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## ❌ Render `hf-20261127-101500-deadbeef` failed")
    assert re.search(r"^::error", out, re.M) is None


# --- md(): what a reader sees is what the text said ------------------------------------------


def shown(markdown: str) -> str:
    """The visible text of rendered Markdown (text runs joined by one space), without the
    word joiners md() adds."""
    return " ".join(" ".join(rendered(markdown).text).split()).replace("\u2060", "")


def test_quotes_and_apostrophes_render_as_typed() -> None:
    message = "Can't load 'font.woff2' (\"Inter\", weight 400) & gave up; see #fonts"
    text = summary.md(message)
    assert "&#" not in text and "&quot;" not in text
    assert shown(text) == message
    assert shown(f"| Error | Message |\n| --- | --- |\n| X | {text} |") == \
        f"Error Message X {message}"


@pytest.mark.parametrize("hostile", [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
    "<!-- hfaction-preview:video-stack -->", "&#39; &amp; &lt;b&gt; &#x3C;script&#x3E;",
    "[click](javascript:alert(1)) ![x](https://evil.example/x.png) <https://evil.example>",
    "**bold** _it_ `code` ~~gone~~ \\# \\\\ trailing \\", "a | b || c", "$\\href{x}{y}$ x^2",
    "# heading ## again", "- item + item * item > quote", "line\nbreak\r\n\n## heading",
])
def test_hostile_text_renders_as_inert_text(hostile: str) -> None:
    text = summary.md(hostile)
    expected = " ".join(hostile.split())
    for context in (f"Message: {text}", f"| Error | Message |\n| --- | --- |\n| X | {text} |"):
        html = rendered(context)
        assert set(html.tags) <= {"p", "table", "thead", "tbody", "tr", "th", "td"}, context
        assert html.urls == []
    assert shown(f"Message: {text}") == f"Message: {expected}"


def test_issue_references_do_not_autolink() -> None:
    """GitHub links #12, owner/repo#12 and GH-12 in rendered text (and posts a cross-reference
    on that issue): a word joiner after '#' / 'GH-' breaks the pattern, not the reading."""
    original = "fixes #12, see acme/app#3 and GH-7 (not #fonts, nor issue#)"
    text = summary.md(original)
    visible = "".join(rendered(text).text)
    assert re.search(r"#\d|GH-\d", visible, re.IGNORECASE) is None
    assert shown(text) == original
    assert "#fonts" in visible and "issue#" in visible  # only references are touched


# --- untrusted numbers and lists in the result file ---------------------------------------------

ZEROS = "0" * 400


@pytest.mark.parametrize(("name", "content"), [
    ("errors-number", '{"render_id": "r", "status": "FAILED", "errors": 5}'),
    ("errors-string", '{"render_id": "r", "status": "FAILED", "errors": "boom"}'),
    ("errors-object", '{"render_id": "r", "status": "FAILED", "errors": {"message": "x"}}'),
    ("error-entries", '{"render_id": "r", "status": "FAILED", "errors": [5, "x", null, '
                      '{"chunk": 1e300, "code": 7, "message": {"a": [1]}}]}'),
    ("bytes-1e400", '{"render_id": "r", "status": "SUCCEEDED", "output_bytes": 1' + ZEROS + '}'),
    ("bytes-5000-digits", '{"render_id": "r", "status": "SUCCEEDED", "output_bytes": 1'
                          + "0" * 5000 + '}'),
    ("numbers-out-of-range", '{"render_id": "r", "status": "SUCCEEDED", "duration_s": 1e300, '
                             '"elapsed_s": -1e300, "fps": 1e300, "frames": {"total": 1e20}, '
                             '"cost": {"total_usd": 1e400, "billed_ms": -Infinity, '
                             '"lambda_usd": NaN}}'),
    ("expiry-out-of-range", '{"render_id": "r", "status": "SUCCEEDED", "output_url": '
                            '"https://x.example/v.mp4", "url_expires_at": '
                            '"9999-12-31T23:59:59-23:00"}'),
    ("lone-surrogate", '{"render_id": "r\\ud800", "status": "FAILED", "errors": '
                       '[{"code": "X\\udfff", "message": "bad \\ud800 text"}]}'),
    ("wrong-types", '{"render_id": 7, "status": ["SUCCEEDED"], "frames": [1], "cost": "x"}'),
    ("too-deep", '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
])
def test_malformed_results_are_reported_without_a_traceback(
        name: str, content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 0 (reported, what is unusable shown as n/a) or 2 (one error line); an exception
    escaping main() fails the test."""
    step_summary, output = _github_files(tmp_path, monkeypatch)
    result = tmp_path / "result.json"
    result.write_text(content)
    code = main(["github", "report", str(result)])
    captured = capsys.readouterr()
    if name == "too-deep":
        assert code == 2
        errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "nests too deeply" in errors[0]
        assert not step_summary.exists()
        return
    assert code == 0, captured.err
    text = step_summary.read_text(encoding="utf-8")
    assert len(runner_parse(output.read_text(encoding="utf-8"))) == 8
    if name.startswith("bytes"):
        assert "| Size | n/a |" in text
    if name == "numbers-out-of-range":
        for row in ("Duration", "Frame rate", "Frames", "Wall time"):
            assert f"| {row} | n/a |" in text
        assert "**Total** | **n/a**" in text and "billed ms" not in text
        assert "e+" not in text and "inf" not in text.lower()
    if name.startswith("errors"):
        assert "no error details" in text
    if name == "error-entries":  # the one mapping is shown, its unusable fields defaulted
        assert "| `RENDER_FAILED` | - |" in text and "no error details" not in text
    if name == "expiry-out-of-range":
        assert "expires at 9999-12-31" in text or "expiry is not known" in text


def test_report_when_the_link_expiry_is_unknown(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Temporary credentials whose expiry boto3 cannot know: the result has url_expires_at
    null, and the summary gives the upper bound it does know."""
    step_summary, _output = _github_files(tmp_path, monkeypatch)
    monkeypatch.delenv("HFACTION_CREDENTIALS_EXPIRATION", raising=False)
    result = tmp_path / "result.json"
    result.write_text(json.dumps(load(SUCCEEDED, url_expires_at=None)))
    assert main(["github", "report", str(result), "--presign-expiry", "3600"]) == 0
    body = " ".join(" ".join(rendered(step_summary.read_text()).text).split())
    assert ("Link expiry not known: at most 3600 seconds, and no longer than the credentials "
            "that signed it last.") in body
    # Where the credentials' end is known (OIDC exports it), the link's bound is stated.
    monkeypatch.setenv("HFACTION_CREDENTIALS_EXPIRATION", "2026-11-27T11:00:00Z")
    assert main(["github", "report", str(result), "--presign-expiry", "3600"]) == 0
    body = " ".join(" ".join(rendered(step_summary.read_text()).text).split())
    assert ("The link works at most 3600 s after it was signed and no later than 2026-11-27 "
            "11:00 UTC, when the credentials that signed it expire.") in body


# --- summary.report: the 'github report' step without the CLI ---------------------------------


def test_report_writes_summary_outputs_and_annotations_where_the_environment_says(
        tmp_path: Path) -> None:
    step_summary, output = tmp_path / "summary.md", tmp_path / "output"
    (tmp_path / "videos" / "intro" / "scenes").mkdir(parents=True)
    env = {"GITHUB_STEP_SUMMARY": str(step_summary), "GITHUB_OUTPUT": str(output),
           "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp_path)}
    stream = io.StringIO()
    parsed = summary.report(FAILED, project="videos/intro", env=env, now=NOW, stream=stream)
    assert not parsed.succeeded and parsed.render_id == "hf-20261127-101500-deadbeef"
    assert step_summary.read_text().startswith("## ❌ Render `hf-20261127-101500-deadbeef`")
    assert runner_parse(output.read_text())["render-id"] == parsed.render_id
    # The summary went to its file: the stream only has the annotation.
    assert stream.getvalue().splitlines() == [
        "::error file=videos/intro/scenes/intro.html,line=12,title=PAGE_SCRIPT_ERROR "
        "(chunk 2)::ReferenceError: gsap is not defined at scenes/intro.html:12"]


def test_report_outside_actions_prints_the_summary_and_no_annotation(tmp_path: Path) -> None:
    stream = io.StringIO()
    parsed = summary.report(FAILED, env={}, now=NOW, stream=stream)
    assert isinstance(parsed, summary.RenderReport)  # a render's result, not a batch's
    assert parsed.status == "FAILED"
    assert stream.getvalue() == summary.summary_markdown(parsed, now=NOW)
    assert "::error" not in stream.getvalue()


def test_report_states_the_credentials_expiry_exported_by_oidc(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    result.write_text(json.dumps(load(SUCCEEDED, url_expires_at=None)))
    stream = io.StringIO()
    summary.report(result, presign_expiry_s=3600, now=NOW, stream=stream,
                   env={"HFACTION_CREDENTIALS_EXPIRATION": "2026-11-27T11:00:00Z"})
    assert "no later than 2026-11-27 11:00 UTC" in stream.getvalue()
    assert summary.credentials_expiry({"HFACTION_CREDENTIALS_EXPIRATION": "nonsense"}) is None
    assert summary.credentials_expiry({}) is None


def test_report_refuses_a_bad_result_before_writing_anything(tmp_path: Path) -> None:
    step_summary = tmp_path / "summary.md"
    result = tmp_path / "result.json"
    result.write_text("[1]")
    with pytest.raises(InvalidResultFile):
        summary.report(result, env={"GITHUB_STEP_SUMMARY": str(step_summary)},
                       stream=io.StringIO())
    assert not step_summary.exists()


# --- a batch's rows (lambda render --batch --wait --json) ------------------------------------

BATCH_ID = "hf-20261203-101500-0a1b2c3d"
KEY_ID = "ASIAJOBKEY1234567890"
TOKEN = "IQoJb3JpZ2luX2VjE/job+session=token"


def batch_row(row: int, name: str, *, status: str = "SUCCEEDED",
              url: str | None = None, **changes: Any) -> dict[str, Any]:
    base = f"https://renders.s3.amazonaws.com/renders/{BATCH_ID}/{row}"
    data: dict[str, Any] = {
        "batch_id": BATCH_ID, "row": row, "name": name,
        "render_id": f"{BATCH_ID}-{row - 1:04d}", "status": status,
        "output_uri": f"s3://renders/renders/{BATCH_ID}/{row}.mp4",
        "output_url": url or f"{base}.mp4?X-Amz-Signature=abc&X-Amz-Expires=3600",
        "poster_url": f"{base}.poster.jpg?X-Amz-Signature=def",
        "output_bytes": 1_500_000, "frames": 60, "duration_s": 2.0,
        "cost": {"total_usd": 0.0125, "lambda_usd": 0.012, "step_functions_usd": 0.0005},
        "links_signed_by": "render function role",
        "url_latest_expiry": "2026-12-03T11:15:00Z", "error": None}
    if status != "SUCCEEDED":
        data.update(output_uri=None, output_url=None, poster_url=None, duration_s=None,
                    error={"code": "PAGE_SCRIPT_ERROR", "message": "title is undefined"})
    data.update(changes)
    return data


def table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ")]


def cells(line: str) -> list[str]:
    # GFM splits on '|' not escaped with a backslash.
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_batch_summary_has_a_row_per_video_with_link_poster_duration_cost_and_totals() -> None:
    rows = [batch_row(1, "alice"), batch_row(2, "bob", status="FAILED"), batch_row(3, "carol")]
    batch = summary.BatchReport.from_list(rows)
    text = summary.batch_summary_markdown(batch, now=NOW)
    assert text.startswith(f"## ❌ Batch `{BATCH_ID}`: 2 of 3 rows succeeded, 1 failed")
    lines = table_rows(text)
    assert [cell.strip() for cell in cells(lines[0])] == [
        "Row", "Name", "Status", "Video", "Poster", "Duration", "Cost"]
    alice, bob, _carol, total = lines[2:]
    assert cells(alice)[1].strip() == "alice" and "succeeded" in cells(alice)[2]
    assert "[MP4](https://renders.s3.amazonaws.com/" in cells(alice)[3]
    assert cells(alice)[4].strip().startswith('<img src="https://renders.s3.amazonaws.com/')
    assert cells(alice)[5].strip() == "2 s" and cells(alice)[6].strip() == "$0.012500"
    assert "`PAGE_SCRIPT_ERROR`" in cells(bob)[2] and "title is undefined" in cells(bob)[2]
    assert cells(bob)[3].strip() == "n/a" and cells(bob)[4].strip() == ""
    assert [c.strip() for c in cells(total)] == [
        "**Total**", "3 rows", "2 succeeded, 1 failed", "", "", "**4 s**", "**$0.037500**"]
    html = rendered(text)
    assert html.tags.count("img") == 2 and html.tags.count("a") == 2
    assert all(url.startswith("https://renders.s3.amazonaws.com/") for url in html.urls)
    assert "works until 2026-12-03 11:15 UTC at the latest" in text


HOSTILE_NAMES = [
    "[click](javascript:alert(1))", "<img src=x onerror=alert(1)>", "@octocat #12",
    "a | b | c", "`code` $x$ **bold**", "<script>alert(1)</script>", "https://evil.example/",
    "name\n::error::injected",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_row_names_render_as_inert_text_in_their_own_cell(name: str) -> None:
    batch = summary.BatchReport.from_list([batch_row(1, name), batch_row(2, "ok")])
    text = summary.batch_summary_markdown(batch, now=NOW)
    lines = table_rows(text)
    assert all(len(cells(line)) == 7 for line in lines), lines  # no cell split or added
    html = rendered(text)
    assert "script" not in html.tags and not any("[on" in tag for tag in html.tags)
    assert html.tags.count("img") == 2  # the two posters, nothing the name smuggled in
    assert all(url.startswith("https://renders.s3.amazonaws.com/") for url in html.urls)
    assert not any(line.startswith("::") for line in text.splitlines())


def test_a_hostile_poster_url_cannot_leave_its_attribute() -> None:
    poster = 'https://x.example/p.jpg"onerror="alert(1)"'  # no space: safe_url takes it
    batch = summary.BatchReport.from_list([batch_row(1, "a", poster_url=poster),
                                           batch_row(2, "b", output_url="javascript:x()",
                                                     poster_url="data:image/png,xx")])
    html = rendered(summary.batch_summary_markdown(batch, now=NOW))
    assert not any("[on" in tag for tag in html.tags)
    assert html.tags.count("img") == 1
    assert html.urls[1:] == ["https://x.example/p.jpg%22onerror=%22alert%281%29%22"]
    assert not any(url.startswith(("javascript:", "data:")) for url in html.urls)


def test_batch_report_writes_the_renders_output_and_an_annotation_per_failed_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    step_summary, output = _github_files(tmp_path, monkeypatch)
    result = tmp_path / "rows.json"
    rows = [batch_row(1, "alice"), batch_row(2, "bob\n::warning::x", status="FAILED")]
    result.write_text(json.dumps(rows))
    assert main(["github", "report", str(result)]) == 0
    outputs = runner_parse(output.read_text())
    assert outputs["batch-id"] == BATCH_ID and outputs["rows-failed"] == "1"
    assert outputs["rows-succeeded"] == "1" and outputs["cost-usd"] == "0.025000"
    listed = json.loads(outputs["renders"])
    assert [(r["row"], r["status"]) for r in listed] == [(1, "SUCCEEDED"), (2, "FAILED")]
    assert listed[0]["video_url"] == rows[0]["output_url"]
    assert listed[0]["cost_usd"] == 0.0125 and listed[0]["duration_s"] == 2.0
    assert listed[1]["error"] == {"code": "PAGE_SCRIPT_ERROR", "message": "title is undefined"}
    assert "\n" not in outputs["renders"]
    assert step_summary.read_text().startswith(f"## ❌ Batch `{BATCH_ID}`")
    captured = capsys.readouterr()
    commands = [line for line in (captured.out + captured.err).splitlines()
                if line.startswith("::")]
    assert len(commands) == 1 and commands[0].startswith("::error title=row 2 (bob ")
    assert "failed" in captured.err  # 'reported render <batch> (failed)'


def test_batch_links_signed_with_the_jobs_credentials_are_withheld(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As GitHub's runner would mask them (runner_masking.py applies its rules): links
    holding the job's key id or token are dropped from the summary and from ``renders``,
    which would otherwise be dropped whole; links signed on Lambda stay."""
    from tests.integration.github.runner_masking import RunnerMasker, check

    step_summary, output = _github_files(tmp_path, monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    from urllib.parse import quote

    client_signed = (f"https://renders.s3.amazonaws.com/renders/{BATCH_ID}/2.mp4?"
                     f"X-Amz-Credential={KEY_ID}%2F20261203&X-Amz-Security-Token="
                     f"{quote(TOKEN, safe='')}")
    rows = [batch_row(1, "alice"),
            batch_row(2, "bob", output_url=client_signed,
                      poster_url=client_signed.replace(".mp4", ".poster.jpg"),
                      links_signed_by=None)]
    result = tmp_path / "rows.json"
    result.write_text(json.dumps(rows))
    assert main(["github", "report", str(result)]) == 0
    text = step_summary.read_text()
    outputs = runner_parse(output.read_text())
    masking = check(RunnerMasker([KEY_ID, TOKEN]), summary=text, outputs=outputs)
    assert not masking.problems, masking.message()
    listed = json.loads(outputs["renders"])
    assert listed[0]["video_url"] == rows[0]["output_url"]
    assert listed[1]["video_url"] == "" and listed[1]["poster_url"] == ""
    assert "No link: the render stack signed none" in text
    assert cells(table_rows(text)[3])[3].strip() == "withheld"

    # Outside GitHub Actions nothing is masked, so nothing is withheld.
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    out = io.StringIO()
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    monkeypatch.delenv("GITHUB_OUTPUT")
    summary.report(result, stream=out)
    assert KEY_ID in out.getvalue()


def test_a_result_that_is_neither_object_nor_list_is_refused(tmp_path: Path) -> None:
    result = tmp_path / "rows.json"
    result.write_text('"just a string"')
    with pytest.raises(InvalidResultFile, match="list of objects"):
        summary.report(result, env={}, stream=io.StringIO())
