"""The fixed prompts of the fingerprint probes (lineage and watch) and the list of every text a probe sends.

``FINGERPRINT_PROMPTS`` are short open requests whose greedy (temperature 0) answers are idiosyncratic to a set
of weights: a model and its re-quantisation agree on most of the first tokens, a fine-tune agrees on fewer,
unrelated models on almost none. The lineage probe (:mod:`taoke.blackbox.lineage`) compares an endpoint's
answers with references computed from model files; ``taoke probe snapshot/watch`` (:mod:`taoke.blackbox.watch`)
compares an endpoint with its own earlier answers.

:func:`user_texts` lists every text any probe sends as a lone user message; the tokenizer table stores their
token counts under every known tokenizer, so each answered query's ``usage.prompt_tokens`` can be attributed to
a tokenizer (:mod:`taoke.blackbox.attribution`: mixed routing).
"""

from __future__ import annotations

FINGERPRINT_PROMPTS: tuple[str, ...] = (
    "Write a short poem about autumn.",
    "Why is the sky blue?",
    "Give me three tips for better sleep.",
    "Describe a cat to someone who has never seen one.",
    "Write a Python function that reverses a string.",
    "Tell me a joke.",
    "What should I cook for dinner tonight?",
    "Explain what a black hole is.",
    "Write the first sentence of a fairy tale.",
    "What are the benefits of reading books?",
    "How do I make a cup of tea?",
    "Describe the city of Paris in two sentences.",
)


def user_texts() -> tuple[str, ...]:
    """Every text a probe sends as the only (user) message, in a fixed order, without duplicates."""
    from taoke.blackbox.probes.behaviour import QUERIES
    from taoke.blackbox.probes.identity import QUESTIONS
    from taoke.blackbox.same_model import DEFAULT_PROMPTS

    texts = [q for _i, q in QUERIES] + [q for _i, _l, _f, q in QUESTIONS] + list(FINGERPRINT_PROMPTS) + list(
        DEFAULT_PROMPTS)
    return tuple(dict.fromkeys(texts))
