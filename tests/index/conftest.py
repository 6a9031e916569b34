from __future__ import annotations

from pathlib import Path

import pytest

FAST_NEEDED = ("smollm2-f32", "smollm2-renamed", "smollm2-noise-0.1", "smollm2-layer-subset", "smollm2-rotate")


@pytest.fixture(scope="session")
def small_zoo(data_dir: Path):  # type: ignore[no-untyped-def]
    """The zoo entries these tests need (built from the real SmolLM2 if missing; cached under $TAOKE_DATA/zoo)."""
    from taoke.zoo.build import build_zoo

    return build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir, only=FAST_NEEDED)


@pytest.fixture(scope="session")
def fps(small_zoo, smollm2_gguf: Path, minilm_dir: Path, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Fingerprints of the real SmolLM2 GGUF, MiniLM and the zoo entries above, written to files."""
    from taoke.index.fingerprint import make_fingerprint

    out = tmp_path_factory.mktemp("fps")
    locs = {"smollm2-q4_1": str(smollm2_gguf), "minilm": str(minilm_dir)}
    locs |= {n: str(small_zoo.path_of(n)) for n in FAST_NEEDED}
    paths = {}
    for name, loc in locs.items():
        paths[name] = make_fingerprint(loc, name=name).save(out / f"{name}.tkfp")
    return paths
