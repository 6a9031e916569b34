"""Build the derivation zoo: a labelled set of real models made from real bases by real transformations.

``build_zoo(dest)`` builds every registered recipe (:mod:`taoke.zoo.recipes`: the core entries in
:mod:`taoke.zoo.recipes_core`, more from any ``taoke/zoo/recipes_*.py`` module) into model folders
(``model.safetensors`` with Hugging Face names + ``config.json`` + ``tokenizer.json``) and GGUF files under
``dest``, and writes the manifest ``dest/zoo.json`` (:class:`~taoke.zoo.manifest.ZooManifest`: the labels, and the
ground truth of every pair). The entries and what each is for are listed in ``docs/zoo.md``.

Idempotent: an entry whose weights file exists with the recorded size, built from the same recipe (``recipe``
hash of transform, params, seed and zoo version), is skipped (``verify=True`` also re-hashes it). Determinism:
each entry draws from ``numpy.random.default_rng([rng_seed, crc32(name)])`` (and torch is seeded from it), so an
entry does not depend on which other entries were built or in which order. Concurrent builders of one folder run
one after the other (a ``flock``). Simplification accepted: bitwise reproducibility of the *trained* entries
across machines is not promised (torch CPU kernels may differ), only on one machine.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from taoke import defaults
from taoke.errors import UsageError
from taoke.zoo._lock import folder_lock
from taoke.zoo.manifest import VERSION, Subset, ZooEntry, ZooManifest
from taoke.zoo.recipes import BuildContext, Original, Recipe, originals, recipes

__all__ = ["ZooManifest", "build_zoo", "default_zoo_dir"]


def _entry_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _recipe_hash(r: Recipe, seed: int) -> str:
    blob = json.dumps(
        {
            "v": VERSION,
            "t": r.transform,
            "p": dict(r.params),
            "s": seed,
            "b": r.base,
            "r": r.relation,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _file_sha(path: Path) -> str:
    from taoke.zoo.export import sha256_file

    return sha256_file(path)


def default_zoo_dir(data_dir: Path | None = None) -> Path:
    """Where the zoo is cached by default: ``$TAOKE_DATA/zoo``."""
    return (data_dir or defaults.data_dir()) / "zoo"


def build_zoo(
    dest: Path | None = None,
    *,
    subset: Subset = "fast",
    data_dir: Path | None = None,
    rng_seed: int = 0,
    progress: Callable[[str], None] | None = None,
    verify: bool = False,
    only: tuple[str, ...] | None = None,
) -> ZooManifest:
    """Build (or complete) the zoo in ``dest`` (default ``$TAOKE_DATA/zoo``) and return its manifest.

    ``subset="fast"`` builds the entries marked fast (CI), ``"full"`` all of them. Entries already present with
    the same recipe and file size are skipped (``verify=True`` re-hashes them first). ``only`` restricts the
    build to the named entries (and what they need).
    """
    if subset not in ("fast", "full"):
        raise UsageError(f"subset must be 'fast' or 'full', got {subset!r}")
    data = Path(data_dir) if data_dir is not None else defaults.data_dir()
    dest = Path(dest) if dest is not None else data / "zoo"
    dest.mkdir(parents=True, exist_ok=True)
    log = progress or (lambda _s: None)
    with folder_lock(dest, log):
        return _build_locked(dest, data, subset, rng_seed, log, verify, only)


def _build_locked(
    dest: Path,
    data: Path,
    subset: Subset,
    rng_seed: int,
    log: Callable[[str], None],
    verify: bool,
    only: tuple[str, ...] | None,
) -> ZooManifest:
    ctx = BuildContext(dest, data, rng_seed, log)

    existing: dict[str, ZooEntry] = {}
    if (dest / "zoo.json").exists():
        old = ZooManifest.load(dest / "zoo.json")
        if old.info.get("rng_seed") == rng_seed:
            existing = {e.name: e for e in old.entries}
    entries: dict[str, ZooEntry] = dict(existing)

    # the originals live in the data set
    origs = originals()
    for o in origs:
        entries[o.name] = _original(existing.get(o.name), o, ctx.original(o.name), verify)
    ctx.manifest_entries = entries
    orig_names = {o.name for o in origs}

    specs = recipes()
    wanted = [s for s in specs if subset == "full" or s.subset == "fast"]
    if only is not None:
        names = set(only)
        unknown = names - {s.name for s in specs}
        if unknown:
            raise UsageError(f"unknown zoo entries {sorted(unknown)}")
        for s in specs:
            if s.name in names:
                names.update(s.needs)
                if s.base and s.base not in orig_names:
                    names.add(s.base)
        wanted = [s for s in specs if s.name in names]
    wanted_names = {s.name for s in wanted}
    for s in wanted:
        for dep in (s.base, *s.needs):
            if dep and dep not in wanted_names and dep not in entries and dep not in orig_names:
                raise UsageError(f"{s.name} needs {dep}, which is not built", hint="build the full subset")

    info = {"rng_seed": rng_seed, "taoke_zoo_version": VERSION}
    t_all = time.perf_counter()
    n_built = 0
    for s in wanted:
        recipe = _recipe_hash(s, rng_seed)
        old_e = existing.get(s.name)
        if old_e is not None and old_e.recipe == recipe and _intact(ctx, old_e, verify):
            log(f"{s.name}: up to date")
            continue
        log(f"{s.name}: building ({s.transform})")
        out = dest / (s.name + (".gguf" if s.format == "gguf" else ""))
        t0 = time.perf_counter()
        built = s.build(ctx, s, _entry_rng(rng_seed, s.name), out)
        secs = time.perf_counter() - t0
        size = built.weights.stat().st_size
        entries[s.name] = ZooEntry(
            name=s.name,
            path=out.name,
            base=s.base,
            relation=s.relation,
            transform=s.transform,
            params=dict(s.params) | dict(built.params),
            layer_map=built.layer_map,
            sha256=_file_sha(built.weights),
            format=s.format,
            group=s.group,
            subset=s.subset,
            size=size,
            seconds=secs,
            recipe=recipe,
        )
        n_built += 1
        log(f"{s.name}: done in {secs:.1f}s ({size / 1e6:.0f} MB)")
        _save(dest, entries, info | _corpus_info(ctx))
    order = [o.name for o in origs] + [s.name for s in specs]
    # entries of zoo.json that no loaded recipe knows (another version or module built them) are kept as they are
    order += [n for n in entries if n not in set(order)]
    manifest = ZooManifest(
        root=str(dest),
        entries=tuple(entries[n] for n in order if n in entries),
        info=info | _corpus_info(ctx, existing_info=_read_info(dest)),
    )
    manifest.validate()
    manifest.save()
    log(f"zoo: {n_built} built, {len(wanted) - n_built} up to date, {time.perf_counter() - t_all:.1f}s")
    return manifest


def _read_info(dest: Path) -> Mapping[str, Any]:
    try:
        return json.loads((dest / "zoo.json").read_text()).get("info", {})
    except (OSError, json.JSONDecodeError):
        return {}


def _corpus_info(ctx: BuildContext, existing_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if "docs" in ctx.cache:
        from taoke.zoo.corpus import python_version

        return {
            "corpus": "python-stdlib-docstrings+comments",
            "python": python_version(),
            "corpus_sha256": ctx.docs()[2],
        }
    if existing_info:
        return {k: existing_info[k] for k in ("corpus", "python", "corpus_sha256") if k in existing_info}
    return {}


def _save(dest: Path, entries: Mapping[str, ZooEntry], info: Mapping[str, Any]) -> None:
    m = ZooManifest(root=str(dest), entries=tuple(entries.values()), info=dict(info))
    m.save()


def _intact(ctx: BuildContext, e: ZooEntry, verify: bool) -> bool:
    p = ctx.dest / e.path
    w = p / "model.safetensors" if e.format == "hf" else p
    if not w.is_file() or w.stat().st_size != e.size or not e.sha256:
        return False
    return not verify or _file_sha(w) == e.sha256


def _original(old: ZooEntry | None, o: Original, path: Path, verify: bool) -> ZooEntry:
    w = path / "model.safetensors" if o.format == "hf" else path
    size = w.stat().st_size
    if old is not None and old.size == size and old.sha256 and not verify:
        sha = old.sha256
    else:
        sha = _file_sha(w)
    return ZooEntry(
        name=o.name,
        path=str(path),
        base=None,
        relation="original",
        transform="",
        format=o.format,
        group=o.group,
        subset="fast",
        size=size,
        sha256=sha,
    )
