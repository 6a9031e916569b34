"""Black-box identification of the model behind an OpenAI-compatible API (issue #6).

Public surface::

    Endpoint, ChatRequest, ChatResponse, ClientConfig, ChatClient   the client (client.py)
    QueryBudget, ResponseCache                                       budget.py, cache.py
    probe_endpoint, ProbeReport, Verdict                             probe.py (tokenizer+behaviour+identity)
    same_model_test, SameModelResult                                 same_model.py (MMD, permutation null)
    LlamaServer, KNOWN_MODELS                                        models.py (serve the real GGUFs)
"""

from taoke.blackbox._errors import EndpointHTTPError, EndpointTimeout, EndpointUnreachable, MalformedResponse
from taoke.blackbox.budget import BudgetSnapshot, QueryBudget
from taoke.blackbox.cache import ResponseCache
from taoke.blackbox.client import ChatClient, ChatRequest, ChatResponse, ClientConfig, Endpoint
from taoke.blackbox.models import KNOWN_MODELS, LlamaServer
from taoke.blackbox.probe import ProbeReport, Verdict, probe_endpoint
from taoke.blackbox.same_model import SameModelResult, same_model_test

__all__ = [
    "BudgetSnapshot", "ChatClient", "ChatRequest", "ChatResponse", "ClientConfig", "Endpoint",
    "EndpointHTTPError", "EndpointTimeout", "EndpointUnreachable", "KNOWN_MODELS", "LlamaServer",
    "MalformedResponse", "ProbeReport", "QueryBudget", "ResponseCache", "SameModelResult", "Verdict",
    "probe_endpoint", "same_model_test",
]
