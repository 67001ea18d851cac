"""What GitHub's runner does with masked values, applied to what the action produced.

act registers ``::add-mask::`` values but only replaces the raw value in its own log; the
runner (actions/runner: HostContext registers the value encoders, SecretMasker applies
them) also masks every encoding of each value, in the log and in the step summary, and
drops a job output that holds one ("Skip output '…' since it may contain secret"). A link
presigned with the job's session credentials holds the access key id and the URI-escaped
session token: under the runner the summary shows ``***`` where the link was and the
outputs vanish. act shows none of that, so the tests apply the runner's rules here:

- the value itself, and its encodings: base64 (and base64 of the value less its first one
  or two bytes, with the trailing-padding trims of runner ADR 0297), URI-escaped as .NET's
  ``Uri.EscapeDataString`` (everything but RFC 3986's unreserved characters, upper-case
  hex), JSON-escaped as Newtonsoft's ``JsonConvert.ToString`` without the quotes,
  XML-escaped as ``SecurityElement.Escape``, the expression escape (``'`` doubled) and the
  value without surrounding double quotes;
- every occurrence of any of them is replaced by ``***`` (overlapping ones merge);
- an output whose value changes when masked is dropped (the runner does it for job
  outputs; it is applied to every output here, the stricter reading).

:func:`check` reports what that destroys: a link of the summary, the comment or an output
that masking changes, an output that would be dropped, and a comment (posted through the
API, never masked) that would publish a masked value.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MASK = "***"
_LINK = re.compile(r"https?://[^\s)\]\"'<>]+")


def _base64_variants(value: str) -> set[str]:
    data = value.encode("utf-8")
    found = set()
    for shift in (0, 1, 2):
        part = data[shift:] if len(data) > shift else data
        encoded = base64.b64encode(part).decode("ascii")
        found.add(encoded)
        # ADR 0297: without the padding, and without the last character when there was
        # padding (it changes when anything follows the value before encoding).
        trimmed = encoded.rstrip("=")
        found.add(trimmed[:-1] if trimmed != encoded else trimmed)
    return found


def _json_escape(value: str) -> str:
    # Newtonsoft escapes '"', '\\' and control characters, not non-ASCII text.
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _xml_escape(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def _trim_double_quotes(value: str) -> str:
    if len(value) > 8 and value.startswith('"') and value.endswith('"'):
        return value[1:-1]
    return ""


def encodings(value: str) -> set[str]:
    """The value and every encoding of it the runner masks (empty ones left out)."""
    if not value:
        return set()
    found = {value, urllib.parse.quote(value, safe="-_.~"), _json_escape(value),
             _xml_escape(value), value.replace("'", "''"), _trim_double_quotes(value),
             *_base64_variants(value)}
    return {item for item in found if item}


class RunnerMasker:
    """The runner's SecretMasker for a set of masked values."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({value for value in secrets if value})
        self.values = sorted({encoded for value in self.secrets
                              for encoded in encodings(value)}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        spans: list[tuple[int, int]] = []
        for value in self.values:
            start = text.find(value)
            while start >= 0:
                spans.append((start, start + len(value)))
                start = text.find(value, start + 1)
        if not spans:
            return text
        merged: list[list[int]] = []
        for begin, end in sorted(spans):
            if merged and begin <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([begin, end])
        pieces, last = [], 0
        for begin, end in merged:
            pieces += [text[last:begin], MASK]
            last = end
        pieces.append(text[last:])
        return "".join(pieces)

    def is_clean(self, text: str) -> bool:
        return self.mask(text) == text


def masks_from_act(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The values the run registered with ``::add-mask::`` (act's --json records)."""
    return [str(record["arg"]) for record in records
            if record.get("command") == "add-mask" and record.get("arg")]


def masks_from_log(text: str) -> list[str]:
    """The values of ``::add-mask::`` lines of a step's output, unescaped as the runner
    unescapes command data."""
    found = []
    for line in text.splitlines():
        position = line.find("::add-mask::")
        if position >= 0:
            value = line[position + len("::add-mask::"):]
            found.append(value.replace("%0D", "\r").replace("%0A", "\n")
                         .replace("%25", "%"))
    return [value for value in found if value]


def links(text: str) -> list[str]:
    """The http(s) links of a text (Markdown destinations, bare URLs)."""
    return [match.group(0) for match in _LINK.finditer(text)]


@dataclass
class MaskingReport:
    """What masking did to a run's summary, outputs and comments."""

    problems: list[str] = field(default_factory=list)
    masked_summary: str = ""
    kept_outputs: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return not self.problems

    def message(self) -> str:
        return "GitHub's secret masking would break the run:\n" + "\n".join(
            f"- {problem}" for problem in self.problems)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def check(masker: RunnerMasker, *, summary: str = "", outputs: Mapping[str, str] | None = None,
          comments: Iterable[str] = ()) -> MaskingReport:
    """Apply the runner's rules to a run's summary, its outputs and the comment bodies it
    posted, and report every link masking destroys and every output it drops."""
    report = MaskingReport(masked_summary=masker.mask(summary))
    for link in links(summary):
        masked = masker.mask(link)
        if masked != link:
            report.problems.append(f"the summary's link {_short(link)} shows as "
                                   f"{_short(masked)}")
    for name, value in (outputs or {}).items():
        if masker.is_clean(value):
            report.kept_outputs[name] = value
        else:
            report.problems.append(f"Skip output '{name}' since it may contain secret "
                                   f"(masked: {_short(masker.mask(value))})")
    for number, body in enumerate(comments, 1):
        if not masker.is_clean(body):
            leaked = [_short(link) for link in links(body) if not masker.is_clean(link)]
            report.problems.append(f"comment {number} publishes a masked value (the API "
                                   f"masks nothing){': ' + ', '.join(leaked) if leaked else ''}")
    return report
