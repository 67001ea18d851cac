"""The stand-in for GitHub's secret masking (tests/integration/github/runner_masking.py)
masks what the runner masks: each encoding its HostContext registers, checked against
values worked out by hand, and the verdicts the act and moto tests rely on."""

from __future__ import annotations

import base64

from tests.integration.github.runner_masking import (
    MASK,
    RunnerMasker,
    check,
    encodings,
    links,
    masks_from_act,
    masks_from_log,
)

TOKEN = "FQoGZXIvYXdz/Ab+cd=="  # session tokens hold '/', '+' and '='


def test_every_encoding_the_runner_registers() -> None:
    found = encodings(TOKEN)
    assert TOKEN in found
    assert "FQoGZXIvYXdz%2FAb%2Bcd%3D%3D" in found  # Uri.EscapeDataString, upper-case hex
    assert base64.b64encode(TOKEN.encode()).decode() in found
    assert base64.b64encode(TOKEN[1:].encode()).decode() in found  # shifted by one byte
    assert base64.b64encode(TOKEN[2:].encode()).decode() in found  # ... and two
    assert encodings('a"b\\c\nd') >= {'a\\"b\\\\c\\nd', "a&quot;b\\c\nd"}  # JSON, XML
    assert "it''s" in encodings("it's")  # the expression escape
    assert encodings("") == set()


def test_masking_replaces_every_encoding_and_merges_overlaps() -> None:
    masker = RunnerMasker([TOKEN, "AKIAEXAMPLE"])
    url = ("https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIAEXAMPLE&Signature=x"
           "&x-amz-security-token=FQoGZXIvYXdz%2FAb%2Bcd%3D%3D&Expires=1")
    assert masker.mask(url) == ("https://b.s3.amazonaws.com/k?AWSAccessKeyId=***&Signature=x"
                                "&x-amz-security-token=***&Expires=1")
    prefixed = base64.b64encode(b"user:" + TOKEN.encode()).decode()
    assert MASK in masker.mask(prefixed)  # base64 of the token behind a prefix
    assert masker.mask("AKIAEXAMPLEAKIAEXAMPLE") == MASK
    assert masker.is_clean("https://b.s3.amazonaws.com/k?X-Amz-Credential=ASIAOTHER")


def test_check_reports_destroyed_links_dropped_outputs_and_leaking_comments() -> None:
    masker = RunnerMasker(["ASIAJOB"])
    job_link = "https://b.s3.amazonaws.com/k?X-Amz-Credential=ASIAJOB%2F2026"
    lambda_link = "https://b.s3.amazonaws.com/k?X-Amz-Credential=ASIALAMBDA%2F2026"
    bad = check(masker, summary=f"**[Download]({job_link})**",
                outputs={"video-url": job_link, "frames": "60"},
                comments=[f"[Watch]({job_link})"])
    assert not bad
    assert len(bad.problems) == 3
    assert "Skip output 'video-url' since it may contain secret" in bad.message()
    assert bad.kept_outputs == {"frames": "60"}
    good = check(masker, summary=f"**[Download]({lambda_link})**",
                 outputs={"video-url": lambda_link}, comments=[f"[Watch]({lambda_link})"])
    assert good and good.kept_outputs == {"video-url": lambda_link}


def test_masked_values_are_read_from_act_records_and_from_logs() -> None:
    records = [{"command": "add-mask", "arg": "one"}, {"command": "set-output", "arg": "x"},
               {"msg": "plain"}]
    assert masks_from_act(records) == ["one"]
    assert masks_from_log("noise\n::add-mask::two%25%0Alines\n::add-mask::\n") == \
        ["two%\nlines"]


def test_links_are_found_in_markdown() -> None:
    text = "**[MP4](https://a.test/v.mp4?x=1&amp;y=2)** ![p](http://localhost:9/p.jpg)"
    assert links(text) == ["https://a.test/v.mp4?x=1&amp;y=2", "http://localhost:9/p.jpg"]
