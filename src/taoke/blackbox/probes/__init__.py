"""Black-box probes, one module per probe; each returns a frozen result with its own query cost.

* :mod:`.tokenizer` -- tokenizer family from ``usage.prompt_tokens`` deltas on crafted strings;
* :mod:`.identity`  -- who the model says it is (several languages and framings), masking system prompts;
* :mod:`.behaviour` -- LLMmap-style behavioural fingerprint matched against shipped references.
"""
