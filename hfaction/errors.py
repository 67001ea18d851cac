"""Every error hfaction raises on purpose.

Each error has a stable ``code`` (the name Step Functions, the CLI and the
GitHub Action report), an ``exit_code`` (2 for bad input, 1 for a failed
render) and a one-line message that says what went wrong, where, and what
to do about it. The CLI prints ``str(error)`` and nothing else: no traceback.
"""

from __future__ import annotations

from typing import ClassVar


class HfactionError(Exception):
    """Base of every deliberate hfaction error."""

    code: ClassVar[str] = "HFACTION_ERROR"
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = " ".join(message.split())
        self.hint = " ".join(hint.split()) if hint else None
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.code}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "hint": self.hint or ""}


class BadInput(HfactionError):
    """The project, an option or a file the user gave is wrong."""

    code = "BAD_INPUT"
    exit_code = 2


class RenderFailed(HfactionError):
    """The input was fine but rendering could not complete."""

    code = "RENDER_FAILED"
    exit_code = 1


# --- bad input -----------------------------------------------------------------


class ProjectNotFound(BadInput):
    code = "PROJECT_NOT_FOUND"


class EntryNotFound(BadInput):
    code = "ENTRY_NOT_FOUND"


class NoCompositionRoot(BadInput):
    code = "NO_COMPOSITION_ROOT"


class InvalidSize(BadInput):
    code = "INVALID_SIZE"


class InvalidFps(BadInput):
    code = "INVALID_FPS"


class InvalidDuration(BadInput):
    code = "INVALID_DURATION"


class ClipReferenceUnresolved(BadInput):
    code = "CLIP_REFERENCE_UNRESOLVED"


class ClipReferenceCycle(BadInput):
    code = "CLIP_REFERENCE_CYCLE"


class InvalidVariable(BadInput):
    code = "INVALID_VARIABLE"


class InvalidOption(BadInput):
    code = "INVALID_OPTION"


class UnsafePath(BadInput):
    code = "UNSAFE_PATH"


class PageScriptError(BadInput):
    code = "PAGE_SCRIPT_ERROR"


class ReadinessTimeout(BadInput):
    code = "READINESS_TIMEOUT"


class RemoteAssetFetchFailed(BadInput):
    code = "REMOTE_ASSET_FETCH_FAILED"


class NestedCompositionError(BadInput):
    code = "NESTED_COMPOSITION_ERROR"


class S3UriNotAllowed(BadInput):
    code = "S3_URI_NOT_ALLOWED"


class UnsafeArchive(BadInput):
    code = "UNSAFE_ARCHIVE"


class AwsCredentialsMissing(BadInput):
    code = "AWS_CREDENTIALS_MISSING"


class StackNotFound(BadInput):
    code = "STACK_NOT_FOUND"


class AwsRegionMissing(BadInput):
    """No --region, AWS_REGION, AWS_DEFAULT_REGION nor profile region: nowhere to look."""

    code = "AWS_REGION_MISSING"


class RenderTooLong(BadInput):
    """More frames than the render ceiling (--max-frames, default 10 minutes of video)."""

    code = "RENDER_TOO_LONG"


class RenderNotRunning(BadInput):
    """'lambda cancel' of a render that has already ended: nothing was stopped."""

    code = "RENDER_NOT_RUNNING"


class SamNotFound(BadInput):
    code = "SAM_NOT_FOUND"


class ContainerEngineNotFound(BadInput):
    code = "CONTAINER_ENGINE_NOT_FOUND"


class ConcurrencyQuotaTooLow(BadInput):
    code = "CONCURRENCY_QUOTA_TOO_LOW"


class InvalidBatch(BadInput):
    """A batch file (``render --batch``) that cannot be rendered as given: its format, an
    output name, or a row's variables. ``problems`` lists every one, a line each."""

    code = "INVALID_BATCH"
    problems: tuple[str, ...] = ()

    def __init__(self, message: str, *, problems: tuple[str, ...] = (),
                 hint: str | None = None) -> None:
        self.problems = problems
        super().__init__(message, hint=hint)


# --- render failures -------------------------------------------------------------


class PlanInvalid(RenderFailed):
    code = "PLAN_INVALID"


class PlanHashMismatch(RenderFailed):
    code = "PLAN_HASH_MISMATCH"


class FfmpegVersionMismatch(RenderFailed):
    code = "FFMPEG_VERSION_MISMATCH"


class BrowserVersionMismatch(RenderFailed):
    code = "BROWSER_VERSION_MISMATCH"


class BrowserNotFound(RenderFailed):
    code = "BROWSER_NOT_FOUND"


class FfmpegNotFound(RenderFailed):
    code = "FFMPEG_NOT_FOUND"


class BrowserGpuNotSoftware(RenderFailed):
    code = "BROWSER_GPU_NOT_SOFTWARE"


class BrowserFailed(RenderFailed):
    code = "BROWSER_FAILED"


class RemoteAssetNotFrozen(RenderFailed):
    code = "REMOTE_ASSET_NOT_FROZEN"


class SubprocessFailed(RenderFailed):
    code = "SUBPROCESS_FAILED"

    def __init__(
        self, message: str, *, command: list[str], stderr_tail: str, hint: str | None = None
    ) -> None:
        self.command = command
        self.stderr_tail = stderr_tail
        last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else "no stderr"
        super().__init__(f"{message}: {last}", hint=hint)


class EncodeFailed(SubprocessFailed):
    code = "ENCODE_FAILED"


class SamFailed(SubprocessFailed):
    code = "SAM_FAILED"


class ImageBuildFailed(SubprocessFailed):
    code = "IMAGE_BUILD_FAILED"


class AwsCallFailed(RenderFailed):
    code = "AWS_CALL_FAILED"
    # The service's own error code (ExecutionDoesNotExist, AccessDeniedException, ...) when
    # AWS answered, for callers that treat some answers as data.
    aws_code = ""


class ChunkMissing(RenderFailed):
    code = "CHUNK_MISSING"


class ChunkIncomplete(RenderFailed):
    code = "CHUNK_INCOMPLETE"


class WorkerFailed(RenderFailed):
    code = "WORKER_FAILED"


class BatchFailed(RenderFailed):
    """Some rows of a batch failed to render; the others were rendered."""

    code = "BATCH_FAILED"


class SiteHashMismatch(RenderFailed):
    """The files under sites/<site_id>/ do not hash to the site id they are stored under."""

    code = "SITE_HASH_MISMATCH"


def all_error_classes() -> list[type[HfactionError]]:
    """Every concrete error class, for documentation and the Lambda handler's mapping."""
    found: list[type[HfactionError]] = []
    pending: list[type[HfactionError]] = [HfactionError]
    while pending:
        cls = pending.pop()
        if not getattr(cls, "remote", False):
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


_REMOTE_ERRORS: dict[str, type[HfactionError]] = {}


def error_from_dict(data: dict[str, str]) -> HfactionError:
    """Rebuild an error sent across a process boundary (worker processes, Lambda results)."""
    by_code = {cls.code: cls for cls in all_error_classes()}
    code = data.get("code", "") or RenderFailed.code
    cls = by_code.get(code)
    if cls is None:
        # A code from elsewhere (a Step Functions or Lambda error name): keep it.
        cls = _REMOTE_ERRORS.setdefault(
            code, type("RemoteError", (RenderFailed,), {"code": code, "remote": True}))
    error = cls.__new__(cls)
    HfactionError.__init__(error, data.get("message", "unknown error"),
                           hint=data.get("hint") or None)
    return error


# --- GitHub Actions steps (hfaction github ...) ------------------------------------


class InvalidWorkflowFileCommand(BadInput):
    code = "INVALID_WORKFLOW_FILE_COMMAND"


class OidcTokenUnavailable(BadInput):
    code = "OIDC_TOKEN_UNAVAILABLE"


class InvalidRoleArn(BadInput):
    code = "INVALID_ROLE_ARN"


class AssumeRoleRefused(BadInput):
    code = "ASSUME_ROLE_REFUSED"


class InvalidResultFile(BadInput):
    code = "INVALID_RESULT_FILE"


class OidcTokenFailed(RenderFailed):
    code = "OIDC_TOKEN_FAILED"


class GithubApiFailed(RenderFailed):
    code = "GITHUB_API_FAILED"


# --- media in compositions (<audio>, <video>) --------------------------------------


class MediaNotFound(BadInput):
    code = "MEDIA_NOT_FOUND"


class MediaUnsupported(BadInput):
    code = "MEDIA_UNSUPPORTED"


class MediaEmpty(BadInput):
    code = "MEDIA_EMPTY"


class MediaTooLarge(BadInput):
    code = "MEDIA_TOO_LARGE"


class MediaAttributeInvalid(BadInput):
    code = "MEDIA_ATTRIBUTE_INVALID"


# --- fonts (frozen into the plan) ------------------------------------------------


class FontFetchFailed(BadInput):
    """A font the project uses (or names) could not be fetched: names the family and URL."""

    code = "FONT_FETCH_FAILED"


class SystemFontUsed(BadInput):
    """A generic or machine font is the first choice: a warning, an error with --strict-fonts."""

    code = "SYSTEM_FONT_USED"


# --- IAM policies (hfaction policies) --------------------------------------------------


class PolicyFileInvalid(BadInput):
    code = "POLICY_FILE_INVALID"


class GithubSubjectInvalid(BadInput):
    code = "GITHUB_SUBJECT_INVALID"


# --- HTTP requests that carry a credential (hfaction/github/sameorigin.py) -------------


class RedirectRefused(RenderFailed):
    """A server redirected a request with an Authorization header to another origin."""

    code = "REDIRECT_REFUSED"


# --- completion notifications (hfaction/aws/notify.py, hfaction/notify_signature.py) ----


class WebhookSignatureInvalid(BadInput):
    """A webhook request whose Hfaction-Signature is missing, malformed, expired, or does
    not sign its body with the receiver's secret (the receiver's error)."""

    code = "WEBHOOK_SIGNATURE_INVALID"


class WebhookDeliveryFailed(RenderFailed):
    """A notification's webhook was not accepted: refused (4xx), or still failing after
    every retry (5xx, 429, a connection error)."""

    code = "WEBHOOK_DELIVERY_FAILED"
    attempts: int = 0  # requests made
    status: int | None = None  # the last HTTP status, None after a connection error
