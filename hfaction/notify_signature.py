"""Signatures of hfaction's webhook notifications (Stripe-style), for senders and receivers.

Pure standard library (and :mod:`hfaction.errors`): a receiver imports it without boto3 or
anything else hfaction renders with.

Every webhook request carries the header::

    Hfaction-Signature: t=1718000000,v1=5257a869e7ec...(64 hex digits)

``t`` is the Unix time the request was signed (each retry is signed again), ``v1`` the hex
HMAC-SHA256, keyed with the webhook secret (UTF-8), of ``f"{t}.".encode() + body``: the
timestamp, a dot and the raw request body, byte for byte as received. While a secret is
being rotated the header holds one ``v1`` per secret; a receiver accepts the request when
any of them matches a secret it knows. Entries of other schemes (``v0=...``) are ignored.

A receiver must check the signature over the raw body (before parsing or re-encoding the
JSON), compare in constant time, and refuse timestamps too far from its clock (replays):
:func:`verify` does all three.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

from hfaction.errors import WebhookSignatureInvalid

SIGNATURE_HEADER = "Hfaction-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
# A header longer than this, or with more signatures, is refused unread (a rotation needs 2).
MAX_HEADER_CHARS = 4096
MAX_SIGNATURES = 8

_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")

Secrets = str | Sequence[str]


def _secrets(secret: Secrets) -> list[str]:
    found = [secret] if isinstance(secret, str) else list(secret)
    if not found or any(not isinstance(item, str) or not item for item in found):
        raise ValueError("a webhook secret must be a non-empty string")
    return found


def signed_payload(body: bytes, timestamp: int) -> bytes:
    """What is signed: the timestamp, a dot, the body."""
    return f"{int(timestamp)}.".encode() + body


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of :func:`signed_payload` keyed with ``secret``."""
    return hmac.new(secret.encode(), signed_payload(body, timestamp), hashlib.sha256).hexdigest()


def sign(body: bytes, secret: Secrets, timestamp: int) -> str:
    """The ``Hfaction-Signature`` header value: ``t=<timestamp>,v1=<hex>``, one ``v1`` per
    secret (the new one first while rotating: ``[new, old]``)."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("the timestamp must be a non-negative integer (Unix seconds)")
    parts = [f"t={timestamp}"]
    parts.extend(f"{SCHEME}={signature(body, item, timestamp)}" for item in _secrets(secret))
    return ",".join(parts)


def parse_header(header: str | None) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures) of a header; WEBHOOK_SIGNATURE_INVALID when it is missing
    or malformed. Never says what the signatures were."""
    if not header or not isinstance(header, str):
        raise WebhookSignatureInvalid(f"no {SIGNATURE_HEADER} header",
                                      hint="only hfaction's signed requests are accepted")
    if len(header) > MAX_HEADER_CHARS:
        raise WebhookSignatureInvalid(f"the {SIGNATURE_HEADER} header is too long")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, equals, value = item.strip().partition("=")
        if not equals:
            raise WebhookSignatureInvalid(f"the {SIGNATURE_HEADER} header is malformed",
                                          hint="expected t=<unix time>,v1=<hex>")
        if key == "t":
            timestamps.append(value)
        elif key == SCHEME:
            signatures.append(value.lower())
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        raise WebhookSignatureInvalid(f"the {SIGNATURE_HEADER} header has no valid timestamp",
                                      hint="expected exactly one t=<unix time>")
    valid = [item for item in signatures if _HEX_SHA256.fullmatch(item)]
    if not valid:
        raise WebhookSignatureInvalid(f"the {SIGNATURE_HEADER} header has no {SCHEME} "
                                      "signature")
    if len(signatures) > MAX_SIGNATURES:
        raise WebhookSignatureInvalid(f"the {SIGNATURE_HEADER} header has more than "
                                      f"{MAX_SIGNATURES} signatures")
    return int(timestamps[0]), valid


def verify(body: bytes, header: str | None, secret: Secrets, *,
           tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None) -> int:
    """Check a request: ``header`` (the ``Hfaction-Signature`` value) signs ``body`` (the raw
    bytes received) with ``secret`` (or any of several, while rotating), at a time at most
    ``tolerance_s`` from ``now`` (default: this clock). Returns the signed timestamp;
    raises WEBHOOK_SIGNATURE_INVALID otherwise: missing or malformed header, no matching
    signature (a changed body, another secret), or a timestamp out of tolerance."""
    timestamp, candidates = parse_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookSignatureInvalid(
            f"the signature's timestamp is {abs(current - timestamp):.0f}s from this clock, "
            f"more than the {tolerance_s:.0f}s tolerated",
            hint="a replayed request, or a clock out of sync (check NTP)")
    matched = False
    for key in _secrets(secret):
        expected = signature(body, key, timestamp)
        for candidate in candidates:  # every pair compared: no early exit to time
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookSignatureInvalid(
            "no signature matches the body and the secret",
            hint="verify the raw request body, before any JSON parsing, with the secret "
                 "given to 'hfaction lambda deploy --webhook-secret-env'")
    return timestamp
