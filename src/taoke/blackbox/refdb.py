"""Build the shipped reference data of the black-box probes (``taoke probe db build``).

* ``blackbox_tokcounts.json``: token counts of the probe strings under every tokenizer of the fetched data
  (:func:`taoke.blackbox.probes.tokenizer.build_table`);
* ``blackbox_lineage.json``: greedy answers of every known model (fetched GGUFs and zoo models converted to
  GGUF) to the fingerprint prompts, computed from the files in-process, and the lineage thresholds
  (:func:`taoke.blackbox.lineage.build_lineage`);
* ``blackbox_references.json``: for every :data:`~taoke.blackbox.models.KNOWN_MODELS` GGUF present, the
  behavioural-probe answers at temperature 0 and ``samples`` seeded answers at ``temperature``, plus the
  prompt-token overhead of the model's own chat template (for detecting injected system prompts). Built from
  the original fetched quantisations only, so the evaluation on re-quantised copies is held out.

Both files carry a format name and version and the settings used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from taoke.blackbox.client import ChatClient, ChatRequest, ClientConfig, Endpoint
from taoke.blackbox.models import KNOWN_MODELS, LlamaServer, data_root
from taoke.blackbox.probes import behaviour as beh
from taoke.blackbox.probes import tokenizer as tok
from taoke.errors import ProbeError


def collect_answers(client: ChatClient, *, temperature: float, samples: int, rng: np.random.Generator,
                    max_tokens: int = beh.MAX_TOKENS) -> dict[str, list[str]]:
    """Answers to every behavioural query: one at temperature 0 and ``samples`` seeded at ``temperature``."""
    out: dict[str, list[str]] = {qid: [] for qid, _q in beh.QUERIES}
    reqs: list[tuple[str, ChatRequest]] = []
    for qid, q in beh.QUERIES:
        reqs.append((qid, ChatRequest.user(q, max_tokens=max_tokens, temperature=0.0)))
        for _ in range(samples):
            reqs.append((qid, ChatRequest.user(q, max_tokens=max_tokens, temperature=temperature,
                                               seed=int(rng.integers(0, 2**31 - 1)))))
    for (qid, _r), res in zip(reqs, client.complete_many([r for _q, r in reqs]), strict=True):
        if isinstance(res, ProbeError):
            raise res
        out[qid].append(res.text)
    return out


def template_overhead(client: ChatClient, table: dict[str, Any], tokenizer: str) -> int:
    r = client.complete(ChatRequest.user(table["baseline"], max_tokens=1))
    if r.prompt_tokens is None:
        raise ProbeError("server reports no usage", subject=client.endpoint.base_url)
    return int(r.prompt_tokens) - int(table["tokenizers"][tokenizer]["counts"][0])


def build_references(table: dict[str, Any], *, root: Path | None = None, temperature: float = 0.7,
                     samples: int = 3, seed: int = 0, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    root = root or data_root()
    rng = np.random.default_rng(seed)
    models: dict[str, Any] = {}
    for km in KNOWN_MODELS:
        path = root / km.gguf
        if not path.exists():
            log(f"skip {km.name}: {path} missing")
            continue
        log(f"serving {km.name} ...")
        with LlamaServer(path, chat_format=km.chat_format) as srv:
            cfg = ClientConfig(timeout_s=120, deadline_s=300, max_concurrency=1)
            with ChatClient(Endpoint(srv.base_url, "reference"), config=cfg) as c:
                answers = collect_answers(c, temperature=temperature, samples=samples, rng=rng)
                overhead = template_overhead(c, table, km.tokenizer)
        models[km.name] = {"family": km.family, "vendor": km.vendor, "tokenizer": km.tokenizer,
                           "gguf": km.gguf, "overhead": overhead, "samples": answers}
        log(f"{km.name}: overhead {overhead} tokens")
    return {"format": beh.REF_FORMAT, "version": beh.REF_VERSION,
            "params": {"max_tokens": beh.MAX_TOKENS, "temperature": temperature, "samples": samples, "seed": seed},
            "queries": dict(beh.QUERIES), "models": models}


def write_json(obj: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def build_all(out_dir: Path, *, root: Path | None = None, tokenizers: bool = True, references: bool = True,
              lineage: bool = False, log: Callable[[str], None] = lambda s: None) -> list[Path]:
    root = root or data_root()
    written: list[Path] = []
    tpath = out_dir / "blackbox_tokcounts.json"
    if tokenizers:
        table = tok.build_table(root, log=log)
        write_json(table, tpath)
        written.append(tpath)
    else:
        table = tok.load_table(tpath if tpath.exists() else None)
    if references:
        rpath = out_dir / "blackbox_references.json"
        write_json(build_references(table, root=root, log=log), rpath)
        written.append(rpath)
    if lineage:
        from taoke.blackbox.lineage import build_lineage

        lpath = out_dir / "blackbox_lineage.json"
        write_json(build_lineage(root=root, log=log), lpath)
        written.append(lpath)
    return written
