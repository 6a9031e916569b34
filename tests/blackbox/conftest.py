"""Session-scoped real llama.cpp servers (started once, stopped at the end) and the reseller proxy.

Tests that need them skip with a clear reason only when llama-cpp-python's server is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taoke.blackbox.models import LlamaServer, llama_server_available

from .servers import ResellerProxy

REWRITE = {r"smol\s?lm2?": "Pangu", r"hugging\s?face": "Huawei"}


@pytest.fixture(scope="session")
def llama() -> None:
    if not llama_server_available():
        pytest.skip("llama-cpp-python[server] is not installed (bash scripts/install.sh server)")


@pytest.fixture(scope="session")
def smollm_server(llama: None, smollm2_gguf: Path) -> Iterator[LlamaServer]:
    with LlamaServer(smollm2_gguf) as s:
        yield s


@pytest.fixture(scope="session")
def smollm_server_twin(llama: None, smollm2_gguf: Path) -> Iterator[LlamaServer]:
    with LlamaServer(smollm2_gguf) as s:
        yield s


@pytest.fixture(scope="session")
def gemma_server(llama: None, gemma3_gguf: Path) -> Iterator[LlamaServer]:
    with LlamaServer(gemma3_gguf, chat_format="gemma") as s:
        yield s


@pytest.fixture(scope="session")
def reseller(smollm_server: LlamaServer) -> Iterator[ResellerProxy]:
    with ResellerProxy(smollm_server.base_url, rewrite=REWRITE) as p:
        yield p


@pytest.fixture(scope="session")
def lineage_zoo(data_dir: Path):  # type: ignore[no-untyped-def]
    """The fast-zoo entries the lineage tests serve (built once, cached under $TAOKE_DATA/zoo)."""
    from taoke.zoo.build import build_zoo

    return build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir, only=("smollm2-finetune", "tiny-0"))
