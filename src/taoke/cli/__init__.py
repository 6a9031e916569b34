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
COMMAND_MODULES = (
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
    "distill_cmd",
)

for _mod in COMMAND_MODULES:
    importlib.import_module(f"taoke.cli.{_mod}").register(app)


def _click_exceptions() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(ClickException, UsageError, NoArgsIsHelpError) classes of click and of the copy of click typer bundles
    (typer >= 0.20 raises its own, which do not derive from click's)."""
    mods = [click.exceptions]
    try:
        from typer._click import exceptions as bundled
    except ImportError:  # an older typer that uses click itself
        pass
    else:
        mods.append(bundled)  # type: ignore[arg-type]
    return (tuple(m.ClickException for m in mods), tuple(m.UsageError for m in mods),
            tuple(m.NoArgsIsHelpError for m in mods if hasattr(m, "NoArgsIsHelpError")))  # fmt: skip


_CLICK_ERRORS, _USAGE_ERRORS, _NO_ARGS = _click_exceptions()


@app.callback(invoke_without_command=True)
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
    except MemoryError as e:
        if debug:
            raise
        subject, check = _origin(e)
        _err(f"{subject + ': ' if subject else ''}out of memory in {check} (the input may be malformed; "
             "set TAOKE_DEBUG=1 for a traceback and please report it)")
        return 70
    except _NO_ARGS:  # the help was printed
        return 2
    except _CLICK_ERRORS as e:  # bad arguments and the like: click's one-line message, and where to look
        hint = " (see --help)" if isinstance(e, _USAGE_ERRORS) else ""
        _err(f"{e.format_message()}{hint}")  # type: ignore[attr-defined]
        return int(e.exit_code)  # type: ignore[attr-defined]
    except Exception as e:  # noqa: BLE001 - last line of defence: one line, not a traceback
        if debug:
            raise
        subject, check = _origin(e)
        msg = " ".join(str(e).split())[:300]
        _err(f"{subject + ': ' if subject else ''}internal error in {check}: {type(e).__name__}: {msg} "
             "(set TAOKE_DEBUG=1 for a traceback and please report it)")
        return 70


def _origin(e: BaseException) -> tuple[str | None, str]:
    """(the input being read, the code that failed) for an unexpected exception, from its traceback.

    The subject is the path/URL of the innermost checkpoint, byte source, fingerprint or index the failing frames
    were working on (``self.path`` / ``self.name`` of a reader, or a ``path``/``location`` argument of a taoke
    function); the check is the innermost taoke frame, ``module.qualified.function:line``.
    """
    frames = []
    tb = e.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    subject: str | None = None
    check = "?"
    for frame, line in reversed(frames):
        mod = str(frame.f_globals.get("__name__", ""))
        if not mod.startswith("taoke"):
            continue
        if check == "?":
            check = f"{mod}.{frame.f_code.co_qualname}:{line}"
        if subject is None:
            subject = _subject_of(frame.f_locals)
        if subject is not None:
            break
    return subject, check


def _subject_of(local: dict[str, object]) -> str | None:
    from taoke.io.base import Checkpoint
    from taoke.io.source import Source

    obj = local.get("self")
    if isinstance(obj, Checkpoint):
        return str(obj.path)
    if isinstance(obj, Source):
        return str(obj.name)
    for key in ("path", "location", "source"):
        v = local.get(key)
        if isinstance(v, str | os.PathLike):
            return str(os.fspath(v))
        if isinstance(v, Source):
            return str(v.name)
    try:  # another taoke object that knows its input (a fingerprint view, an index store)
        v = getattr(obj, "path", None) if obj is not None and not isinstance(obj, type) else None
    except Exception:  # noqa: BLE001 - a property that fails tells us nothing
        v = None
    return v if isinstance(v, str) else None


def run() -> None:  # console-script shim
    sys.exit(main())
