"""Reports people read: turn any deciding command's JSON into a document a third party can check.

Public API::

    build_report(doc, command=..., inputs=[("A", path), ...]) -> Report   # from a command's --json output
    write_report(report, path)            # by suffix: .html (self-contained), .md (+ <stem>_files/), .json
    render_html(report) / render_markdown(report, path) / render_terminal(report, console)
    validate(doc)                         # structural check of a report JSON (full JSON-schema check when the
                                          # optional ``jsonschema`` package is installed)
    schema() -> dict                      # the versioned JSON schema (``schema.json``, format taoke.report v1)

Data flow: command JSON → :func:`build_report` (``_adapt`` picks the adapter by format: ``_compare``,
``_tokenizer``, ``_blackbox``, ``_audit``; typed results are read back with their ``from_dict`` first; inputs
hashed in ``_inputs``) → :class:`Report` (``_model``, frozen) → renderers (``_html``, ``_text``; plots drawn from
data in ``_plots``). Wording shared with the CLI (p-values, "how sure") is in :mod:`taoke.wording`.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from taoke.errors import UsageError
from taoke.report._adapt import build_report
from taoke.report._compare import std_plot
from taoke.report._html import render_html
from taoke.report._inputs import hash_input, hash_inputs, provenance, sha256_file
from taoke.report._model import (
    CONFIDENCE_LEVELS,
    FORMAT,
    VERSION,
    EvidenceRow,
    FileHash,
    InputRef,
    Plot,
    Provenance,
    Report,
    Table,
)
from taoke.report._plots import plots_available, render_svg
from taoke.report._text import render_markdown, render_terminal
from taoke.serialize import dumps
from taoke.wording import confidence_from_log10_p, p_text

__all__ = [
    "CONFIDENCE_LEVELS", "FORMAT", "SUFFIXES", "VERSION", "EvidenceRow", "FileHash", "InputRef", "Plot",
    "Provenance", "Report", "Table", "build_report", "confidence_from_log10_p", "hash_input", "hash_inputs",
    "p_text", "plots_available", "provenance", "render_html", "render_markdown", "render_svg", "render_terminal",
    "schema", "sha256_file", "std_plot", "validate", "write_report",
]

SUFFIXES = (".html", ".htm", ".md", ".json")


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON schema of a report (``taoke.report`` v1)."""
    return json.loads(resources.files("taoke.report").joinpath("schema.json").read_text(encoding="utf-8"))


def validate(doc: Any) -> None:
    """Raise :class:`~taoke.errors.UsageError` if ``doc`` is not a valid report JSON.

    Uses ``jsonschema`` when installed (tests do); otherwise checks the format, version and required fields.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UsageError(f"not a {FORMAT} document")
    if doc.get("version") != VERSION:
        raise UsageError(f"{FORMAT} version {doc.get('version')} is not supported (this taoke reads {VERSION})")
    try:
        import jsonschema
    except ImportError:
        missing = [k for k in schema()["required"] if k not in doc]
        if missing:
            raise UsageError(f"report JSON lacks {', '.join(missing)}") from None
        return
    try:
        jsonschema.validate(doc, schema())
    except jsonschema.ValidationError as e:
        where = "/".join(map(str, e.absolute_path)) or "(root)"
        raise UsageError(f"report JSON invalid at {where}: {e.message.splitlines()[0][:200]}") from None


def write_report(report: Report, path: str | Path, *, images: bool = True) -> Path:
    """Write ``report`` to ``path``; the suffix picks the form (.html, .md, .json)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"unknown report type {p.suffix or '(none)'!r}", subject=str(p),
                         hint="use a name ending in .html, .md or .json")
    if suffix in (".html", ".htm"):
        text = render_html(report)
    elif suffix == ".md":
        text = render_markdown(report, p, images=images)
    else:
        text = dumps(report.to_dict()) + "\n"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p
