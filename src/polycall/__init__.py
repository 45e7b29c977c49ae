"""polycall: one LLM request in, a list of validated, typed tool calls out, on every provider."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .calls import ToolCall, ToolCalls, ToolResult, Usage
from .client import AsyncClient, Client
from .errors import (
    ConfigurationError,
    IncompleteOutputError,
    LimitExceededError,
    MalformedOutputError,
    MaxStepsExceeded,
    NoToolCallsError,
    PolycallError,
    ProviderError,
    RefusalError,
    UnknownToolError,
    UserCodeError,
    ValidationFailed,
)
from .factories import (
    from_anthropic,
    from_bedrock,
    from_genai,
    from_openai,
    from_provider,
    from_vertexai,
)
from .limits import Limits
from .modes import Mode
from .streams import AsyncCallStream, CallStream

if TYPE_CHECKING:
    from .loop import Step, ToolRun
    from .partial import Partial
    from .running import arun_stream, run_stream
    from .tracing import instrument, uninstrument

__version__ = "0.1.0"

#: Imported on first use, so `import polycall` loads neither jiter nor asyncio and threads.
_LAZY = {
    "Partial": ".partial",
    "Step": ".loop",
    "ToolRun": ".loop",
    "arun_stream": ".running",
    "run_stream": ".running",
    "instrument": ".tracing",
    "uninstrument": ".tracing",
}


def __getattr__(name: str) -> Any:
    if name == "batch":  # `polycall.batch.resume(...)` after a bare `import polycall`
        return importlib.import_module(".batch", __name__)
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

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
    "MaxStepsExceeded",
    "Mode",
    "NoToolCallsError",
    "Partial",
    "PolycallError",
    "ProviderError",
    "RefusalError",
    "Step",
    "ToolCall",
    "ToolCalls",
    "ToolResult",
    "ToolRun",
    "UnknownToolError",
    "Usage",
    "UserCodeError",
    "ValidationFailed",
    "arun_stream",
    "from_anthropic",
    "from_bedrock",
    "from_genai",
    "from_openai",
    "from_provider",
    "from_vertexai",
    "instrument",
    "run_stream",
    "uninstrument",
]
