"""Shared pieces of the black-box evaluations: serving the servable models, the proxies, resumable JSON-lines logs.

Every evaluation writes one JSON line per finished unit to ``<name>.jsonl`` beside this file while it runs (an
interrupted run resumes: finished units are skipped) and the summary to ``results_<name>.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # for tests.blackbox.servers

from taoke.blackbox import ChatClient, ClientConfig, Endpoint, QueryBudget  # noqa: E402
from taoke.blackbox.models import LlamaServer  # noqa: E402
from taoke.blackbox.servable import servable, servable_gguf  # noqa: E402
from tests.blackbox.servers import PANGU, ResellerProxy  # noqa: E402

CFG = ClientConfig(timeout_s=300, deadline_s=600, max_concurrency=2)
# a reseller: renamed model, injected persona, answers rewritten to the persona's names
REWRITE = {r"smol\s?lm2?": "Pangu", r"hugging\s?face": "Huawei", r"gemma": "Pangu", r"google": "Huawei"}
CONDITIONS = {  # name -> ResellerProxy keyword arguments
    "direct": {"system_prompt": None},
    "reseller": {"system_prompt": PANGU, "rewrite": REWRITE},
    "usage-rewriting reseller": {"system_prompt": PANGU, "rewrite": REWRITE, "rewrite_usage": "chars4"},
}


def client(url: str, budget: int | None = None) -> ChatClient:
    return ChatClient(Endpoint(url, "gpt-4o"), config=CFG, budget=QueryBudget(budget))


def serve(name: str) -> LlamaServer:
    """A llama.cpp server of the servable model ``name`` (small context, one thread: the machine is shared)."""
    s = servable(name)
    threads = int(os.environ.get("TAOKE_BENCH_THREADS", "1"))  # 1: the machine is shared; more when alone
    return LlamaServer(servable_gguf(s), chat_format=s.chat_format, n_ctx=512, n_threads=threads, startup_s=600)


@contextmanager
def served(*names: str) -> Iterator[list[LlamaServer]]:
    servers: list[LlamaServer] = []
    try:
        for n in names:
            servers.append(serve(n))
        yield servers
    finally:
        for s in servers:
            s.stop()


class Log:
    """Append-only JSON lines; ``done(key)`` tells whether a unit finished in an earlier (interrupted) run."""

    def __init__(self, name: str, fresh: bool = False) -> None:
        self.path = HERE / f"{name}.jsonl"
        if fresh and self.path.exists():
            self.path.unlink()
        self.rows: list[dict[str, Any]] = []
        if self.path.exists():
            self.rows = [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]

    def done(self, key: str) -> bool:
        return any(r.get("key") == key for r in self.rows)

    def add(self, row: dict[str, Any]) -> None:
        row = {**row, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.rows.append(row)
        with self.path.open("a") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(json.dumps(row, ensure_ascii=False)[:300], file=sys.stderr, flush=True)


def write_results(name: str, obj: dict[str, Any]) -> Path:
    p = HERE / f"results_{name}.json"
    p.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n")
    return p


__all__ = ["CFG", "CONDITIONS", "PANGU", "REWRITE", "Log", "ResellerProxy", "client", "serve", "served",
           "write_results"]
