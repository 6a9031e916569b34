"""The exception tree of taoke.

Every error taoke raises on purpose derives from :class:`TaokeError`; the CLI turns one into a single line on
stderr and a non-zero exit code (see ``exit_code``), never a traceback::

    TaokeError                      exit 1 unless noted
    ├── ReaderError                 a checkpoint or tokenizer file could not be read      (exit 3)
    │   ├── CorruptFile             truncated, inconsistent or lying header/offsets
    │   ├── UnsupportedFormat       no reader recognises the bytes (or the folder holds no weights)
    │   ├── UnsupportedDtype        a dtype taoke will not turn into floats (ints, unknown quant types)
    │   ├── UnsafePickle            a pickle that asks for a global outside the allow-list
    │   └── TensorNotFound          a tensor or role that the checkpoint does not have
    ├── RemoteError                 an HTTP source failed or does not honour range requests (exit 4)
    ├── TokenizerError              a tokenizer could not be loaded or compared              (exit 3)
    ├── RoleError                   the canonical role map could not be built                (exit 3)
    ├── ProbeError                  a black-box endpoint failed, timed out or lied           (exit 5)
    │   ├── BudgetExceeded          the query budget is spent
    │   ├── EndpointUnreachable*    connection refused / DNS / TLS failure, after retries
    │   ├── EndpointTimeout*        no answer in time, or a stream past its deadline (``partial`` holds its text)
    │   ├── EndpointHTTPError*      a non-2xx status that retries did not cure (``status``)
    │   └── MalformedResponse*      the body is not JSON, or not an OpenAI chat completion
    ├── FetchError                  a registry download or a checksum failed                 (exit 6)
    ├── IndexStoreError             the fingerprint index is missing, locked or of another schema (exit 7)
    └── UsageError                  arguments that do not make sense together              (exit 2)

Each error carries the object it is about (``subject``: a path, tensor name, URL) and a ``hint`` saying what to
do next; ``str(err)`` is the one line the CLI prints. The leaves marked ``*`` are defined with the black-box client
(:mod:`taoke.blackbox`, which exports them) and never carry the API key.
"""

from __future__ import annotations

#: longest error line printed (a hostile file can make a quoted name megabytes long)
MAX_LINE = 2000


class TaokeError(Exception):
    """Root of every error taoke raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, subject: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.subject = subject
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """``subject: message (hint)`` on one printable line: subjects and messages often quote what a hostile
        file holds (tensor names, header keys), so line breaks and other control characters are escaped and the
        line is cut at :data:`MAX_LINE` characters."""
        parts = []
        if self.subject:
            parts.append(f"{self.subject}: ")
        parts.append(self.message)
        if self.hint:
            parts.append(f" ({self.hint})")
        line = "".join(parts).replace("\n", " ")
        if not line.isprintable():
            line = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in line)
        return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


class ReaderError(TaokeError):
    """A checkpoint could not be read."""

    exit_code = 3


class CorruptFile(ReaderError):
    """Truncated file, header pointing past the end, overlapping tensors, lying counts."""


class UnsupportedFormat(ReaderError):
    """No reader recognises this input."""


class UnsupportedDtype(ReaderError):
    """A dtype taoke will not convert to floating point."""


class UnsafePickle(ReaderError):
    """A pickle asked for a global that the restricted unpickler does not allow."""


class TensorNotFound(ReaderError):
    """The tensor (or role) is not in the checkpoint."""


class RemoteError(TaokeError):
    """An HTTP(S) source failed or does not honour range requests."""

    exit_code = 4


class TokenizerError(TaokeError):
    """A tokenizer could not be loaded or compared."""

    exit_code = 3


class RoleError(TaokeError):
    """The canonical role map could not be built."""

    exit_code = 3


class ProbeError(TaokeError):
    """A black-box endpoint failed, timed out, or returned something inconsistent."""

    exit_code = 5


class BudgetExceeded(ProbeError):
    """The query budget for a probe is spent."""


class FetchError(TaokeError):
    """Downloading or verifying a registry artifact failed."""

    exit_code = 6


class IndexStoreError(TaokeError):
    """The fingerprint index could not be opened or is of an incompatible schema."""

    exit_code = 7


class UsageError(TaokeError):
    """Arguments that do not make sense together."""

    exit_code = 2
