"""taoke's command line. Thin: each command lives in its own module and calls the library.

Every command has ``--json``; every deliberate error is one line on stderr and a non-zero exit code (the code
is the error class's ``exit_code``, see :mod:`taoke.errors`). ``TAOKE_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import importlib
import os
import sys

import click
import typer

from taoke.errors import TaokeError

app = typer.Typer(
    name="taoke",
    help="taoke (套壳): is this language model what it claims to be, or built on someone else's?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "TAOKE"},
)

# command modules; each defines ``register(app)``. Listed here so the order of --help is stable.
_COMMAND_MODULES = (
    "inspect_cmd",
    "compare_cmd",
    "tokenizer_cmd",
    "probe_cmd",
    "fingerprint_cmd",
    "index_cmd",
    "scan_cmd",
    "report_cmd",
    "audit_cmd",
    "zoo_cmd",
    "eval_cmd",
)

for _mod in _COMMAND_MODULES:
    try:
        _m = importlib.import_module(f"taoke.cli.{_mod}")
    except ModuleNotFoundError as _e:  # a command not written yet
        if _e.name != f"taoke.cli.{_mod}":
            raise
        continue
    _m.register(app)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from taoke import __version__

        typer.echo(f"taoke {__version__}")
        raise typer.Exit(0)


def _err(msg: str) -> None:
    sys.stderr.write(f"taoke: error: {msg}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every failure into one line and an exit code."""
    debug = os.environ.get("TAOKE_DEBUG") == "1"
    cmd = typer.main.get_command(app)
    try:
        rv = cmd.main(args=argv, prog_name="taoke", standalone_mode=False)
        return int(rv) if isinstance(rv, int) else 0
    except TaokeError as e:
        if debug:
            raise
        _err(e.one_line())
        return e.exit_code
    except (click.exceptions.Exit, typer.Exit) as e:
        return int(getattr(e, "exit_code", 0) or 0)
    except (click.exceptions.Abort, typer.Abort):
        _err("interrupted")
        return 130
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except MemoryError:
        _err("out of memory (the input may be malformed; please report it)")
        return 70
    except Exception as e:  # noqa: BLE001 - last line of defence: one line, not a traceback
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):  # click's (or typer's bundled click's) usage errors
            if type(e).__name__ == "NoArgsIsHelpError":
                return 2
            msg = e.format_message()
            hint = " (see --help)" if "UsageError" in [c.__name__ for c in type(e).__mro__] else ""
            _err(f"{msg}{hint}")
            return int(e.exit_code)
        if debug:
            raise
        _err(f"internal error: {type(e).__name__}: {e} (set TAOKE_DEBUG=1 for a traceback and please report it)")
        return 70


def run() -> None:  # console-script shim
    sys.exit(main())
