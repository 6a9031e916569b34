"""Licence obligations of common open-model licences, as an immutable, informational table.

Informational, not legal advice: each entry paraphrases the obligations a derivative typically has to meet and
links the licence text; the checklist tells the reader what to verify, and where taoke can see something in the
model's own files (a LICENSE file, the model name, whether the card names the ancestor) it says so.

``check`` names an automatic check in :mod:`taoke.audit._audit`: ``attribution`` (the card or metadata names the
ancestor), ``licence-file`` (a LICENSE/NOTICE file ships with the model), ``name-prefix:<P>`` (the model's name
starts with P), ``same-licence`` (the model declares the ancestor's licence); ``None`` = check by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Obligation:
    text: str
    check: str | None = None


@dataclass(frozen=True)
class Licence:
    key: str
    name: str
    url: str
    aliases: tuple[str, ...]
    obligations: tuple[Obligation, ...]


_LLAMA3_COMMON = (
    Obligation("Provide a copy of the licence agreement with any distribution of the model or a derivative",
               "licence-file"),
    Obligation("Display \"Built with Llama\" prominently on a related website, user interface, blog post, about "
               "page or product documentation", "attribution"),
    Obligation("Include \"Llama\" at the beginning of the name of any AI model distributed that was created, "
               "trained, fine-tuned or improved using the Llama materials", "name-prefix:llama"),
    Obligation("Keep the attribution notice (\"<version> is licensed under the <version> Community License, "
               "Copyright © Meta Platforms, Inc.\") in a NOTICE text file distributed with the copies"),
    Obligation("Comply with the Acceptable Use Policy; products above 700 million monthly active users need a "
               "separate licence from Meta"),
)

LICENCES: tuple[Licence, ...] = (
    Licence("llama2", "Llama 2 Community License", "https://ai.meta.com/llama/license/", ("llama2", "llama-2"), (
        Obligation("Provide a copy of the licence agreement with any distribution", "licence-file"),
        Obligation("Keep the notice \"Llama 2 is licensed under the LLAMA 2 Community License, Copyright (c) Meta "
                   "Platforms, Inc. All Rights Reserved.\" in a NOTICE file", "attribution"),
        Obligation("Do not use Llama 2 or its outputs to improve any other large language model (except Llama 2 "
                   "derivatives)"),
        Obligation("Comply with the Acceptable Use Policy; above 700 million monthly active users a separate "
                   "licence is required"),
    )),
    Licence("llama3", "Meta Llama 3 Community License", "https://llama.meta.com/llama3/license/",
            ("llama3", "llama-3"), _LLAMA3_COMMON),
    Licence("llama3.1", "Llama 3.1 Community License", "https://llama.meta.com/llama3_1/license/",
            ("llama3.1", "llama-3.1"), _LLAMA3_COMMON),
    Licence("llama3.2", "Llama 3.2 Community License", "https://www.llama.com/llama3_2/license/",
            ("llama3.2", "llama-3.2"), _LLAMA3_COMMON),
    Licence("llama3.3", "Llama 3.3 Community License", "https://www.llama.com/llama3_3/license/",
            ("llama3.3", "llama-3.3"), _LLAMA3_COMMON),
    Licence("gemma", "Gemma Terms of Use", "https://ai.google.dev/gemma/terms", ("gemma",), (
        Obligation("Pass on the use restrictions of the Gemma Prohibited Use Policy to recipients, as an enforceable "
                   "provision of your own terms", "same-licence"),
        Obligation("Give recipients a copy of the Gemma Terms of Use", "licence-file"),
        Obligation("Add a notice: \"Gemma is provided under and subject to the Gemma Terms of Use found at "
                   "ai.google.dev/gemma/terms\"", "attribution"),
        Obligation("Mark modified files with a prominent notice that you modified them"),
    )),
    Licence("qwen", "Tongyi Qianwen License", "https://huggingface.co/Qwen/Qwen-7B/blob/main/LICENSE",
            ("qwen", "tongyi-qianwen", "tongyi-qianwen-license"), (
        Obligation("Give recipients a copy of the licence", "licence-file"),
        Obligation("Keep the attribution notices and state that the product is built on Qwen (\"Built with Qwen\" "
                   "or \"Improved using Qwen\")", "attribution"),
        Obligation("Above 100 million monthly active users, request a licence from Alibaba Cloud"),
    )),
    Licence("apache-2.0", "Apache License 2.0", "https://www.apache.org/licenses/LICENSE-2.0",
            ("apache-2.0", "apache 2.0", "apache2", "apache-2"), (
        Obligation("Give recipients a copy of the licence", "licence-file"),
        Obligation("Keep the copyright, patent, trademark and attribution notices of the original (and its NOTICE "
                   "file, if it has one)", "attribution"),
        Obligation("State in modified files that you changed them"),
        Obligation("The licence grants no right to use the licensor's trade names or marks (do not present the model "
                   "as theirs, nor theirs as yours)"),
    )),
    Licence("mit", "MIT License", "https://opensource.org/license/mit", ("mit",), (
        Obligation("Include the copyright notice and the permission notice in all copies or substantial portions",
                   "attribution"),
    )),
    Licence("cc-by-4.0", "Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/",
            ("cc-by-4.0",), (
        Obligation("Give appropriate credit, link the licence and indicate if changes were made", "attribution"),
    )),
    Licence("cc-by-nc-4.0", "Creative Commons Attribution-NonCommercial 4.0",
            "https://creativecommons.org/licenses/by-nc/4.0/", ("cc-by-nc-4.0",), (
        Obligation("Give appropriate credit, link the licence and indicate if changes were made", "attribution"),
        Obligation("No commercial use of the model or derivatives"),
    )),
    Licence("openrail", "OpenRAIL / OpenRAIL-M", "https://www.licenses.ai/", ("openrail", "openrail-m",
            "bigscience-openrail-m", "creativeml-openrail-m", "bigcode-openrail-m"), (
        Obligation("Pass the use-based restrictions on to every downstream licensee", "same-licence"),
        Obligation("Give recipients a copy of the licence", "licence-file"),
    )),
)


def _norm(s: str) -> str:
    return re.sub(r"[\s_]+", "-", s.strip().lower())


def find_licence(declared: str | None) -> Licence | None:
    """The table entry for a declared licence id (``"apache-2.0"``, ``"llama3.1"``, ``"gemma"``...), if known.

    >>> find_licence("Apache-2.0").key, find_licence("llama3.1").key, find_licence("other")
    ('apache-2.0', 'llama3.1', None)
    """
    if not declared:
        return None
    n = _norm(declared)
    for lic in LICENCES:
        if n == lic.key or n in lic.aliases:
            return lic
    return None
