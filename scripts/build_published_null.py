"""Build src/taoke/data/published_null.json from the TensorLock published score matrices.

For each published method: the scores of every cross-family pair (a real null: models of different families are
unrelated) and summary numbers of the same-family pairs. Usage:
    python scripts/build_published_null.py ../shared/data/published/tensorlock
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

METHODS = ("pdf", "huref", "reef", "tensorguard", "met", "llmmap", "sef")


def main(src: str, out: str = "src/taoke/data/published_null.json") -> None:
    root = Path(src)
    clusters = json.loads((root / "cluster.json").read_text())
    fam = {m.replace("/", "_"): i for i, c in enumerate(clusters) for m in c}
    fam.update({m: i for i, c in enumerate(clusters) for m in c})
    doc: dict[str, object] = {
        "format": "taoke.published-null",
        "version": 1,
        "source": "TensorLock study (GitHub TensorLock/TensorLock, commit d2562ed): 137 models, 17 families",
        "methods": {},
    }
    for m in METHODS:
        rows = list(csv.reader(open(root / f"{m}_similarity.csv")))
        names = rows[0][1:]
        cross, same = [], []
        for i, r in enumerate(rows[1:]):
            for j in range(i + 1, len(names)):
                a, b = names[i], names[j]
                if a not in fam or b not in fam or r[j + 1] in ("", "nan"):
                    continue
                v = float(r[j + 1])
                (same if fam[a] == fam[b] else cross).append(v)
        cross.sort()
        doc["methods"][m] = {  # type: ignore[index]
            "cross_family": [round(v, 5) for v in cross],
            "same_family_n": len(same),
            "same_family_mean": round(sum(same) / max(1, len(same)), 4),
        }
    Path(out).write_text(json.dumps(doc, separators=(",", ":")))
    print(out, Path(out).stat().st_size, "bytes")


if __name__ == "__main__":
    main(*sys.argv[1:])
