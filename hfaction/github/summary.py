"""The job summary, outputs and annotations of a render, from its result JSON.

The result file (``hfaction lambda render --wait --json``) is treated as hostile: every
textual value is escaped for Markdown and HTML, numbers must be numbers, and links and
images only accept https URLs (http only to loopback, for tests), re-encoded so they cannot
close the Markdown link they sit in.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from hfaction.aws.cost import NOT_INCLUDED
from hfaction.errors import InvalidResultFile
from hfaction.github import workflow

MAX_ERRORS_SHOWN = 10
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
# Characters kept as they are in a link destination; everything else is percent-encoded
# (no space, quote, backslash, parenthesis or angle bracket can end the destination).
_URL_SAFE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%]")
# Markdown's punctuation, and '$' (GitHub renders $...$ as math).
_MD_SPECIAL = re.compile(r"([\\`*_\[\](){}#+\-!|~$])")
# Issue references GitHub links (and announces on the issue) however they are escaped:
# #12, owner/repo#12, GH-12; matched after Markdown escaping, hence the backslashes.
_REFERENCE = re.compile(r"(\\#|\bGH\\-)(?=\d)", re.IGNORECASE)
# Numbers beyond 2**53 are not exact in JSON, and nothing a render reports gets near them.
_MAX_NUMBER = 2 ** 53


# --- escaping ---------------------------------------------------------------------------


def one_line(value: Any, limit: int = 200) -> str:
    """Untrusted text for a log line: printable, one line (so it cannot start a workflow
    command of its own)."""
    text = "".join(ch for ch in " ".join(str(value).split()) if ch.isprintable())
    return text[:limit]


def md(value: Any, limit: int = 300) -> str:
    """Untrusted text as inert Markdown on one line: no HTML, no links, no mentions."""
    text = " ".join(str(value).split())
    text = "".join(ch for ch in text if ch.isprintable())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    text = _MD_SPECIAL.sub(r"\\\1", text)
    # HTML after Markdown, so that no entity's '#' or ';' gets a backslash (which would show
    # '&#39;' verbatim). Quotes need no entity: without '<' there is no tag to close.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # A word joiner breaks what GitHub would turn into links or notifications on its own:
    # @mentions, issue references and bare URLs (escaping does not stop autolinking, which
    # runs on the rendered text).
    text = _REFERENCE.sub("\\1\u2060", text)
    return (text.replace("@", "@\u2060").replace("://", ":\u2060//")
            .replace("www.", "www\u2060."))


def code(value: Any, limit: int = 300, *, in_table: bool = True) -> str:
    """Untrusted text as an inline code span: shown verbatim (copyable, no word joiners),
    never parsed as Markdown, HTML, a link or a mention."""
    text = one_line(value, limit)
    if in_table:
        text = text.replace("|", "\\|")  # GFM splits cells on '|' even inside code
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def safe_url(value: Any) -> str | None:
    """``value`` if it is an https URL (or http on loopback), encoded for a Markdown link
    destination; None otherwise (javascript:, data:, relative, malformed...)."""
    if not isinstance(value, str) or not value or len(value) > 8192:
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return None
    try:
        parts = urllib.parse.urlsplit(value)
        host = parts.hostname
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not host or not (scheme == "https" or (scheme == "http" and host in _LOOPBACK)):
        return None
    encoded = "".join(ch if _URL_SAFE.fullmatch(ch) else urllib.parse.quote(ch, safe="")
                      for ch in value)
    return encoded.replace("&", "&amp;")


def plain_url(value: Any) -> str:
    """The URL for outputs: the accepted URL itself, or empty."""
    encoded = safe_url(value)
    return encoded.replace("&amp;", "&") if encoded else ""


# --- the result file ----------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A JSON number in a sane range, else None (missing): booleans, strings, NaN, infinities
    and integers too big for a float are not numbers to show."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return float(value) if abs(value) <= _MAX_NUMBER else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number == int(number) \
        else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """A non-empty string, with lone surrogates (JSON allows "\\ud800") made '?' so that
    it can be written out as UTF-8."""
    if not isinstance(value, str) or not value:
        return None
    return value.encode("utf-8", "replace").decode("utf-8")


def _parse_int(digits: str) -> int | float:
    # json.loads refuses integers over 4300 digits with a ValueError; anything longer than
    # 2**53 is no number to show anyway, so it becomes infinity (missing, in _number).
    return int(digits) if len(digits) <= 20 else math.inf


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
        # In UTC now: a time near year 1 or 9999 with an offset cannot be converted later.
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class RenderError:
    code: str
    chunk: int | None
    message: str


@dataclass
class RenderReport:
    """What the summary and the comment show of a render; nothing here is trusted yet
    except numbers and the accepted URLs (``video_url`` and ``poster_url``)."""

    render_id: str
    status: str
    duration_s: float | None = None
    fps: str | None = None
    frames: int | None = None
    chunks: int | None = None
    elapsed_s: float | None = None
    output_bytes: int | None = None
    output_uri: str | None = None
    video_url: str | None = None
    poster_url: str | None = None
    url_expires_at: datetime | None = None
    url_latest_expiry: datetime | None = None
    links_signed_by: str | None = None  # None: signed by the client (the job's credentials)
    links_withheld: bool = False  # signed with the job's credentials: the runner masks them
    lambda_usd: float | None = None
    step_functions_usd: float | None = None
    total_usd: float | None = None
    invocations: int | None = None
    billed_ms: int | None = None
    transitions: int | None = None
    errors: list[RenderError] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderReport:
        frames, chunks, cost = (_mapping(data.get(name)) for name in ("frames", "chunks",
                                                                        "cost"))
        errors = []
        listed = data.get("errors")
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, dict):
                message = item.get("message")
                errors.append(RenderError(
                    code=_text(item.get("code")) or "RENDER_FAILED",
                    chunk=_count(item.get("chunk")),
                    message=_text(message) or _decimal(_number(message), 6)))
        fps = _text(data.get("fps")) or _decimal(_number(data.get("fps"))) or None
        return cls(
            render_id=_text(data.get("render_id")) or "unknown",
            status=_text(data.get("status")) or "UNKNOWN",
            duration_s=_number(data.get("duration_s")),
            fps=fps,
            frames=_count(frames.get("total")),
            chunks=_count(chunks.get("total")),
            elapsed_s=_number(data.get("elapsed_s")),
            output_bytes=_count(data.get("output_bytes")),
            output_uri=_text(data.get("output_uri")),
            video_url=safe_url(data.get("output_url")),
            poster_url=safe_url(data.get("poster_url")),
            url_expires_at=parse_time(data.get("url_expires_at")),
            url_latest_expiry=parse_time(data.get("url_latest_expiry")),
            links_signed_by=_text(data.get("links_signed_by")),
            lambda_usd=_number(cost.get("lambda_usd")),
            step_functions_usd=_number(cost.get("step_functions_usd")),
            total_usd=_number(cost.get("total_usd")),
            invocations=_count(cost.get("invocations")),
            billed_ms=_count(cost.get("billed_ms")),
            transitions=_count(cost.get("state_transitions")),
            errors=errors,
        )

    def outputs(self, raw: dict[str, Any]) -> dict[str, str]:
        """The step's outputs (values still untrusted: written with safe delimiters)."""
        withheld = self.links_withheld
        return {
            "render-id": self.render_id if self.render_id != "unknown" else "",
            "video-url": "" if withheld else plain_url(raw.get("output_url")),
            "s3-uri": self.output_uri or "",
            "cost-usd": f"{self.total_usd:.6f}" if self.total_usd is not None else "",
            "frames": str(self.frames) if self.frames is not None else "",
            "duration-seconds": _decimal(self.duration_s),
            "poster-url": "" if withheld else plain_url(raw.get("poster_url")),
        }

    def withhold_links_masked_in(self, env: Mapping[str, str]) -> RenderReport:
        """Under GitHub Actions, drop links that hold this job's AWS credentials (what a
        stack older than links signed on Lambda returns): the runner would mask them to
        ``***`` in the summary and drop the outputs holding them. Returns self."""
        if env.get("GITHUB_ACTIONS") != "true":
            return self
        if any(holds_job_credentials(url, env) for url in (self.video_url, self.poster_url)
               if url):
            self.video_url = self.poster_url = None
            self.links_withheld = True
        return self


# The job's credentials, as `hfaction github oidc` (or another action) exported them; the
# runner masks each, and a presigned link holds the key id and the URI-escaped token.
JOB_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def holds_job_credentials(url: str, env: Mapping[str, str]) -> bool:
    """Whether a link carries one of the job's credentials, raw or URI-escaped."""
    text = url.replace("&amp;", "&")
    for name in JOB_CREDENTIALS:
        value = env.get(name, "")
        if len(value) >= 4 and (value in text or
                                urllib.parse.quote(value, safe="-_.~") in text):
            return True
    return False


def load_result(path: Path) -> tuple[RenderReport, dict[str, Any]]:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise InvalidResultFile(f"result file {path} must hold a JSON object")
    return RenderReport.from_dict(data), data


def _load_json(path: Path) -> Any:
    """The result file's JSON: an object (a render) or a list (a batch's rows)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidResultFile(f"result file {path} does not exist",
                                hint="write it with 'hfaction lambda render --wait --json > "
                                     "FILE'") from None
    except (OSError, UnicodeDecodeError) as failure:
        raise InvalidResultFile(f"result file {path} is unreadable: {failure}") from None
    if not text.strip():
        raise InvalidResultFile(f"result file {path} is empty",
                                hint="the render step wrote nothing; see its log") from None
    try:
        data = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as failure:
        raise InvalidResultFile(f"result file {path} is not JSON ({failure.msg} at line "
                                f"{failure.lineno})") from None
    except RecursionError:
        raise InvalidResultFile(f"result file {path} nests too deeply to be a render result",
                                hint="write it with 'hfaction lambda render --wait --json > "
                                     "FILE'") from None
    return data


# --- formatting ---------------------------------------------------------------------------


def _decimal(value: float | None, places: int = 3) -> str:
    if value is None:
        return ""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def _or_na(text: str) -> str:
    return text if text else "n/a"


def _usd(value: float | None) -> str:
    return f"${value:.6f}" if value is not None else "n/a"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _in(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{seconds / 3600:.1f} h"


def expiry_note(report: RenderReport, *, now: datetime, presign_expiry_s: int | None = None,
                credentials_expire: datetime | None = None) -> str:
    """When the link stops working. A presigned URL dies with the credentials that signed it,
    so the result's ``url_expires_at`` (already the earlier of both) is the real answer."""
    if report.links_signed_by is not None:
        return _lambda_expiry_note(report, now)
    bounded = ("a presigned link stops working when the session credentials that signed it "
               "expire, whatever expiry was requested")
    if report.url_expires_at is not None:
        left = (report.url_expires_at - now).total_seconds()
        if left <= 0:
            return f"The link expired at {_utc(report.url_expires_at)} ({bounded})."
        return (f"The link expires at {_utc(report.url_expires_at)} (in about {_in(left)}; "
                f"{bounded}).")
    asked = presign_expiry_s if presign_expiry_s is not None and presign_expiry_s > 0 \
        else None
    if credentials_expire is None:
        # Temporary credentials whose end boto3 cannot know: only the upper bound is known.
        if asked is None:
            return f"The link's expiry is not known ({bounded})."
        return (f"Link expiry not known: at most {asked} seconds, and no longer than the "
                "credentials that signed it last.")
    parts = [f"at most {asked} s after it was signed"] if asked is not None else []
    parts.append(f"no later than {_utc(credentials_expire)}, when the credentials that "
                 "signed it expire")
    return f"The link works {' and '.join(parts)}."


def _lambda_expiry_note(report: RenderReport, now: datetime) -> str:
    """Links signed on Lambda by the render function's role: its session bounds them, and
    AWS does not tell the function when that session ends."""
    bound = "it dies with the render function's role session that signed it"
    if report.url_expires_at is not None:
        left = (report.url_expires_at - now).total_seconds()
        verb = "expired" if left <= 0 else "expires"
        within = f" (in about {_in(left)})" if left > 0 else ""
        return f"The link {verb} at {_utc(report.url_expires_at)}{within}; {bound}."
    if report.url_latest_expiry is not None:
        left = (report.url_latest_expiry - now).total_seconds()
        if left <= 0:
            return f"The link expired at {_utc(report.url_latest_expiry)} at the latest."
        return (f"The link works until {_utc(report.url_latest_expiry)} at the latest (about "
                f"{_in(left)}), and only while the render function's role session that "
                "signed it lasts (AWS does not say how long that is).")
    return f"The link's expiry is not known ({bound})."


def withheld_note() -> str:
    return ("No link: the render stack signed none, and a link signed with this job's AWS "
            "credentials would show as `***` (GitHub masks them) and be dropped from the "
            "outputs. Update the stack (`deploy: auto`) so that the render function signs "
            "the links.")


def _video_table(report: RenderReport, project: str | None) -> list[str]:
    size = f"{report.output_bytes / 1e6:.1f} MB" if report.output_bytes is not None else ""
    rows = [
        ("Duration", f"{_decimal(report.duration_s)} s" if report.duration_s is not None
         else ""),
        ("Size", size),
        ("Frames", str(report.frames) if report.frames is not None else ""),
        ("Frame rate", f"{md(report.fps, 20)} fps" if report.fps else ""),
        ("Chunks", str(report.chunks) if report.chunks is not None else ""),
        ("Wall time", f"{_decimal(report.elapsed_s, 1)} s" if report.elapsed_s is not None
         else ""),
    ]
    if report.output_uri:
        rows.append(("S3", code(report.output_uri, 500)))
    if project:
        rows.append(("Project", code(project, 200)))
    return ["| Video | |", "| --- | --- |",
            *(f"| {name} | {_or_na(value)} |" for name, value in rows)]


def cost_table(report: RenderReport) -> list[str]:
    lambda_detail = []
    if report.invocations is not None:
        lambda_detail.append(f"{report.invocations} invocations")
    if report.billed_ms is not None:
        lambda_detail.append(f"{report.billed_ms:,} billed ms")
    sfn_detail = (f" ({report.transitions} state transitions)"
                  if report.transitions is not None else "")
    return [
        "| Cost | USD |", "| --- | ---: |",
        f"| AWS Lambda{' (' + ', '.join(lambda_detail) + ')' if lambda_detail else ''} | "
        f"{_usd(report.lambda_usd)} |",
        f"| Step Functions{sfn_detail} | {_usd(report.step_functions_usd)} |",
        f"| **Total** | **{_usd(report.total_usd)}** |",
        "",
        f"Not included: {NOT_INCLUDED}.",
    ]


def errors_table(report: RenderReport) -> list[str]:
    errors = report.errors or [RenderError(report.status, None, "no error details")]
    lines = ["| Error | Chunk | Message |", "| --- | --- | --- |"]
    for item in errors[:MAX_ERRORS_SHOWN]:
        chunk = str(item.chunk) if item.chunk is not None else "-"
        lines.append(f"| {code(item.code, 80)} | {chunk} | {md(item.message, 500)} |")
    if len(errors) > MAX_ERRORS_SHOWN:
        lines.append(f"| ... | | {len(errors) - MAX_ERRORS_SHOWN} more |")
    return lines


def summary_markdown(report: RenderReport, *, now: datetime, project: str | None = None,
                     presign_expiry_s: int | None = None,
                     credentials_expire: datetime | None = None) -> str:
    lines: list[str] = []
    if report.succeeded:
        lines.append(f"## 🎬 Render {code(report.render_id, 100)} succeeded")
        lines.append("")
        if report.video_url:
            size = (f" ({report.output_bytes / 1e6:.1f} MB)"
                    if report.output_bytes is not None else "")
            lines.append(f"**[Download the MP4]({report.video_url})**{size}. "
                         + expiry_note(report, now=now, presign_expiry_s=presign_expiry_s,
                                       credentials_expire=credentials_expire))
        elif report.links_withheld:
            lines.append(withheld_note())
        else:
            lines.append("No download link: the result has no https link to the MP4.")
        if report.poster_url:
            lines += ["", f"![Poster frame of render {md(report.render_id, 100)}]"
                          f"({report.poster_url})"]
    else:
        lines.append(f"## ❌ Render {code(report.render_id, 100)} "
                     f"{md(report.status.lower(), 20)}")
        lines += ["", *errors_table(report)]
    lines += ["", *_video_table(report, project), "", *cost_table(report), ""]
    return "\n".join(lines) + "\n"


def error_annotations(report: RenderReport, *, project_dir: str | None,
                workspace: str | None = None) -> list[str]:
    """``::error`` lines for a failed render, pointing at project files where named."""
    if report.succeeded:
        return []
    errors = report.errors or [RenderError(report.status, None, f"render {report.render_id} "
                                                               f"ended {report.status}")]
    lines = []
    for item in errors[:MAX_ERRORS_SHOWN]:
        title = item.code + (f" (chunk {item.chunk})" if item.chunk is not None else "")
        lines.append(workflow.error_annotation(title, item.message or item.code,
                                               project_dir=project_dir, workspace=workspace))
    return lines


# --- the report step ------------------------------------------------------------------------


def credentials_expiry(env: Mapping[str, str] | None = None) -> datetime | None:
    """When the credentials that signed the links expire, where ``hfaction github oidc``
    exported it (HFACTION_CREDENTIALS_EXPIRATION)."""
    env = os.environ if env is None else env
    return parse_time(env.get("HFACTION_CREDENTIALS_EXPIRATION"))


def report(result: Path, *, project: str | None = None, presign_expiry_s: int | None = None,
           env: Mapping[str, str] | None = None, now: datetime | None = None,
           stream: TextIO | None = None) -> RenderReport | BatchReport:
    """Report a render's result file (or a batch's, see :func:`report_batch`) to the job:
    the summary appended to $GITHUB_STEP_SUMMARY (written to ``stream``, default stdout,
    when unset), the step outputs to $GITHUB_OUTPUT (when set), and, under GitHub Actions,
    an ``::error`` annotation per error of a failed render (on ``stream``). Returns the
    parsed result."""
    env = os.environ if env is None else env
    out = sys.stdout if stream is None else stream
    data = _load_json(result)
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        # 'lambda render --batch --wait --json': a batch's rows
        return report_batch(data, project=project, presign_expiry_s=presign_expiry_s,
                            env=env, now=now, stream=out)
    if not isinstance(data, dict):
        raise InvalidResultFile(f"result file {result} must hold a JSON object (a render) "
                                "or a non-empty list of objects (a batch's rows)")
    parsed, raw = RenderReport.from_dict(data), data
    parsed.withhold_links_masked_in(env)
    text = summary_markdown(parsed, now=now or datetime.now(UTC), project=project,
                            presign_expiry_s=presign_expiry_s,
                            credentials_expire=credentials_expiry(env))
    _publish(text, parsed.outputs(raw), env, out,
             lambda: error_annotations(parsed, project_dir=project,
                                       workspace=env.get("GITHUB_WORKSPACE")))
    return parsed


def _publish(text: str, outputs: Mapping[str, str], env: Mapping[str, str], out: TextIO,
             annotations: Callable[[], Iterable[str]]) -> None:
    """The summary to $GITHUB_STEP_SUMMARY (else ``out``), the outputs to $GITHUB_OUTPUT,
    and under GitHub Actions the error annotations."""
    summary_file = workflow.file_from_env("GITHUB_STEP_SUMMARY", env)
    if summary_file is not None:
        with summary_file.open("a", encoding="utf-8") as handle:
            handle.write(text)
    else:
        out.write(text)
    output_file = workflow.file_from_env("GITHUB_OUTPUT", env)
    if output_file is not None:
        workflow.append_file_command(output_file, outputs)
    if env.get("GITHUB_ACTIONS") == "true":
        for line in annotations():
            workflow.emit(line, out)


# --- a batch (lambda render --batch --wait --json: a list of rows) ---------------------------

MAX_ROWS_SHOWN = 100  # a summary holds at most 1 MiB; each row holds two long links


@dataclass
class BatchRowReport:
    """One row of a batch as the summary shows it; text untrusted, links accepted or None."""

    row: int | None
    name: str
    render: RenderReport
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchRowReport:
        error = _mapping(data.get("error"))
        # A row is a render of its own: the same fields, read with the same care.
        render = RenderReport.from_dict({**data, "frames": {"total": data.get("frames")}})
        return cls(row=_count(data.get("row")), name=_text(data.get("name")) or "",
                   render=render,
                   error_code=_text(error.get("code")) if error else None,
                   error_message=_text(error.get("message")) if error else None)

    def output(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The row in the ``renders`` output: links only when shown (never one holding the
        job's credentials: the runner would drop the whole output)."""
        shown = not self.render.links_withheld
        render = self.render
        return {"row": self.row, "name": self.name, "status": render.status,
                "render_id": render.render_id if render.render_id != "unknown" else "",
                "video_url": plain_url(raw.get("output_url")) if shown else "",
                "poster_url": plain_url(raw.get("poster_url")) if shown else "",
                "s3_uri": render.output_uri or "", "duration_s": render.duration_s,
                "bytes": render.output_bytes, "cost_usd": render.total_usd,
                "error": ({"code": self.error_code or "", "message": self.error_message or ""}
                          if self.error_code or self.error_message else None)}


@dataclass
class BatchReport:
    batch_id: str
    rows: list[BatchRowReport]
    raw: list[dict[str, Any]]

    @property
    def render_id(self) -> str:  # what 'hfaction github report' names
        return self.batch_id

    @property
    def succeeded(self) -> bool:
        return bool(self.rows) and all(row.render.succeeded for row in self.rows)

    @property
    def status(self) -> str:
        return "SUCCEEDED" if self.succeeded else "FAILED"

    @property
    def failed(self) -> list[BatchRowReport]:
        return [row for row in self.rows if not row.render.succeeded]

    @property
    def total_usd(self) -> float | None:
        costs = [row.render.total_usd for row in self.rows]
        return sum(c for c in costs if c is not None) if any(c is not None for c in costs) \
            else None

    @classmethod
    def from_list(cls, data: list[Any]) -> BatchReport:
        raw = [item for item in data if isinstance(item, dict)]
        rows = [BatchRowReport.from_dict(item) for item in raw]
        ids = {_text(item.get("batch_id")) for item in raw} - {None}
        return cls(batch_id=str(ids.pop()) if len(ids) == 1 else "unknown", rows=rows,
                   raw=raw)

    def withhold_links_masked_in(self, env: Mapping[str, str]) -> BatchReport:
        for row in self.rows:
            row.render.withhold_links_masked_in(env)
        return self

    def outputs(self) -> dict[str, str]:
        """The step's outputs: ``renders``, every row as one line of JSON, and totals."""
        total = self.total_usd
        return {
            "batch-id": self.batch_id if self.batch_id != "unknown" else "",
            "render-id": self.batch_id if self.batch_id != "unknown" else "",
            "renders": json.dumps([row.output(raw) for row, raw in zip(self.rows, self.raw,
                                                                      strict=True)],
                                  separators=(",", ":"), ensure_ascii=True),
            "rows-succeeded": str(len(self.rows) - len(self.failed)),
            "rows-failed": str(len(self.failed)),
            "cost-usd": f"{total:.6f}" if total is not None else "",
        }


def _row_cells(row: BatchRowReport) -> str:
    render = row.render
    number = str(row.row) if row.row is not None else "?"
    if render.succeeded:
        status = "✅ succeeded"
    else:
        status = f"❌ {md(render.status.lower(), 20)}"
        if row.error_code:
            status += f": {code(row.error_code, 80)}"
        if row.error_message:
            status += f" {md(row.error_message, 200)}"
    video = f"[MP4]({render.video_url})" if render.video_url else (
        "withheld" if render.links_withheld else "")
    # An <img> sized for a table; its src is an accepted https URL, whose encoding leaves
    # no quote to close the attribute; the alt text is ours, not the row's.
    poster = (f'<img src="{render.poster_url}" alt="poster of row {number}" width="160">'
              if render.poster_url else "")
    duration = f"{_decimal(render.duration_s)} s" if render.duration_s is not None else ""
    return (f"| {number} | {md(row.name, 100) or '(unnamed)'} | {status} | {_or_na(video)} | "
            f"{poster} | {_or_na(duration)} | {_usd(render.total_usd)} |")


def batch_summary_markdown(batch: BatchReport, *, now: datetime, project: str | None = None,
                           presign_expiry_s: int | None = None,
                           credentials_expire: datetime | None = None) -> str:
    total = len(batch.rows)
    failed = len(batch.failed)
    icon = "🎬" if not failed and total else "❌"
    lines = [f"## {icon} Batch {code(batch.batch_id, 100)}: {total - failed} of {total} rows "
             "succeeded" + (f", {failed} failed" if failed else ""), ""]
    if any(row.render.links_withheld for row in batch.rows):
        lines += [withheld_note(), ""]
    linked = next((row.render for row in batch.rows if row.render.video_url), None)
    if linked is not None:
        lines += ["Links: " + expiry_note(linked, now=now, presign_expiry_s=presign_expiry_s,
                                          credentials_expire=credentials_expire), ""]
    lines += ["| Row | Name | Status | Video | Poster | Duration | Cost |",
              "| ---: | --- | --- | --- | --- | ---: | ---: |"]
    lines += [_row_cells(row) for row in batch.rows[:MAX_ROWS_SHOWN]]
    if total > MAX_ROWS_SHOWN:
        lines.append(f"| ... | {total - MAX_ROWS_SHOWN} more rows | | | | | |")
    seconds = sum(row.render.duration_s or 0.0 for row in batch.rows if row.render.succeeded)
    lines.append(f"| **Total** | {total} rows | {total - failed} succeeded, {failed} failed "
                 f"| | | **{_decimal(seconds)} s** | **{_usd(batch.total_usd)}** |")
    if project:
        lines += ["", f"Project: {code(project, 200, in_table=False)}"]
    lines += ["", "Each row's cost is its own Lambda invocations plus an even share of what "
              "the rows share (planning, Step Functions). The `renders` output lists every "
              "row as JSON.", "", f"Not included: {NOT_INCLUDED}.", ""]
    return "\n".join(lines) + "\n"


def batch_error_annotations(batch: BatchReport, *, project_dir: str | None,
                            workspace: str | None = None) -> list[str]:
    """An ``::error`` per failed row (the first MAX_ERRORS_SHOWN)."""
    lines = []
    for row in batch.failed[:MAX_ERRORS_SHOWN]:
        title = f"row {row.row} ({one_line(row.name, 60)}): " \
                f"{one_line(row.error_code or row.render.status, 60)}"
        lines.append(workflow.error_annotation(
            title, row.error_message or row.error_code or row.render.status,
            project_dir=project_dir, workspace=workspace))
    return lines


def report_batch(data: list[Any], *, project: str | None = None,
                 presign_expiry_s: int | None = None, env: Mapping[str, str] | None = None,
                 now: datetime | None = None, stream: TextIO | None = None) -> BatchReport:
    """Report a batch's rows as :func:`report` reports a render: the table to
    $GITHUB_STEP_SUMMARY, the outputs (``renders``: the rows as JSON) to $GITHUB_OUTPUT,
    an ``::error`` per failed row under GitHub Actions. Links signed with the job's own
    credentials are withheld from all three, as for a single render."""
    env = os.environ if env is None else env
    out = sys.stdout if stream is None else stream
    batch = BatchReport.from_list(data).withhold_links_masked_in(env)
    text = batch_summary_markdown(batch, now=now or datetime.now(UTC), project=project,
                                  presign_expiry_s=presign_expiry_s,
                                  credentials_expire=credentials_expiry(env))
    _publish(text, batch.outputs(), env, out,
             lambda: batch_error_annotations(batch, project_dir=project,
                                             workspace=env.get("GITHUB_WORKSPACE")))
    return batch
