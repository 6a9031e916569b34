"""``taoke inspect MODEL [--roles] [--json]``: what a checkpoint is, from its headers alone.

Prints format, architecture, hyper-parameters (declared next to inferred-from-shapes, with disagreements
flagged), parameter count, dtype/quantisation census, tokenizer summary, declared base model and licence, file
size and bytes read, and with ``--roles`` the canonical role map. ``--json`` emits
``{"format": "taoke.inspect", "version": 1, ...}``. No tensor data is read.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from taoke.cli._output import JSON_OPTION_HELP, emit
from taoke.errors import TaokeError

INSPECT_FORMAT = "taoke.inspect"
INSPECT_VERSION = 1
_CONFIG_FIELDS = (
    "architecture", "hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim", "intermediate_size",
    "vocab_size", "max_position", "norm_type", "norm_eps", "activation", "rope_theta", "tie_embeddings",
    "num_experts",
)  # fmt: skip
_MAX_SPECIALS = 32


def _tokenizer_summary(model: Any) -> dict[str, Any]:
    try:
        v = model.tokenizer()
    except TaokeError as e:
        return {"available": False, "error": e.one_line()}
    specials = [{"id": int(s.id), "text": str(s.text)} for s in v.specials]
    return {
        "available": True,
        "kind": v.kind,
        "source_format": v.source_format,
        "vocab_size": int(v.size),
        "regular_tokens": len(v.regular),
        "merges": len(v.merges),
        "n_specials": len(specials),
        "specials": specials[:_MAX_SPECIALS],
        "chat_template": bool(v.chat_template),
    }


def inspect_model(location: str, *, with_roles: bool = False) -> dict[str, Any]:
    """The ``taoke.inspect`` document for one checkpoint (headers, config, roles, tokenizer; no tensor data)."""
    from taoke.model import Model

    with Model.open(location) as model:
        ck = model.checkpoint
        roles = model.roles
        declared = model.declared_config
        inferred = model.inferred_config
        hp: dict[str, dict[str, Any]] = {}
        mismatches: list[str] = []
        for f in _CONFIG_FIELDS:
            dv = getattr(declared, f) if declared is not None else None
            iv = getattr(inferred, f)
            hp[f] = {"declared": dv, "inferred": iv}
            if dv is not None and iv is not None and f != "architecture" and dv != iv:
                mismatches.append(f)
        infos = ck.tensor_infos()
        role_rows = {
            role: {
                **ref.to_dict(),
                "stored_shape": list(infos[ref.name].shape),
                "dtype": infos[ref.name].dtype,
            }
            for role, ref in roles.refs.items()
        }
        card = model.card
        tok = _tokenizer_summary(model)
        extra = dict(declared.extra) if declared is not None else {}
        doc: dict[str, Any] = {
            "format": INSPECT_FORMAT,
            "version": INSPECT_VERSION,
            "path": model.path,
            "checkpoint_format": ck.format,
            "architecture": (declared.architecture if declared else None) or roles.family,
            "family": roles.family,
            "config_source": declared.source if declared is not None else inferred.source,
            "hyperparameters": hp,
            "config_mismatches": mismatches,
            "n_tensors": len(infos),
            "param_count": model.param_count,
            "dtypes": model.dtype_summary,
            "gguf_file_type": extra.get("file_type"),
            "tokenizer": tok,
            "card": card.to_dict() if card is not None else None,
            "file_size": model.file_size,
            "truncated": bool(getattr(ck, "truncated", False)),
            "roles": {
                "method": roles.method,
                "num_layers": roles.num_layers,
                "prefix": roles.prefix,
                "mapped_roles": len(roles.refs),
                "unmapped": list(roles.unmapped),
                "notes": list(roles.notes),
                "ambiguous": [list(p) for p in roles.ambiguous_pairs],
            },
        }
        if with_roles:
            doc["roles"]["map"] = role_rows
        doc["bytes_read"] = model.bytes_read
    return doc


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _size(n: int) -> str:
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if x < 1024 or unit == "TiB":
            return f"{x:.1f} {unit}" if unit != "B" else f"{int(x)} B"
        x /= 1024
    return f"{n} B"  # pragma: no cover


def _render(doc: dict[str, Any], con: Console) -> None:
    t = Table(title=f"taoke inspect: {doc['path']}", show_header=False, title_justify="left")
    t.add_column("field", style="bold")
    t.add_column("value")
    t.add_row("format", doc["checkpoint_format"] + (" (TRUNCATED: header only)" if doc["truncated"] else ""))
    t.add_row("architecture", f"{_fmt(doc['architecture'])} (family {doc['family']})")
    t.add_row("parameters", f"{doc['param_count']:,} in {doc['n_tensors']} tensors")
    if doc["gguf_file_type"] is not None:
        t.add_row("GGUF file_type", str(doc["gguf_file_type"]))
    card = doc["card"]
    if card:
        t.add_row("declared name", _fmt(card.get("name")))
        t.add_row("declared base model", ", ".join(card.get("base_models") or []) or "—")
        t.add_row("licence", _fmt(card.get("license")))
    t.add_row("file size", f"{_size(doc['file_size'])} ({doc['file_size']:,} bytes)")
    t.add_row("bytes read", f"{_size(doc['bytes_read'])} ({doc['bytes_read']:,} bytes)")
    con.print(t)

    h = Table(title=f"hyper-parameters (declared: {doc['config_source']})", title_justify="left")
    h.add_column("parameter")
    h.add_column("declared")
    h.add_column("inferred from shapes")
    for f, v in doc["hyperparameters"].items():
        if v["declared"] is None and v["inferred"] is None:
            continue
        style = "bold red" if f in doc["config_mismatches"] else None
        h.add_row(f, _fmt(v["declared"]), _fmt(v["inferred"]), style=style)
    con.print(h)

    d = Table(title="stored dtypes", title_justify="left")
    for c in ("dtype", "tensors", "parameters", "bytes"):
        d.add_column(c, justify="right" if c != "dtype" else "left")
    for k, v in doc["dtypes"].items():
        d.add_row(k, str(v["tensors"]), f"{v['params']:,}", _size(v["bytes"]))
    con.print(d)

    tok = doc["tokenizer"]
    k = Table(title="tokenizer", show_header=False, title_justify="left")
    k.add_column("field", style="bold")
    k.add_column("value")
    if tok["available"]:
        k.add_row("type", f"{tok['kind']} ({tok['source_format']})")
        k.add_row(
            "vocab size",
            f"{tok['vocab_size']:,} ({tok['regular_tokens']:,} regular, {tok['merges']:,} merges)",
        )
        sp = ", ".join(f"{s['text']}={s['id']}" for s in tok["specials"][:12])
        more = tok["n_specials"] - min(12, tok["n_specials"])
        k.add_row("special tokens", (sp or "—") + (f" … (+{more})" if more > 0 else ""))
        k.add_row("chat template", "yes" if tok["chat_template"] else "no")
    else:
        k.add_row("unavailable", tok["error"])
    con.print(k)

    r = doc["roles"]
    summary = f"roles: {r['mapped_roles']} mapped by {r['method']}, {r['num_layers']} layers"
    if r["unmapped"]:
        shown = ", ".join(r["unmapped"][:8]) + (" …" if len(r["unmapped"]) > 8 else "")
        summary += f"; {len(r['unmapped'])} unmapped: {shown}"
    con.print(summary)
    for note in r["notes"]:
        con.print(f"  note: {note}")
    if "map" in r:
        m = Table(title="role map", title_justify="left")
        for c in ("role", "tensor", "shape", "dtype", "orientation", "how"):
            m.add_column(c, overflow="fold")
        for role, ref in r["map"].items():
            if len(ref["shape"]) < 2:
                orient = "vector"
            else:
                orient = "(in, out) → transposed" if ref["transposed"] else "(out, in)"
            bits = [orient]
            if ref["row_range"]:
                bits.append(f"rows {ref['row_range'][0]}:{ref['row_range'][1]}")
            if ref["stack_index"] is not None:
                bits.append(f"expert slice {ref['stack_index']}")
            if ref["layout"]:
                bits.append(ref["layout"])
            how = ref["how"] + (
                " (ambiguous: " + "/".join(ref["ambiguous"]) + ")" if ref["ambiguous"] else ""
            )
            shape = "×".join(str(x) for x in ref["shape"])
            m.add_row(role, ref["name"], shape, ref["dtype"], ", ".join(bits), how)
        con.print(m)


def register(app: typer.Typer) -> None:
    @app.command("inspect")
    def inspect(  # noqa: A001 - the command's name
        model: str = typer.Argument(..., help="A checkpoint file, model folder or http(s) URL."),
        roles: bool = typer.Option(False, "--roles", help="Also print the canonical role map."),
        as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
    ) -> None:
        """Describe a checkpoint: format, architecture, hyper-parameters, dtypes, tokenizer, card, roles."""
        doc = inspect_model(model, with_roles=roles)
        emit(doc, as_json, lambda con: _render(doc, con))
