"""taoke's defaults, in one place: every command, library call and test reads them from here.

>>> ALPHA, UNITS, SEED
(1e-06, 256, 0)
"""

from __future__ import annotations

import os
from pathlib import Path

#: significance level of the white-box "derived" verdict (the hidden-unit agreement test)
ALPHA = 1e-6
#: hidden units per layer sampled for the agreement test
UNITS = 256
#: seed of every sample (rows, units): results are reproducible
SEED = 0
#: significance level of the tokenizer "related" call (see :mod:`taoke.tokenizers._compare`)
TOKENIZER_ALPHA = 0.005
#: environment variable naming the data folder, and the folder used when it is unset
DATA_ENV = "TAOKE_DATA"
DATA_DIR_FALLBACK = Path("~/.cache/taoke-data")


def data_dir() -> Path:
    """The data folder (fetched artifacts, the zoo, fingerprint caches): ``$TAOKE_DATA`` or ``~/.cache/taoke-data``."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else DATA_DIR_FALLBACK.expanduser()
