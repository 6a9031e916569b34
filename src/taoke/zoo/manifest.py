"""The zoo's labels: :class:`ZooManifest` (``zoo.json``), its entries and the ground truth of every pair.

``zoo.json`` is ``{"format": "taoke.zoo", "version": 1, "info": {...}, "entries": [...]}``; each entry names its
parent (``base``), its ``relation`` to it, the ``transform`` and ``params``, a ``layer_map`` where layers were
dropped or duplicated, and the sha256 of its weights file. Relations (of an entry to its ``base``): ``original``
(a real model from the data set, no base), ``repackaged`` (same weights: format, dtype, quantisation, names,
orientation), ``derived`` (weights computed from the base's), ``independent`` (same architecture, weights that do
not come from the base: the std-matched copy, and the small models trained from scratch, which have no base).

Pairs are labelled by ancestry (:meth:`ZooManifest.relation`): one descends from the other or both from a common
ancestor through repackaged/derived edges → ``repackaged`` (all edges repackaged) or ``derived``; otherwise same
architecture ``group`` → ``independent``; otherwise ``unrelated``. How entries are built: :mod:`taoke.zoo.build`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from taoke.errors import CorruptFile, ReaderError, UsageError

FORMAT = "taoke.zoo"
VERSION = 1
RELATIONS = ("original", "repackaged", "derived", "independent", "unrelated")
Subset = Literal["fast", "full"]


@dataclass(frozen=True)
class ZooEntry:
    """One labelled model of the zoo."""

    name: str
    path: str  # relative to the zoo folder, or absolute for originals that live in the data set
    base: str | None
    relation: str
    transform: str
    params: Mapping[str, Any] = field(default_factory=dict)
    layer_map: tuple[int, ...] | None = None  # child layer j is parent layer layer_map[j]
    sha256: str | None = None  # of the weights file
    format: str = "hf"  # "hf" (folder with model.safetensors) | "gguf" (a file)
    group: str = ""  # architecture family; independent pairs share it
    subset: str = "fast"
    size: int = 0  # bytes of the weights file
    seconds: float = 0.0  # time it took to build
    recipe: str = ""  # hash of what produced it (for idempotency)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "base": self.base,
            "relation": self.relation,
            "transform": self.transform,
            "params": dict(self.params),
            "layer_map": None if self.layer_map is None else list(self.layer_map),
            "sha256": self.sha256,
            "format": self.format,
            "group": self.group,
            "subset": self.subset,
            "size": self.size,
            "seconds": round(self.seconds, 2),
            "recipe": self.recipe,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ZooEntry:
        lm = d.get("layer_map")
        return cls(
            name=str(d["name"]),
            path=str(d["path"]),
            base=d.get("base"),
            relation=str(d["relation"]),
            transform=str(d.get("transform", "")),
            params=dict(d.get("params") or {}),
            layer_map=None if lm is None else tuple(int(x) for x in lm),
            sha256=d.get("sha256"),
            format=str(d.get("format", "hf")),
            group=str(d.get("group", "")),
            subset=str(d.get("subset", "fast")),
            size=int(d.get("size", 0)),
            seconds=float(d.get("seconds", 0.0)),
            recipe=str(d.get("recipe", "")),
        )


@dataclass(frozen=True)
class ZooPair:
    """Ground truth for one unordered pair of entries."""

    a: str
    b: str
    relation: str  # repackaged | derived | independent | unrelated
    path: tuple[str, ...]  # the lineage path a → common ancestor → b (empty when not related)
    transforms: tuple[str, ...]  # the transforms along that path


@dataclass(frozen=True)
class ZooManifest:
    """The zoo's labelled entries (``zoo.json``)."""

    root: str
    entries: tuple[ZooEntry, ...]
    info: Mapping[str, Any] = field(default_factory=dict)

    # lookup -------------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def entry(self, name: str) -> ZooEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise UsageError(f"no zoo entry named {name!r}", subject=self.root, hint="see zoo.json for the names")

    def path_of(self, name: str) -> Path:
        p = Path(self.entry(name).path)
        return p if p.is_absolute() else Path(self.root) / p

    def weights_file(self, name: str) -> Path:
        e = self.entry(name)
        p = self.path_of(name)
        return p / "model.safetensors" if e.format == "hf" else p

    # serialisation ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "info": dict(self.info),
            "entries": [e.to_dict() for e in self.entries],
        }

    def save(self, path: Path | None = None) -> Path:
        out = path or Path(self.root) / "zoo.json"
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        os.replace(tmp, out)
        return out

    @classmethod
    def load(cls, path: Path) -> ZooManifest:
        """Read and validate ``zoo.json`` (a folder holding one is accepted too)."""
        p = Path(path)
        if p.is_dir():
            p = p / "zoo.json"
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError:
            raise ReaderError("no zoo manifest", subject=str(p), hint="run `taoke zoo build`") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CorruptFile(f"zoo manifest is not valid JSON: {e}", subject=str(p)) from None
        return cls.from_dict(d, root=str(p.parent), subject=str(p))

    @classmethod
    def from_dict(cls, d: Any, *, root: str, subject: str | None = None) -> ZooManifest:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise CorruptFile(f"not a {FORMAT} manifest", subject=subject)
        if d.get("version") != VERSION:
            raise CorruptFile(
                f"{FORMAT} version {d.get('version')!r} (this taoke reads {VERSION})",
                subject=subject,
                hint="rebuild the zoo with this taoke",
            )
        try:
            entries = tuple(ZooEntry.from_dict(e) for e in d.get("entries", []))
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptFile(f"malformed zoo entry: {type(e).__name__}: {e}", subject=subject) from None
        m = cls(root=root, entries=entries, info=dict(d.get("info") or {}))
        m.validate(subject=subject)
        return m

    def validate(self, *, subject: str | None = None, check_files: bool = False) -> None:
        """Check names are unique, bases exist, relations are known, layer maps fit; optionally that files exist."""
        subj = subject or self.root
        seen: set[str] = set()
        for e in self.entries:
            if e.name in seen:
                raise CorruptFile(f"duplicate zoo entry {e.name!r}", subject=subj)
            seen.add(e.name)
        for e in self.entries:
            if e.relation not in RELATIONS:
                raise CorruptFile(f"{e.name}: unknown relation {e.relation!r}", subject=subj)
            if e.base is not None and e.base not in seen:
                raise CorruptFile(f"{e.name}: base {e.base!r} is not in the zoo", subject=subj)
            if e.base is None and e.relation not in ("original", "independent"):
                raise CorruptFile(f"{e.name}: relation {e.relation!r} needs a base", subject=subj)
            if e.base is not None and e.relation == "original":
                raise CorruptFile(f"{e.name}: an original has no base", subject=subj)
            if e.layer_map is not None and (not e.layer_map or min(e.layer_map) < 0):
                raise CorruptFile(f"{e.name}: bad layer_map", subject=subj)
            if e.format not in ("hf", "gguf"):
                raise CorruptFile(f"{e.name}: unknown format {e.format!r}", subject=subj)
            if check_files and not self.weights_file(e.name).is_file():
                raise CorruptFile(f"{e.name}: weights file missing", subject=str(self.weights_file(e.name)))

    # ground truth -------------------------------------------------------------------------------------------
    def _up(self, name: str) -> list[tuple[str, str, str]]:
        """[(ancestor, relation of the edge below it, transform of the edge)] following repackaged/derived edges."""
        chain: list[tuple[str, str, str]] = []
        e = self.entry(name)
        while e.base is not None and e.relation in ("repackaged", "derived"):
            chain.append((e.base, e.relation, e.transform))
            e = self.entry(e.base)
        return chain

    def relation(self, a: str, b: str) -> ZooPair:
        """The ground-truth relation between two entries (see the module docstring)."""
        ua = [(a, "", "")] + self._up(a)
        ub = [(b, "", "")] + self._up(b)
        names_b = [n for n, _, _ in ub]
        for i, (na, _, _) in enumerate(ua):
            if na in names_b:
                j = names_b.index(na)
                edges_a = [(r, t) for _, r, t in ua[1 : i + 1]]
                edges_b = [(r, t) for _, r, t in ub[1 : j + 1]]
                rels = [r for r, _ in edges_a + edges_b]
                rel = "repackaged" if all(r == "repackaged" for r in rels) else "derived"
                path = tuple(n for n, _, _ in ua[: i + 1]) + tuple(n for n, _, _ in reversed(ub[:j]))
                tr = tuple(t for _, t in edges_a) + tuple(t for _, t in reversed(edges_b))
                return ZooPair(a, b, rel, path, tr)
        ga, gb = self.entry(a).group, self.entry(b).group
        return ZooPair(a, b, "independent" if ga and ga == gb else "unrelated", (), ())

    def pairs(self) -> Iterator[ZooPair]:
        """Every unordered pair of distinct entries with its ground-truth relation."""
        names = self.names()
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                yield self.relation(a, b)
