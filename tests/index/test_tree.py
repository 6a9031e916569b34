"""The tree's orientation rule on pair verdicts (`taoke.index.tree._orient`): the numbers are those measured on the
zoo's fingerprints (benchmarks/index), the rule is what is tested."""

from __future__ import annotations

from taoke.index.tree import _orient


def _info(name: str) -> dict[str, object]:
    return {"name": name, "dtype": "F32", "prec": 1e-6, "canonical": True, "format": "hf", "card": False,
            "bases": [], "location": name}  # fmt: skip


def test_similarity_tie_goes_to_the_pair_sharing_more_unchanged_tensors() -> None:
    """smollm2-finetune-perm: unit similarity ~1.0 to both the fine-tune and its base (fingerprint resolution); it
    shares 0.272 of its tensors with the fine-tune and 0.254 with the base (measured), so the fine-tune is its
    parent even though the base is the bigger cluster (two copies)."""
    f32, copy, ft, ftp = 1, 2, 3, 4
    info = {i: _info(n) for i, n in ((f32, "f32"), (copy, "f32-renamed"), (ft, "finetune"), (ftp, "finetune-perm"))}
    info[copy]["canonical"] = False
    rel = {"kind": "derived", "log10_p": -494.0}
    edges = {
        (f32, copy): {"kind": "repackaged", "similarity": 1.5, "shared_tensors": 1.0, "values_identical": True},
        (f32, ft): rel | {"similarity": 0.99999, "shared_tensors": 0.9301},
        (copy, ft): rel | {"similarity": 0.99999, "shared_tensors": 0.9301},
        (f32, ftp): rel | {"similarity": 0.99999, "shared_tensors": 0.2537},
        (copy, ftp): rel | {"similarity": 0.99999, "shared_tensors": 0.2537},
        (ft, ftp): rel | {"similarity": 1.0, "shared_tensors": 0.2721},
    }
    forest = _orient(info, edges, tested=len(edges))
    parent = {n.name: None if n.parent is None else forest.nodes[n.parent].name for n in forest.nodes.values()}
    assert parent == {"f32": None, "f32-renamed": "f32", "finetune": "f32", "finetune-perm": "finetune"}
    # without the shared-tensor evidence the tie falls to the bigger cluster (the old behaviour, a miss)
    for d in edges.values():
        d.pop("shared_tensors")
    forest = _orient(info, edges, tested=len(edges))
    assert forest.nodes[ftp].parent == f32
