"""How `mlops` fails: one line and an exit code, whatever typer and click are installed.

Typer 0.29 ships its own copy of click whose exceptions are not `click.ClickException`s,
so errors are recognised by what they offer (`exit_code`, `format_message`), not by class.

Also what keeps `mlops --help` fast (tests/ml/cli/test_cli_startup.py): the command modules
import only this module, typer and the standard library at the top, and everything else
inside the command that uses it. Help is click's plain text (`rich_markup_mode=None`):
typer's rich panels import rich and markdown-it, several times the CLI's own start-up.
The command modules do not use `from __future__ import annotations`: typer evaluates
every string annotation of every command (several times each) to build the tree, a third
of `mlops --help`; names imported only for type checking are quoted instead. Commands are
built only when used (`LazyCommands`), and no help makes typer import pydantic (`FlagHelp`).
"""

import importlib
import inspect
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, ClassVar, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from common.errors import MlopsError

PROG = "mlops"


def sub_app(help: str, **options: Any) -> typer.Typer:
    """A command group of `mlops`, with the root's plain help (see the module docstring)."""
    return typer.Typer(help=help, rich_markup_mode=None, **options)


class LazyConsole:
    """rich's `Console(**options)`, made on first use: importing rich costs more than the
    rest of `mlops --help`, and most invocations that import a command never print."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


class FlagHelp(TyperGroup):
    """A group that has typer coerce none of its own options when they are absent.

    Typer coerces every parameter value through a pydantic `TypeAdapter` it builds on
    first use, except a flag's bool; an absent option builds one too, only to return its
    default, and importing pydantic costs as much as typer. So `mlops verify --help`
    (the root's `--help` absent) or `mlops release verify --help` (`release`'s `--stack`,
    `--version`... absent) would pay for pydantic. Here an absent `--help` is False, and
    when the subcommand comes first, the group's options are not parsed at all: its
    callback gets their declared defaults (environment variables are not read for them).
    """

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not (self.params and args and args[0] in self.commands):
            return super().parse_args(ctx, args)
        declared, self.params = self.params, []  # nothing given before the subcommand
        try:
            return super().parse_args(ctx, args)
        finally:
            self.params = declared


class OneLineErrors(FlagHelp):
    """The root command: every failure leaves as one line on stderr and an exit code.

    Overriding `main` (rather than wrapping `app()`) means `typer.testing.CliRunner` and the
    console script see the same behaviour. It always exits, as click's standalone mode
    does: usage errors 2, Ctrl-C 130, an `MlopsError` its own code, `--help` 0.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        try:
            result = super().main(
                args=args,
                prog_name=prog_name or PROG,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except MlopsError as error:
            _fail(f"error: {error}", error.exit_code)
        except (typer.Abort, KeyboardInterrupt):
            _fail(f"{PROG}: aborted", 130)
        except Exception as error:
            if _is_aws_error(error):
                # Last resort for an AWS call no command wrapped in `aws_errors`: one line.
                from ml.aws import describe_error

                _fail(f"error: AWS: {describe_error(error)}", 2)
            if not _is_click_error(error):
                raise
            if type(error).__name__ == "NoArgsIsHelpError":  # click >= 8.2: a bare group
                help_text = error.format_message()  # empty when rich already printed it
                if help_text:
                    typer.echo(help_text, err=True)
                sys.exit(error.exit_code)
            ctx = getattr(error, "ctx", None)
            where = ctx.command_path if ctx is not None else PROG
            message = _with_suggestion(" ".join(error.format_message().split()), ctx)
            _fail(f"{where}: {message}", error.exit_code)
        # Non-standalone click returns an `Exit`'s code (--help: 0, Ctrl-C: 130) or the
        # command's return value.
        sys.exit(result if isinstance(result, int) else 0)


class LazyCommands(Mapping[str, Any]):
    """A group's commands by name, each imported and built by typer on first use.

    `targets` maps a name to `"module:attribute"`, a command function or a sub-app
    (`typer.Typer`). Building one imports its module and has typer read every signature,
    so `mlops verify --help` or `mlops verify ...` pays for `verify` alone.
    """

    def __init__(self, targets: Mapping[str, str]):
        self._targets = dict(targets)
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            target = _resolve(self._targets[name])  # KeyError: no such command
            self._built[name] = _build(name, target)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def outline(self, name: str) -> Any:
        """A bare command with the help of `name` (its docstring or the sub-app's `help`),
        enough for the parent's list: it imports the module but builds no parameters."""
        target = _resolve(self._targets[name])
        if isinstance(target, typer.Typer):
            text = target.info.help if isinstance(target.info.help, str) else None
        else:
            text = inspect.getdoc(target)
        return TyperCommand(name=name, help=text)


class LazyGroup(OneLineErrors):
    """The root group with `LazyCommands`: subclass it with the `targets` table."""

    targets: ClassVar[dict[str, str]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(self.targets)  # type: ignore[assignment]

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """List the commands from their outlines, without building any of them."""
        listing = TyperGroup(
            name=self.name, commands={name: self.commands.outline(name) for name in self.commands}
        )
        listing.format_commands(ctx, formatter)


def _resolve(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _build(name: str, target: Any) -> Any:
    """The click command typer builds for a function or a sub-app, as `add_typer` and
    `command` would register it on a root with plain help (`rich_markup_mode=None`)."""
    from typer.main import get_command_from_info, get_group_from_info
    from typer.models import CommandInfo, TyperInfo

    if isinstance(target, typer.Typer):
        return get_group_from_info(
            TyperInfo(target, name=name, cls=FlagHelp),
            pretty_exceptions_short=True,
            rich_markup_mode=None,
            suggest_commands=True,
        )
    return get_command_from_info(
        CommandInfo(name=name, callback=target),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )


def _is_aws_error(error: Exception) -> bool:
    """A botocore error; botocore is loaded if and only if a command used AWS."""
    exceptions = sys.modules.get("botocore.exceptions")
    return exceptions is not None and isinstance(
        error, (exceptions.BotoCoreError, exceptions.ClientError)
    )


def _is_click_error(error: Exception) -> bool:
    """A `ClickException` of any click, typer's bundled one included."""
    return isinstance(getattr(error, "exit_code", None), int) and callable(
        getattr(error, "format_message", None)
    )


def _with_suggestion(message: str, ctx: Any) -> str:
    """Add typer's "Did you mean" to an unknown command where the installed typer does not."""
    unknown = re.fullmatch(r"No such command '(.+)'\.", message)
    if unknown is None or ctx is None or not hasattr(ctx.command, "list_commands"):
        return message
    matches = get_close_matches(unknown[1], ctx.command.list_commands(ctx))
    if not matches:
        return message
    return f"{message[:-1]}. Did you mean {', '.join(repr(m) for m in matches)}?"


def _fail(line: str, code: int) -> NoReturn:
    typer.echo(line, err=True)
    sys.exit(code)


class PathNotFound(typer.BadParameter):
    """A usage error whose message is shown as is (no "Invalid value for" prefix)."""

    def format_message(self) -> str:
        return self.message


def existing_path(
    ctx: typer.Context, param: typer.CallbackParam, value: Path | None
) -> Path | None:
    """Option callback: a path that does not exist is reported as such, before anything else.

    Click runs callbacks while parsing, before the command checks what the file holds, so
    the user reads "no such file or directory" rather than a misleading later symptom.
    """
    if value is None or ctx.resilient_parsing or value.exists():
        return value
    raise PathNotFound(f"{_option_name(ctx, param)} {value}: no such file or directory")


def existing_path_or_s3(
    ctx: typer.Context, param: typer.CallbackParam, value: str | None
) -> str | None:
    """Option callback for a local path or an `s3://` URI: a local path that does not exist
    is reported as such, before anything else (an S3 object is checked when read)."""
    if value is None or value.startswith("s3://"):
        return value
    existing_path(ctx, param, Path(value))
    return value


def _option_name(ctx: typer.Context, param: typer.CallbackParam) -> str:
    """The option's long name, and the environment variable when the value came from one."""
    name = max(param.opts, key=len)
    source = ctx.get_parameter_source(param.name or "")
    if source is None or source.name != "ENVIRONMENT":
        return name
    envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
    used = next((var for var in envvars if os.environ.get(var)), None)
    return f"{name} (from {used})" if used else name


RootOption = Annotated[
    Path,
    typer.Option(
        "--root",
        callback=existing_path,
        help="Repository root holding Pulumi.<stack>.yaml files.",
    ),
]
"""The `--root` option every stack-reading command takes."""
