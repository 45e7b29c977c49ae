"""What the OpenAI Chat and Responses adapters share: request set-up and the model's quirks."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ..calls import RawCall
from ..errors import ConfigurationError
from ..toolset import ToolSet
from .base import Adapter

_PARALLEL_WRAPPERS = ("multi_tool_use.parallel", "parallel")


class _Default(str):
    """A tool choice polycall set itself (the user gave none), so it may fall back."""


REQUIRED = _Default("required")


def prepare_common(
    adapter: Adapter,
    tools: ToolSet,
    kwargs: dict[str, Any],
    messages_key: str,
    build: Callable[[ToolSet], list[dict[str, Any]]],
) -> dict[str, Any]:
    """The request: the user's kwargs untouched, plus model, tools and a default tool choice."""
    if "tools" in kwargs:
        raise ConfigurationError("tools come from response_model; do not pass tools= as well")
    request = dict(kwargs)
    if messages_key != "messages" and "messages" in request:
        request[messages_key] = request.pop("messages")
    if adapter.model is not None:
        request.setdefault("model", adapter.model)
    request["tools"] = tools.dialect(f"{type(adapter).__name__}.tools", build)
    if "tool_choice" not in request and not getattr(adapter, "required_unsupported", False):
        request["tool_choice"] = REQUIRED
    return request


def required_fallback(adapter: Adapter, fn: Callable[..., Any], request: dict[str, Any]) -> Any:
    """`fn(**request)`; on a clear 400 refusing `tool_choice="required"` that polycall set
    itself, once more with `"auto"` (and `"auto"` from then on for this client)."""
    try:
        return fn(**request)
    except Exception as exc:
        if not _rejects_required(exc, request):
            raise
        adapter.required_unsupported = True  # type: ignore[attr-defined]
        return fn(**{**request, "tool_choice": "auto"})


async def arequired_fallback(adapter: Adapter, fn: Callable[..., Any], request: dict[str, Any]) -> Any:
    """Async `required_fallback`."""
    try:
        return await fn(**request)
    except Exception as exc:
        if not _rejects_required(exc, request):
            raise
        adapter.required_unsupported = True  # type: ignore[attr-defined]
        return await fn(**{**request, "tool_choice": "auto"})


def _rejects_required(exc: Exception, request: dict[str, Any]) -> bool:
    return (
        request.get("tool_choice") is REQUIRED
        and getattr(exc, "status_code", None) == 400
        and "tool_choice" in str(exc)
    )


def unwrap_parallel(calls: Sequence[RawCall]) -> list[RawCall]:
    """Replace each `multi_tool_use.parallel` wrapper call by the calls inside it."""
    out: list[RawCall] = []
    for call in calls:
        inner = _inner_calls(call) if call.name in _PARALLEL_WRAPPERS else None
        out.extend(inner if inner is not None else [call])
    return out


def _inner_calls(call: RawCall) -> list[RawCall] | None:
    arguments = call.arguments
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    uses = arguments.get("tool_uses") if isinstance(arguments, dict) else None
    if not isinstance(uses, list) or not all(isinstance(u, dict) for u in uses):
        return None
    return [
        RawCall(
            f"{call.id}_{k}" if call.id else None,
            str(use.get("recipient_name", "")).rsplit(".", 1)[-1],
            use.get("parameters", use.get("arguments")),
        )
        for k, use in enumerate(uses)
    ]


def arguments_text(arguments: Any) -> str:
    """Arguments as the JSON text OpenAI expects back in an assistant message."""
    if isinstance(arguments, str):
        return arguments or "{}"
    return json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
