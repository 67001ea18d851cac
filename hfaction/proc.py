"""The one place hfaction runs other programs.

Failures become typed errors carrying the command and the tail of stderr, so a
user sees what ran and why it failed without a traceback.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import IO

from hfaction.errors import SubprocessFailed

STDERR_TAIL_LINES = 20


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(
    command: Sequence[str],
    *,
    what: str,
    error: type[SubprocessFailed] = SubprocessFailed,
    timeout: float | None = None,
    input_bytes: bytes | None = None,
    hint: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` to completion; raise ``error`` (with stderr's tail) when it fails."""
    argv = [str(part) for part in command]
    try:
        completed = subprocess.run(
            argv, input=input_bytes, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as expired:
        stderr = (expired.stderr or b"").decode("utf-8", "replace")
        raise error(f"{what} timed out after {timeout}s", command=argv,
                    stderr_tail=tail(stderr), hint=hint) from None
    except OSError as os_error:
        raise error(f"{what} could not start", command=argv, stderr_tail=str(os_error),
                    hint=hint) from None
    if completed.returncode != 0:
        raise error(
            f"{what} failed (exit {completed.returncode})",
            command=argv,
            stderr_tail=tail(completed.stderr.decode("utf-8", "replace")),
            hint=hint,
        )
    return completed


class StreamingProcess:
    """A process fed through stdin (frames into ffmpeg), with stderr drained in the background.

    Draining stderr on a thread keeps a chatty process from blocking on a full pipe
    while we block writing its stdin.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        what: str,
        error: type[SubprocessFailed] = SubprocessFailed,
    ) -> None:
        self.command = [str(part) for part in command]
        self.what = what
        self.error = error
        self._stderr: deque[str] = deque(maxlen=200)
        try:
            self._process = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as os_error:
            raise error(f"{what} could not start", command=self.command,
                        stderr_tail=str(os_error)) from None
        assert self._process.stderr is not None
        self._drain = threading.Thread(target=self._read_stderr, args=(self._process.stderr,),
                                       daemon=True)
        self._drain.start()

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for line in stream:
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    def write(self, data: bytes) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(data)
        except BrokenPipeError:
            self._fail("stopped reading its input")

    def finish(self) -> None:
        """Close stdin, wait, and raise if the process failed."""
        assert self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.close()
        returncode = self._process.wait()
        self._drain.join(timeout=5)
        if returncode != 0:
            self._fail(f"failed (exit {returncode})")

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._drain.join(timeout=5)

    def _fail(self, how: str) -> None:
        self.kill()
        raise self.error(f"{self.what} {how}", command=self.command,
                         stderr_tail=tail("\n".join(self._stderr)))

    def __enter__(self) -> StreamingProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.kill()
