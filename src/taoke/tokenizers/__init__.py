"""Tokenizer lineage: load any tokenizer into one canonical form, compare two, identify one.

The cheapest strong lineage signal: a model "trained from scratch" that ships Llama-2's 32,000 SentencePiece
pieces in Llama-2's order did not design its own tokenizer.

Public API::

    load(path_or_checkpoint) -> Vocab          # tokenizer.json, tokenizer.model, *.tiktoken, tekken, claude.json,
                                               # vocab.txt, GGUF (embedded), a model folder, a Checkpoint
    compare(a, b) -> TokenizerComparison       # relation + statistics + calibrated p-value
    identify(x, db=None) -> Identification     # nearest known tokenizers in the shipped reference database
    shared_token_ids(a, b) -> (ids_a, ids_b)   # aligned ids of tokens present in both (to align embeddings)
    build_db(data_dir) / load_db() / add_to_user_db(path, name=..., family=...)
    vocab_to_arrays(vocab) / vocab_from_arrays(header, arrays)   # lossless numpy form (fingerprints store it)
    token_hash64(token_bytes) -> int           # the 64-bit token hash sketches and anchors are keyed by

Modules: ``_vocab`` (canonical form and byte normalisation), ``_load`` (formats), ``_stats`` (pair statistics),
``_compare`` (relation and calibration), ``_families`` (which artifact is which family: the one naming table),
``_db`` (sketches, reference database, null), ``_identify``, ``_arrays`` (numpy form), ``_wording`` (the
relation sentences).
"""

from taoke.tokenizers._arrays import vocab_from_arrays, vocab_to_arrays
from taoke.tokenizers._compare import (
    Calibration,
    NullDistribution,
    SpecialsDiff,
    TokenizerComparison,
    compare,
    shared_token_ids,
)
from taoke.tokenizers._db import (
    Entry,
    TokenizerDB,
    add_to_user_db,
    build_db,
    load_db,
    shipped_db_path,
    user_db_path,
)
from taoke.tokenizers._families import ARTIFACTS, FAMILIES, Artifact, Family
from taoke.tokenizers._identify import Identification, Match, identify
from taoke.tokenizers._load import clear_cache, load
from taoke.tokenizers._stats import MergeAgreement, PairStats
from taoke.tokenizers._vocab import SpecialToken, TokenType, Vocab, token_hash64

__all__ = [
    "ARTIFACTS",
    "Artifact",
    "Calibration",
    "Entry",
    "FAMILIES",
    "Family",
    "Identification",
    "Match",
    "MergeAgreement",
    "NullDistribution",
    "PairStats",
    "SpecialToken",
    "SpecialsDiff",
    "TokenType",
    "TokenizerComparison",
    "TokenizerDB",
    "Vocab",
    "add_to_user_db",
    "build_db",
    "clear_cache",
    "compare",
    "identify",
    "load",
    "load_db",
    "shared_token_ids",
    "shipped_db_path",
    "token_hash64",
    "user_db_path",
    "vocab_from_arrays",
    "vocab_to_arrays",
]
