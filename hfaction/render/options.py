"""The options of one render: the one schema the CLI, the Lambda handler and the action share.

Each field's metadata says how it reaches a render:

- ``help``: the help of its command-line flag (``--chunk-size`` for ``chunk_size``), shared by
  ``hfaction render``, ``plan`` and ``lambda render`` (:mod:`hfaction.cli.options` builds
  the flags from these fields). Fields without one are set by the caller, not by a shared
  flag (``parallelism``: ``plan --parallelism``, or the stack's concurrency on Lambda).
- ``remote``: False for what only means something on this machine (a browser, a folder) or
  is not a user's choice: a Lambda event may not set it and ``lambda render`` offers no flag.
- ``env``: the environment variable the flag also reads.

Kept free of heavy imports (no Playwright): the CLI declares its options from it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from hfaction.errors import InvalidFps, InvalidOption, InvalidVariable
from hfaction.render.framemath import format_fps, parse_fps


def _meta(help_text: str | None = None, *, remote: bool = True,
          env: str | None = None) -> dict[str, Any]:
    return {"help": help_text, "remote": remote, "env": env}


@dataclass
class RenderOptions:
    entry: str = field(default="index.html",
                       metadata=_meta("Entry HTML file inside the project."))
    fps: str | None = field(default=None, metadata=_meta(
        "Frame rate: 24, 30, 60, 29.97 or 30000/1001. Default: data-fps, else 30."))
    width: int | None = field(default=None, metadata=_meta(
        "Confirm the composition's width (or set it when undeclared)."))
    height: int | None = field(default=None, metadata=_meta(
        "Confirm the composition's height (or set it)."))
    quality: str = field(default="standard",
                         metadata=_meta("Encoder preset: draft, standard or high."))
    crf: int | None = field(default=None, metadata=_meta(
        "x264 CRF, 0 (lossless) to 51; overrides the preset's."))
    chunk_size: int | None = field(default=None,
                                   metadata=_meta("Frames per chunk. Default: automatic."))
    # How many chunks will run at once, for the automatic chunk size.
    parallelism: int = field(default=1, metadata=_meta())
    variables: dict[str, str] = field(default_factory=dict, metadata=_meta(
        "Variable value, ID=VALUE; repeatable."))
    browser: str | None = field(default=None, metadata=_meta(
        "Chromium or headless shell to use.", remote=False, env="HFACTION_BROWSER"))
    asset_cache: Path | None = field(default=None, metadata=_meta(
        "Folder of remote assets laid out as HOST/PATH, consulted before the network.",
        remote=False, env="HFACTION_ASSET_CACHE"))
    ready_timeout: float = field(default=30.0, metadata=_meta(
        "Seconds to wait for the page to be ready."))
    seed: int = field(default=0, metadata=_meta(remote=False))
    # A machine font named first is an error, not a warning.
    strict_fonts: bool = field(default=False, metadata=_meta(
        "Fail (SYSTEM_FONT_USED) when a machine font such as sans-serif is named first.",
        env="HFACTION_STRICT_FONTS"))


# --- the schema, read from the fields -----------------------------------------------------


@dataclass(frozen=True)
class OptionField:
    """One field of :class:`RenderOptions` as the edges see it."""

    name: str
    type: Any  # the annotation, resolved: ``int | None``, ``Path | None``, ``dict[str, str]``
    default: Any
    help: str | None
    remote: bool
    env: str | None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def option_fields(*, remote: bool | None = None, flags: bool | None = None
                  ) -> list[OptionField]:
    """The fields of :class:`RenderOptions`, in order; ``remote``/``flags``: only those a
    Lambda event may set (or not), only those with a shared command-line flag (or not)."""
    hints = typing.get_type_hints(RenderOptions)
    found = []
    for item in dataclasses.fields(RenderOptions):
        default = (item.default_factory() if item.default_factory is not dataclasses.MISSING
                   else item.default)
        option = OptionField(item.name, hints[item.name], default, item.metadata["help"],
                             item.metadata["remote"], item.metadata["env"])
        if remote is not None and option.remote != remote:
            continue
        if flags is not None and (option.help is not None) != flags:
            continue
        found.append(option)
    return found


def _json_type(hint: Any) -> type | tuple[type, ...]:
    """The JSON value types a field accepts: ``int | None`` -> int, ``float`` -> int or float."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    base = typing.get_origin(hint) or hint
    if base is float:
        return (int, float)
    assert isinstance(base, type), hint
    return base


def event_option_types() -> dict[str, type | tuple[type, ...]]:
    """The render options a Lambda event may carry, and the JSON types of their values."""
    return {option.name: _json_type(option.type) for option in option_fields(remote=True)}


def options_from_event(raw: Any) -> RenderOptions:
    """The options of a render from an execution's input (JSON): only the remote fields,
    each of its type; anything else is refused."""
    if not isinstance(raw, dict):
        raise InvalidOption("options must be a JSON object")
    types_ = event_option_types()
    unknown = sorted(set(raw) - set(types_))
    if unknown:
        raise InvalidOption(f"unknown render option {unknown[0]!r}")
    for key, value in raw.items():
        if value is not None and not isinstance(value, types_[key]):
            raise InvalidOption(f"render option {key!r} has the wrong type")
    values = {key: value for key, value in raw.items() if value is not None}
    if "variables" in values:
        values["variables"] = {str(k): str(v) for k, v in values["variables"].items()}
    return RenderOptions(**values)


def options_to_event(options: RenderOptions) -> dict[str, Any]:
    """The remote options that differ from their defaults, as JSON for an execution's input
    (what :func:`options_from_event` reads back). Local ones (a browser path) never go."""
    event: dict[str, Any] = {}
    for option in option_fields(remote=True):
        value = getattr(options, option.name)
        if value != option.default:
            event[option.name] = dict(value) if isinstance(value, dict) else value
    return event


# --- values given on the command line -------------------------------------------------------


def parse_variables(pairs: list[str] | None, vars_file: Path | None) -> dict[str, str]:
    """Variable values from ``--vars-file`` (a JSON object) then ``--var ID=VALUE`` pairs,
    which override it; non-string JSON values are kept as their JSON text."""
    values: dict[str, str] = {}
    if vars_file is not None:
        try:
            loaded = json.loads(vars_file.read_text())
        except FileNotFoundError:
            raise InvalidVariable(f"--vars-file {vars_file} does not exist") from None
        except json.JSONDecodeError as error:
            raise InvalidVariable(f"--vars-file {vars_file} is not JSON ({error.msg} at line "
                                  f"{error.lineno})") from None
        if not isinstance(loaded, dict):
            raise InvalidVariable(f"--vars-file {vars_file} must hold a JSON object")
        values.update({str(k): v if isinstance(v, str) else json.dumps(v)
                       for k, v in loaded.items()})
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidVariable(f"--var {pair!r} is not ID=VALUE")
        values[name.strip()] = value
    return values


# --- distributed renders ----------------------------------------------------------------------

# The composition contract: distributed renders accept these rates only.
DISTRIBUTED_FPS = (24, 30, 60)


def check_distributed_fps(fps: Fraction, *, source: str = "the composition renders at"
                          ) -> Fraction:
    """``fps`` if a distributed render may use it, else INVALID_FPS."""
    if fps not in DISTRIBUTED_FPS:
        raise InvalidFps(
            f"distributed renders accept {', '.join(str(f) for f in DISTRIBUTED_FPS)} fps; "
            f"{source} {format_fps(fps)}",
            hint="set data-fps or --fps to one of those, or render locally",
        )
    return fps


def check_distributed(options: RenderOptions) -> RenderOptions:
    """What a distributed render refuses that the options alone show: an ``--fps`` other
    than 24, 30 or 60. The client checks it before uploading anything, the handler again;
    a composition's own data-fps is checked once it is planned (on Lambda)."""
    if options.fps is not None:
        check_distributed_fps(parse_fps(options.fps, where="--fps"), source="--fps is")
    return options
