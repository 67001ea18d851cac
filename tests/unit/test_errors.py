"""Error codes, exit codes and messages."""

from __future__ import annotations

import pytest

from hfaction import errors
from hfaction.errors import (
    BadInput,
    EncodeFailed,
    HfactionError,
    InvalidFps,
    RenderFailed,
    SubprocessFailed,
    all_error_classes,
    error_from_dict,
)

CLASSES = all_error_classes()


def test_all_error_classes_finds_every_error_in_the_module() -> None:
    in_module = {obj for obj in vars(errors).values()
                 if isinstance(obj, type) and issubclass(obj, HfactionError)}
    assert set(CLASSES) == in_module
    assert len(CLASSES) == len(set(CLASSES))
    assert {HfactionError, BadInput, RenderFailed, SubprocessFailed, EncodeFailed} <= set(CLASSES)


def test_codes_are_unique() -> None:
    codes = [cls.code for cls in CLASSES]
    assert len(codes) == len(set(codes))
    assert all(code and code == code.upper() and " " not in code for code in codes)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_exit_codes(cls: type[HfactionError]) -> None:
    if issubclass(cls, BadInput):
        assert cls.exit_code == 2
    else:
        assert issubclass(cls, RenderFailed) or cls is HfactionError
        assert cls.exit_code == 1


def test_bad_input_and_render_failed_both_exist() -> None:
    bad = [cls for cls in CLASSES if issubclass(cls, BadInput)]
    failed = [cls for cls in CLASSES if issubclass(cls, RenderFailed)]
    assert len(bad) > 5 and len(failed) > 5


def test_one_line_has_no_newline() -> None:
    error = InvalidFps("fps is\n'x'\n\tsomewhere", hint="use\n30\r\nor 60")
    assert error.one_line() == "INVALID_FPS: fps is 'x' somewhere (use 30 or 60)"
    assert str(error) == error.one_line()
    assert "\n" not in str(error) and "\r" not in str(error)


def test_one_line_without_hint() -> None:
    error = RenderFailed("it broke")
    assert str(error) == "RENDER_FAILED: it broke"
    assert error.to_dict() == {"code": "RENDER_FAILED", "message": "it broke", "hint": ""}


def test_subprocess_failed_keeps_the_last_stderr_line() -> None:
    error = EncodeFailed("ffmpeg failed", command=["ffmpeg", "-i", "x"],
                         stderr_tail="line one\nlast words\n")
    assert error.message == "ffmpeg failed: last words"
    assert error.command == ["ffmpeg", "-i", "x"]
    assert error.exit_code == 1
    assert "\n" not in str(error)
    assert SubprocessFailed("x", command=[], stderr_tail="  ").message == "x: no stderr"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_error_from_dict_round_trips(cls: type[HfactionError]) -> None:
    data = {"code": cls.code, "message": f"{cls.__name__} at index.html:3",
            "hint": "do the thing"}
    rebuilt = error_from_dict(data)
    assert type(rebuilt) is cls
    assert rebuilt.to_dict() == data
    assert rebuilt.exit_code == cls.exit_code
    assert str(rebuilt) == f"{cls.code}: {cls.__name__} at index.html:3 (do the thing)"


def test_error_from_dict_round_trips_a_raised_error() -> None:
    original = InvalidFps("data-fps is 'x' at index.html:2", hint="use 30")
    rebuilt = error_from_dict(original.to_dict())
    assert isinstance(rebuilt, InvalidFps)
    assert (rebuilt.code, rebuilt.message, rebuilt.hint) == (original.code, original.message,
                                                              original.hint)
    no_hint = error_from_dict(RenderFailed("x").to_dict())
    assert no_hint.hint is None


def test_error_from_dict_unknown_code_is_a_render_failure_keeping_its_code() -> None:
    # Codes from elsewhere (Step Functions' States.Timeout, Lambda.Unknown) survive.
    rebuilt = error_from_dict({"code": "States.Timeout", "message": "odd"})
    assert isinstance(rebuilt, RenderFailed)
    assert (rebuilt.code, rebuilt.exit_code, rebuilt.message) == ("States.Timeout", 1, "odd")
    assert rebuilt.one_line() == "States.Timeout: odd"
    assert type(error_from_dict({"code": "States.Timeout"})) is type(rebuilt)
    assert all(cls.code != "States.Timeout" for cls in all_error_classes())
    assert type(error_from_dict({})) is RenderFailed

