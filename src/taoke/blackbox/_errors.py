"""Errors of the black-box client: leaves of :class:`taoke.errors.ProbeError` (CLI exit code 5).

::

    ProbeError
    ├── BudgetExceeded        (taoke.errors) the query budget is spent
    ├── EndpointUnreachable   connection refused / DNS / TLS failure, after retries
    ├── EndpointTimeout       no answer within the timeout, or a stream past its overall deadline
    ├── EndpointHTTPError     a non-2xx status that retries did not cure (carries ``status``)
    └── MalformedResponse     the body is not JSON, or not an OpenAI chat completion

Each carries the endpoint URL as ``subject`` and a ``hint``; messages never contain the API key.
``EndpointTimeout.partial`` holds the text a stream had produced before its deadline (partial result).
"""

from __future__ import annotations

from taoke.errors import ProbeError


class EndpointUnreachable(ProbeError):
    """The endpoint refused or dropped the connection."""


class EndpointTimeout(ProbeError):
    """The endpoint did not answer (or finish streaming) in time."""

    def __init__(self, message: str, *, subject: str | None = None, hint: str | None = None,
                 partial: str = "") -> None:
        super().__init__(message, subject=subject, hint=hint)
        self.partial = partial


class EndpointHTTPError(ProbeError):
    """A non-success HTTP status."""

    def __init__(self, message: str, *, status: int, subject: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, subject=subject, hint=hint)
        self.status = status


class MalformedResponse(ProbeError):
    """The body is not a well-formed OpenAI-style chat completion."""
