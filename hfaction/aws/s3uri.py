"""S3 locations: parsing, and keeping every key inside the render bucket's layout."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hfaction.errors import S3UriNotAllowed

# Layout of the render bucket. Intermediates live under work/ (a lifecycle rule
# expires them); final renders under renders/ are never expired.
SITES_PREFIX = "sites/"
WORK_PREFIX = "work/"
RENDERS_PREFIX = "renders/"

# Where a render's MP4 (and its poster beside it) may go: final renders, and previews
# (pull requests). Never over a site, an intermediate, or anywhere else in the bucket.
PREVIEWS_PREFIX = "previews/"
OUTPUT_PREFIXES = (RENDERS_PREFIX, PREVIEWS_PREFIX)
# What the preview state machine (template.yaml's PreviewStateMachine, the only one a
# pull-request role may start) lets its renders write: previews only.
PREVIEW_OUTPUT_PREFIXES = (PREVIEWS_PREFIX,)
# The last object of an uploaded site: its manifest (present: the whole site is there).
SITE_MANIFEST = ".hfaction-site.json"

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> S3Location:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri.strip())
    if not match or not _BUCKET.fullmatch(match.group(1)):
        raise S3UriNotAllowed(f"{uri!r} is not an s3://BUCKET/KEY URI")
    return S3Location(match.group(1), check_key(match.group(2)))


def check_key(key: str) -> str:
    """A key that cannot climb out of its prefix or hide control characters."""
    if (not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/"))
            or any(ord(ch) < 32 for ch in key) or len(key) > 1024):
        raise S3UriNotAllowed(f"S3 key {key!r} is not allowed",
                              hint="use a relative key without '.', '..' or empty parts")
    return key


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise S3UriNotAllowed(f"{what} {value!r} is not a valid id",
                              hint="use letters, digits, '-' and '_' (at most 128)")
    return value


def require_bucket(location_bucket: str, allowed_bucket: str) -> None:
    if location_bucket != allowed_bucket:
        raise S3UriNotAllowed(
            f"bucket {location_bucket!r} is not this stack's render bucket",
            hint=f"hfaction only reads and writes s3://{allowed_bucket}/",
        )


def plan_key(render_id: str) -> str:
    return f"{WORK_PREFIX}{check_id(render_id, 'render id')}/plan.tar"


def plan_json_key(render_id: str) -> str:
    return f"{WORK_PREFIX}{check_id(render_id, 'render id')}/plan.json"


def chunk_key(render_id: str, index: int) -> str:
    return f"{WORK_PREFIX}{check_id(render_id, 'render id')}/chunks/chunk-{int(index):05d}.mp4"


def invocation_key(render_id: str, name: str) -> str:
    return f"{WORK_PREFIX}{check_id(render_id, 'render id')}/invocations/{name}.json"


def default_output_key(render_id: str, prefixes: tuple[str, ...] = OUTPUT_PREFIXES) -> str:
    """``renders/ID/out.mp4``, or under the first of ``prefixes`` (``previews/ID/out.mp4``
    on the preview state machine)."""
    return f"{prefixes[0]}{check_id(render_id, 'render id')}/out.mp4"


def check_cleanup_prefix(prefix: str) -> str:
    """A prefix whose objects may be deleted together: a folder below the top level.

    Refuses the bucket's root and its top-level folders (all sites, all renders), so a
    mistyped or hostile value cannot wipe the bucket.
    """
    cleaned = check_key(prefix.rstrip("/")) + "/"
    if cleaned.count("/") < 2:
        raise S3UriNotAllowed(
            f"prefix {prefix!r} is too broad to delete",
            hint="give a folder at least two levels deep, e.g. previews/pr-12/")
    return cleaned


def check_output_key(key: str, prefixes: tuple[str, ...] = OUTPUT_PREFIXES) -> str:
    """An output key: a safe key under renders/ or previews/, or under ``prefixes`` only
    (a state machine's: the preview one's is previews/); S3_URI_NOT_ALLOWED otherwise."""
    if not check_key(key).startswith(prefixes):
        if prefixes == PREVIEW_OUTPUT_PREFIXES:
            raise S3UriNotAllowed(
                f"output key {key!r} is outside previews/: the preview state machine "
                "writes previews only",
                hint="give a key such as previews/pr-12/intro.mp4, or render without "
                     "--preview (on the main state machine) for renders/")
        raise S3UriNotAllowed(
            f"output key {key!r} is outside {' and '.join(prefixes)}",
            hint="give a key such as " + " or ".join(
                f"{prefix}{'pr-12/' if prefix == PREVIEWS_PREFIX else ''}intro.mp4"
                for prefix in prefixes))
    return key


def check_output_prefixes(value: object) -> tuple[str, ...]:
    """The output prefixes a state machine passes its plan and assemble steps
    (``output_prefixes``, from its definition: "renders/,previews/" or "previews/"): some of
    :data:`OUTPUT_PREFIXES`, never more (S3_URI_NOT_ALLOWED otherwise)."""
    parts = [part.strip() for part in value.split(",")] if isinstance(value, str) else []
    if not parts or any(part not in OUTPUT_PREFIXES for part in parts):
        raise S3UriNotAllowed(
            f"output prefixes {value!r} are not some of {', '.join(OUTPUT_PREFIXES)}",
            hint="the state machine's definition names them (template.yaml's OutputPrefixes "
                 "substitution): deploy the stack again with 'hfaction lambda deploy'")
    return tuple(dict.fromkeys(parts))


def poster_key(output_key: str) -> str:
    """The poster frame's key, beside the MP4: ``renders/ID/out.mp4`` -> ``.../out.poster.jpg``."""
    stem = output_key[:-4] if output_key.lower().endswith(".mp4") else output_key
    return check_key(f"{stem}.poster.jpg")


def site_prefix(site_id: str) -> str:
    return f"{SITES_PREFIX}{check_id(site_id, 'site id')}/"
