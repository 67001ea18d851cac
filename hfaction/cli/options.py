"""Option declarations shared by the command groups, each defined once.

Typer reads a command's options from its signature. The render options are one set, built
from the fields of :class:`~hfaction.render.options.RenderOptions` (their help, flag and
environment variable): a command takes them with :func:`render_options` and receives one
``options: RenderOptions`` argument in their place. ``hfaction render``, ``plan`` and
``lambda render`` take the same set (``lambda render`` without the options that only mean
something on this machine), so a new field is a new flag of all three at once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from hfaction.render.options import OptionField, RenderOptions, option_fields, parse_variables

Command = TypeVar("Command", bound=Callable[..., Any])

ProjectArg = Annotated[Path, typer.Argument(help="Project folder holding index.html.",
                                            show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

# --- the render stack (hfaction lambda ..., hfaction policies ...) ----------------------------

StackOpt = Annotated[str, typer.Option("--stack-name", envvar="HFACTION_STACK",
                                       help="CloudFormation stack of the render stack.")]
# The region to connect to (hfaction lambda, hfaction github oidc).
RegionOpt = Annotated[str | None, typer.Option("--region", envvar="AWS_REGION",
                                               help="AWS region.")]
BucketOpt = Annotated[str | None, typer.Option(
    "--bucket", help="Render bucket (with --state-machine-arn: skip the stack lookup).")]
MachineOpt = Annotated[str | None, typer.Option(
    "--state-machine-arn", help="Render state machine (e.g. from a CDK stack).")]

# Completion notifications of the stack (hfaction lambda deploy). Left out: the stack keeps
# what it has; '' turns it off.
NotifyTopicOpt = Annotated[str | None, typer.Option(
    "--notify-topic", help="SNS topic ARN that gets a message when a render, preview or "
    "batch ends (succeeded, failed, timed out, stopped). Default: the stack's; '' removes "
    "it.")]
WebhookOpt = Annotated[str | None, typer.Option(
    "--webhook", help="https URL that gets each notification as JSON signed with "
    "Hfaction-Signature (HMAC-SHA256, see README). Default: the stack's; '' removes it.")]
WebhookSecretEnvOpt = Annotated[str | None, typer.Option(
    "--webhook-secret-env", help="NAME of the environment variable holding the webhook's "
    "signing secret (at least 16 characters; never printed). Needed with a new --webhook.",
    metavar="NAME")]

# --- the render options, from RenderOptions ----------------------------------------------------

VARS_FILE_HELP = "JSON object of variable values."


def _parameter(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


def _flags(option: OptionField) -> list[inspect.Parameter]:
    """The typer parameters of one field: its flag; ``variables`` has two (--var, --vars-file)."""
    if option.name == "variables":
        return [
            _parameter("var", Annotated[list[str] | None,
                                        typer.Option("--var", help=option.help)], None),
            _parameter("vars_file", Annotated[Path | None,
                                              typer.Option("--vars-file", help=VARS_FILE_HELP)],
                       None),
        ]
    info = typer.Option(option.flag, help=option.help, envvar=option.env)
    return [_parameter(option.name, Annotated[option.type, info], option.default)]


def _build(values: dict[str, Any]) -> RenderOptions:
    if "var" in values:
        values["variables"] = parse_variables(values.pop("var"), values.pop("vars_file"))
    return RenderOptions(**values)


def render_option_flags(*, remote: bool = False,
                        only: Collection[str] | None = None) -> list[inspect.Parameter]:
    """The flags of the render options that have one (``remote``: only those a Lambda render
    takes; ``only``: only these fields)."""
    fields = option_fields(flags=True, remote=True if remote else None)
    return [parameter for option in fields if only is None or option.name in only
            for parameter in _flags(option)]


def render_options(*, remote: bool = False,
                   only: Collection[str] | None = None) -> Callable[[Command], Command]:
    """Give a command the render option flags in place of its ``options: RenderOptions``
    parameter (where it stands in the help); the command receives them as one
    RenderOptions. ``remote``: only the options a Lambda render takes."""
    return inject("options", render_option_flags(remote=remote, only=only), _build)


def inject(name: str, parameters: list[inspect.Parameter],
           build: Callable[[dict[str, Any]], Any]) -> Callable[[Command], Command]:
    """Replace a command's parameter ``name`` by ``parameters`` (what typer shows and
    parses); their values, given to ``build``, become that one argument."""
    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        if name not in signature.parameters:
            raise TypeError(f"{command.__name__} has no parameter {name!r} to replace")
        own = [parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
               for parameter in signature.parameters.values()]
        at = list(signature.parameters).index(name)
        shown = [*own[:at], *parameters, *own[at + 1:]]
        injected = [parameter.name for parameter in parameters]

        @functools.wraps(command)
        def wrapper(**values: Any) -> Any:
            built = build({key: values.pop(key) for key in injected})
            return command(**values, **{name: built})

        wrapper.__signature__ = signature.replace(parameters=shown)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {
            **{parameter.name: parameter.annotation for parameter in shown},
            "return": signature.return_annotation}
        return wrapper  # type: ignore[return-value]

    return decorate
