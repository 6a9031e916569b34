"""The report model: what every report says, whatever command produced it and whatever it is rendered to.

A :class:`Report` is a frozen value built from a deciding command's JSON (:mod:`taoke.report._adapt`); the
renderers (terminal, JSON, Markdown, HTML) only draw it. Plots are stored as *data* (the numbers needed to draw
them), so a report's JSON is enough to re-render the HTML later (``taoke report report.json --out x.html``) and a
reader can check every number that was drawn. The JSON form is described by ``schema.json`` (format
``taoke.report``, version :data:`VERSION`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT = "taoke.report"
VERSION = 1

#: How sure taoke is, coarsest first. Renderers colour by it; the sentence beside it carries the numbers.
CONFIDENCE_LEVELS = ("very strong", "strong", "moderate", "weak", "none", "not applicable")


@dataclass(frozen=True)
class EvidenceRow:
    """One line of the evidence table: a statistic, its p-value and the null it was calibrated against."""

    method: str
    statistic: str  # the observed value, in words ("r = 0.9996", "30 of 30 layers agree")
    p_value: str | None  # as text ("p < 1e-7567", "p = 0.0023"); None when the method is not a test
    log10_p: float | None  # the same number, machine-readable (None when not a test)
    null: str  # what the statistic was calibrated against, or why it is descriptive
    role: str  # "decides" | "supports" | "reference" | "descriptive"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "statistic": self.statistic, "p_value": self.p_value,
                "log10_p": self.log10_p, "null": self.null, "role": self.role, "note": self.note}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvidenceRow:
        return cls(str(d["method"]), str(d["statistic"]), d.get("p_value"), d.get("log10_p"), str(d["null"]),
                   str(d["role"]), str(d.get("note", "")))


@dataclass(frozen=True)
class Table:
    """A titled table of text cells (architecture, layer map, findings, licence checklist...)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": list(self.columns), "rows": [list(r) for r in self.rows],
                "note": self.note}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Table:
        return cls(str(d["title"]), tuple(map(str, d["columns"])), tuple(tuple(map(str, r)) for r in d["rows"]),
                   str(d.get("note", "")))


@dataclass(frozen=True)
class Plot:
    """A figure as data. ``kind`` names the drawing in :mod:`taoke.report._plots`; ``data`` holds its numbers."""

    kind: str  # "layer-map" | "std-fingerprint" | "null" | "tokenizer-overlap" | "probe-tokenizer" | "bars"
    title: str
    caption: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "caption": self.caption, "data": dict(self.data)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plot:
        return cls(str(d["kind"]), str(d["title"]), str(d["caption"]), dict(d.get("data") or {}))


@dataclass(frozen=True)
class FileHash:
    path: str  # relative to the input folder ("" for a single file)
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class InputRef:
    """One input of the command, with the hashes that pin it (``kind``: file | folder | url | other)."""

    label: str  # "A", "B", "model", "candidate 1", "endpoint"
    location: str
    kind: str
    size: int | None = None
    sha256: str | None = None  # the file's hash; for a folder, the hash of its sorted "path size sha256" lines
    files: tuple[FileHash, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "location": self.location, "kind": self.kind, "size": self.size,
                "sha256": self.sha256, "files": [f.to_dict() for f in self.files], "note": self.note}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputRef:
        files = tuple(FileHash(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in d.get("files") or ())
        return cls(str(d["label"]), str(d["location"]), str(d["kind"]), d.get("size"), d.get("sha256"), files,
                   str(d.get("note", "")))


@dataclass(frozen=True)
class Provenance:
    """How to reproduce the report: the exact command, versions, when."""

    command: str
    taoke_version: str
    python: str
    platform: str
    libraries: Mapping[str, str]
    created: str  # ISO 8601, UTC

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "taoke_version": self.taoke_version, "python": self.python,
                "platform": self.platform, "libraries": dict(self.libraries), "created": self.created}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Provenance:
        return cls(str(d["command"]), str(d["taoke_version"]), str(d["python"]), str(d["platform"]),
                   {str(k): str(v) for k, v in (d.get("libraries") or {}).items()}, str(d["created"]))


@dataclass(frozen=True)
class Report:
    """Everything a reader needs: the verdict in one sentence, how sure, the evidence, plots, caveats, inputs."""

    kind: str  # "compare" | "tokenizer-compare" | "probe" | "same-model" | "audit" | "index-search" | "other"
    title: str
    verdict: str  # short label ("derived", "repackaged", "identical-up-to-specials", "undeclared-derivation")
    sentence: str  # the verdict in one sentence
    confidence: str  # one of CONFIDENCE_LEVELS
    confidence_text: str  # why: the numbers behind the level, in words
    evidence: tuple[EvidenceRow, ...]
    tables: tuple[Table, ...]
    plots: tuple[Plot, ...]
    caveats: tuple[str, ...]
    inputs: tuple[InputRef, ...]
    provenance: Provenance
    source_format: str  # the format name/version of the command JSON this was built from
    source: Mapping[str, Any] = field(default_factory=dict)  # that JSON, verbatim

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "kind": self.kind, "title": self.title,
            "verdict": self.verdict, "sentence": self.sentence, "confidence": self.confidence,
            "confidence_text": self.confidence_text, "evidence": [e.to_dict() for e in self.evidence],
            "tables": [t.to_dict() for t in self.tables], "plots": [p.to_dict() for p in self.plots],
            "caveats": list(self.caveats), "inputs": [i.to_dict() for i in self.inputs],
            "provenance": self.provenance.to_dict(), "source_format": self.source_format,
            "source": dict(self.source),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        return cls(
            str(d["kind"]), str(d["title"]), str(d["verdict"]), str(d["sentence"]), str(d["confidence"]),
            str(d["confidence_text"]), tuple(EvidenceRow.from_dict(e) for e in d["evidence"]),
            tuple(Table.from_dict(t) for t in d["tables"]), tuple(Plot.from_dict(p) for p in d["plots"]),
            tuple(map(str, d["caveats"])), tuple(InputRef.from_dict(i) for i in d["inputs"]),
            Provenance.from_dict(d["provenance"]), str(d["source_format"]), dict(d.get("source") or {}),
        )
