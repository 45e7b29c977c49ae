"""Running the calls: `ToolCalls.run` / `arun`, and `run_stream` / `arun_stream`.

Placeholder signatures; implemented under issue 8.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .calls import Handlers, ToolCall, ToolResult


def run_calls(
    calls: Sequence[ToolCall[Any]], handlers: Handlers, *, max_concurrency: int | None, timeout: float | None
) -> list[ToolResult[Any]]:
    raise NotImplementedError


async def arun_calls(
    calls: Sequence[ToolCall[Any]], handlers: Handlers, *, max_concurrency: int | None, timeout: float | None
) -> list[ToolResult[Any]]:
    raise NotImplementedError


def run_stream(stream: Any, handlers: Handlers, **kwargs: Any) -> Any:
    raise NotImplementedError


def arun_stream(stream: Any, handlers: Handlers, **kwargs: Any) -> Any:
    raise NotImplementedError
