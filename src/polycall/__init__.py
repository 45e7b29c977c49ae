"""polycall: one LLM request in, a list of validated, typed tool calls out, on every provider."""

from __future__ import annotations

from .calls import ToolCall, ToolCalls, ToolResult, Usage
from .client import AsyncCallStream, AsyncClient, CallStream, Client
from .errors import (
    ConfigurationError,
    IncompleteOutputError,
    LimitExceededError,
    MalformedOutputError,
    NoToolCallsError,
    PolycallError,
    ProviderError,
    RefusalError,
    UnknownToolError,
    ValidationFailed,
)
from .factories import from_anthropic, from_genai, from_openai, from_provider, from_vertexai
from .limits import Limits
from .modes import Mode
from .partial import Partial
from .running import arun_stream, run_stream

__version__ = "0.1.0"

__all__ = [
    "AsyncCallStream",
    "AsyncClient",
    "CallStream",
    "Client",
    "ConfigurationError",
    "IncompleteOutputError",
    "LimitExceededError",
    "Limits",
    "MalformedOutputError",
    "Mode",
    "NoToolCallsError",
    "Partial",
    "PolycallError",
    "ProviderError",
    "RefusalError",
    "ToolCall",
    "ToolCalls",
    "ToolResult",
    "UnknownToolError",
    "Usage",
    "ValidationFailed",
    "arun_stream",
    "from_anthropic",
    "from_genai",
    "from_openai",
    "from_provider",
    "from_vertexai",
    "run_stream",
]
