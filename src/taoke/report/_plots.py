"""Draw a report's plots (:class:`~taoke.report._model.Plot`, data only) as standalone SVG with matplotlib.

Uses ``matplotlib.figure.Figure`` directly (no pyplot, no global backend state) and writes SVG with text as
paths, so a figure looks the same on any machine with no fonts installed. The SVG is deterministic for the same
data (fixed ``svg.hashsalt``, no date). matplotlib is an optional dependency (``pip install taoke[plots]``):
:func:`plots_available` says whether it is installed and renderers omit the figures with a note when it is not.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from taoke.report._model import Plot

INSTALL_HINT = "pip install 'taoke[plots]' (matplotlib) to draw the figures"
_PART_COLOURS = {"q": "#1f77b4", "k": "#ff7f0e", "v": "#2ca02c", "o": "#d62728"}


def plots_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _to_svg(fig: Any) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "taoke", "font.size": 9}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "taoke"})
    s = buf.getvalue()
    return s[s.index("<svg"):]  # drop the XML declaration and DOCTYPE


def _short(s: str, n: int = 24) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _null_hist(ax: Any, null: Mapping[str, Any], *, colour: str = "#9aa5b1") -> None:
    edges = np.asarray(null["edges"], dtype=float)
    counts = np.asarray(null["counts"], dtype=float)
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=colour, edgecolor="none",
           label=f"unrelated pairs (n = {null['n']})")


def layer_map(p: Plot) -> Any:
    d = p.data
    screen = np.asarray(d["screen"], dtype=float)  # (L_A, tested B layers)
    rows_b = list(d.get("rows_b") or range(screen.shape[1]))  # the B layer of each column (a sample: not 0..n-1)
    row_of = {b: r for r, b in enumerate(rows_b)}
    fig = _figure(9.0, 4.0)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.1, 1.0])
    im = ax1.imshow(screen.T, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest", vmin=0.0,
                     vmax=1.0)  # fixed scale: unrelated pairs must look uniformly dark, not "structured"
    fig.colorbar(im, ax=ax1, label="screening similarity")
    matched = [(row_of[b], a) for b, a in d.get("matched") or () if b in row_of]
    if matched:
        m = np.asarray(matched, dtype=float)
        ax1.scatter(m[:, 1], m[:, 0], s=28, facecolors="none", edgecolors="#ff3030", linewidths=1.2,
                    label="significant")
        ax1.legend(loc="upper left", fontsize=7, framealpha=0.8)
    if rows_b != list(range(len(rows_b))):  # a sample of B's layers: label each row with its layer
        ax1.set_yticks(range(len(rows_b)), [str(b) for b in rows_b])
    ax1.set_xlabel("layer of A")
    ax1.set_ylabel("layer of B" + (" (tested sample)" if rows_b != list(range(len(rows_b))) else ""))
    ax1.set_title("B layer × A layer")
    layers = d.get("layers") or []
    if layers:
        lb = [x["layer_b"] for x in layers]
        nl = np.array([-float(x["log10_p"]) for x in layers])
        shown = np.minimum(nl, 300.0)
        colours = ["#d62728" if v >= -np.log10(d["alpha"]) else "#7f7f7f" for v in nl]
        ax2.barh(lb, shown, color=colours)
        ax2.axvline(-np.log10(d["alpha"]), color="k", ls="--", lw=1, label=f"alpha = {d['alpha']:g}")
        ax2.set_xscale("symlog", linthresh=10)
        ax2.set_xlabel("−log10 p (capped at 300)")
        ax2.set_ylabel("layer of B")
        ax2.set_title("per-layer agreement test")
        ax2.legend(loc="lower right", fontsize=7)
    return fig


def std_fingerprint(p: Plot) -> Any:
    d = p.data
    fig = _figure(10.5, 3.4)
    axes = fig.subplots(1, 3, width_ratios=[1, 1, 1.15])
    for ax, key, name in ((axes[0], "stds_a", d.get("name_a", "A")), (axes[1], "stds_b", d.get("name_b", "B"))):
        s = np.asarray(d.get(key) or [], dtype=float)
        if s.size:
            for j, part in enumerate(d.get("parts", "qkvo")):
                ax.plot(np.arange(s.shape[0]), s[:, j], marker=".", ms=3, lw=1.2, color=_PART_COLOURS.get(part),
                        label=part)
            ax.legend(fontsize=7, ncols=4, loc="upper center")
        ax.set_title(f"{key[-1].upper()}: {_short(str(name), 28)}", fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylabel("std of weights")
    ax = axes[2]
    _null_hist(ax, d["null"])
    ax.axvline(d["reference"], color="#555", ls="--", lw=1.2, label=d.get("reference_label", "reference"))
    if d.get("observed") is not None:
        ax.axvline(d["observed"], color="#d62728", lw=2, label=f"this pair r = {d['observed']:.4f}")
    else:
        ax.text(0.03, 0.9, "not computable for this pair", transform=ax.transAxes, fontsize=8, color="#d62728")
    ax.set_xlabel(d.get("statistic", "correlation"))
    ax.set_ylabel("pairs")
    ax.set_title("calibration: published unrelated pairs")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def null(p: Plot) -> Any:
    panels = p.data["panels"]
    fig = _figure(4.2 * len(panels), 3.2)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, pan in zip(axes, panels, strict=True):
        _null_hist(ax, pan["null"])
        if pan.get("threshold") is not None:
            ax.axvline(pan["threshold"], color="#555", ls=":", lw=1.2, label=f"threshold {pan['threshold']:.3f}")
        ax.axvline(pan["observed"], color="#d62728", lw=2, label=f"this pair {pan['observed']:.4f}")
        ax.set_xlabel(pan["statistic"])
        ax.set_ylabel("pairs")
        ax.set_title(f"{pan['statistic']}: p = {pan['p_value']:.2g}")
        ax.legend(fontsize=7, loc="upper center")
    return fig


def tokenizer_overlap(p: Plot) -> Any:
    d = p.data
    same, moved = d["shared_same_id"], d["shared_moved"]
    only_a, only_b = d["n_a"] - same - moved, d["n_b"] - same - moved
    fig = _figure(8.0, 2.7)
    ax = fig.subplots()
    segs = (("shared, same id", same, "#2ca02c"), ("shared, other id", moved, "#bcbd22"),
            ("only in this one", None, "#9aa5b1"))
    for y, (_name, only) in enumerate(((d["name_b"] + " (B)", only_b), (d["name_a"] + " (A)", only_a))):
        left = 0
        for label, n, colour in segs:
            v = only if n is None else n
            ax.barh(y, v, left=left, color=colour, label=label if y == 0 else None, height=0.6)
            if v > 0.06 * max(d["n_a"], d["n_b"], 1):
                ax.text(left + v / 2, y, f"{v:,}", ha="center", va="center", fontsize=8, color="black")
            left += v
    ax.set_yticks([0, 1], [d["name_b"] + " (B)", d["name_a"] + " (A)"])
    ax.set_xlabel("regular tokens")
    j = d.get("jaccard")
    ax.set_title("Regular-token overlap" + ("" if j is None else f" (Jaccard {j:.4f})"))
    ax.legend(fontsize=7, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    return fig


def probe_tokenizer(p: Plot) -> Any:
    rk = p.data["ranking"]
    fig = _figure(7.0, 0.5 + 0.45 * len(rk))
    ax = fig.subplots()
    labels = [", ".join(c["members"][:3]) + (" …" if len(c["members"]) > 3 else "") for c in rk]
    vals = [float(c["residual"]) for c in rk]
    colours = ["#2ca02c" if v == 0 else "#9aa5b1" for v in vals]
    y = np.arange(len(rk))[::-1]
    ax.barh(y, [max(v, 0.02) for v in vals], color=colours)
    for yi, v, c in zip(y, vals, rk, strict=True):
        ax.text(max(v, 0.02), yi, f"  {v:g} (posterior {c['posterior']:.2f})", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlabel("mean |reported − predicted| prompt tokens")
    ax.set_xlim(0, max(vals + [1.0]) * 1.6)
    return fig


def bars(p: Plot) -> Any:
    d = p.data
    fig = _figure(6.5, 0.6 + 0.4 * len(d["labels"]))
    ax = fig.subplots()
    y = np.arange(len(d["labels"]))[::-1]
    ax.barh(y, d["values"], color="#1f77b4")
    ax.set_yticks(y, d["labels"])
    ax.set_xlabel(d.get("xlabel", ""))
    return fig


DRAW: Mapping[str, Callable[[Plot], Any]] = {
    "layer-map": layer_map, "std-fingerprint": std_fingerprint, "null": null,
    "tokenizer-overlap": tokenizer_overlap, "probe-tokenizer": probe_tokenizer, "bars": bars,
}


def render_svg(p: Plot) -> str | None:
    """The plot as an SVG document string, or None when matplotlib is missing or the kind is unknown."""
    draw = DRAW.get(p.kind)
    if draw is None or not plots_available():
        return None
    return _to_svg(draw(p))
