"""What the OpenAI Chat and Responses adapters share: request set-up and the model's quirks."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..calls import RawCall
from ..errors import ConfigurationError, MalformedOutputError, RefusalError
from ..toolset import ToolSet
from .base import Adapter, omitted
from .registry import construct, require

logger = logging.getLogger("polycall")

PARALLEL_WRAPPERS = ("multi_tool_use.parallel", "parallel")


class _Default(str):
    """A tool choice polycall set itself (the user gave none), so it may fall back."""


class _DefaultOptions(dict[str, Any]):
    """Request options polycall added itself, so they may be dropped if the server refuses them."""


REQUIRED = _Default("required")
INCLUDE_USAGE = _DefaultOptions(include_usage=True)

#: For each default polycall may set: what a server's 400 names when it refuses it, and
#: what to send instead (None: leave the option out).
_FALLBACKS: dict[str, tuple[re.Pattern[str], str | None]] = {
    "tool_choice": (re.compile(r"tool[ _]?choice", re.IGNORECASE), "auto"),
    "stream_options": (re.compile(r"stream[ _]?options", re.IGNORECASE), None),
}
_REFUSAL_STATUSES = (400, 422)


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
    adapter.check(request, "from_openai() create()")
    if "parallel" in tools.by_name:
        raise ConfigurationError(
            "a tool named 'parallel' cannot be told apart from OpenAI's own "
            "multi_tool_use.parallel wrapper, whose calls polycall unwraps; name it otherwise "
            '(`model_config = ConfigDict(title="...")`)'
        )
    request["tools"] = tools.dialect(build)
    if "tool_choice" not in request or omitted(request["tool_choice"]):  # (the SDK's NOT_GIVEN)
        request["tool_choice"] = REQUIRED
    return request


def relax_choice(request: dict[str, Any]) -> dict[str, Any]:
    """`request` without the `tool_choice` polycall set itself: the server's default, auto."""
    if isinstance(request.get("tool_choice"), _Default):
        return {key: value for key, value in request.items() if key != "tool_choice"}
    return request


def required_fallback(adapter: Adapter, fn: Callable[..., Any], request: dict[str, Any]) -> Any:
    """`fn(**request)`. When the server refuses, with a clear 400, a default polycall set
    itself (`tool_choice="required"`, `stream_options`), send it again without that default
    (`"auto"` for the tool choice), and remember the refusal for this client.
    The user's own values are never changed."""
    request = _known_refusals(adapter, request)
    while True:
        try:
            return fn(**request)
        except Exception as exc:
            fallback = _fallback(adapter, exc, request)
            if fallback is None:
                raise
            request = fallback


async def arequired_fallback(
    adapter: Adapter, fn: Callable[..., Awaitable[Any]], request: dict[str, Any]
) -> Any:
    """Async `required_fallback`."""
    request = _known_refusals(adapter, request)
    while True:
        try:
            return await fn(**request)
        except Exception as exc:
            fallback = _fallback(adapter, exc, request)
            if fallback is None:
                raise
            request = fallback


def _refused(adapter: Adapter) -> set[str]:
    """The defaults this client's server has refused, kept for the client's lifetime."""
    refused: set[str] = adapter.__dict__.setdefault("refused_defaults", set())
    return refused


def _is_default(value: Any) -> bool:
    return isinstance(value, (_Default, _DefaultOptions))


def _without(request: dict[str, Any], key: str) -> dict[str, Any]:
    replacement = _FALLBACKS[key][1]
    if replacement is None:
        return {k: v for k, v in request.items() if k != key}
    return {**request, key: replacement}


def _known_refusals(adapter: Adapter, request: dict[str, Any]) -> dict[str, Any]:
    """`request` without the defaults this client's server has refused (usually none: the
    set is looked up, not created)."""
    for key in adapter.__dict__.get("refused_defaults", ()):
        if _is_default(request.get(key)):
            request = _without(request, key)
    return request


def _fallback(adapter: Adapter, exc: Exception, request: dict[str, Any]) -> dict[str, Any] | None:
    """The request without the default that `exc` refuses, or None if it refuses none."""
    if getattr(exc, "status_code", None) not in _REFUSAL_STATUSES:
        return None
    message = str(exc)
    for key, (pattern, replacement) in _FALLBACKS.items():
        if _is_default(request.get(key)) and pattern.search(message):
            _refused(adapter).add(key)
            logger.warning(
                "the server refused %s=%s that polycall sets by default; sending %s from now on",
                key,
                json.dumps(request[key]),
                "no " + key if replacement is None else f"{key}={json.dumps(replacement)}",
            )
            return _without(request, key)
    return None


#: Error codes with which an OpenAI-compatible server says the model wrote a malformed call
#: (Groq: an HTTP 400 or a stream error event, the model's text in `failed_generation`).
_MALFORMED_CODES = frozenset({"tool_use_failed"})


def classify_error(exc: Exception) -> MalformedOutputError | RefusalError | None:
    """The SDK error `exc` as a (retryable) `MalformedOutputError` when the server's error
    body says the model produced a malformed function call, as a `RefusalError` when it
    says a content filter blocked the request (Azure OpenAI's prompt filter); else None."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        body = body["error"]
    if not isinstance(body, Mapping):
        return None
    code = body.get("code")
    if code == "content_filter":
        return RefusalError(
            f"the provider's content filter blocked the request: {body.get('message')}",
            reason="content_filter",
            raw=dict(body),
        )
    if code not in _MALFORMED_CODES:
        return None
    code = str(code)
    message = f"the provider reports a malformed function call ({code}): {body.get('message')}"
    generated = body.get("failed_generation")
    if generated:
        message += f"; the model wrote {str(generated)[:300]!r}"
    return MalformedOutputError(message, reason=code, raw=dict(body))


def unwrap_parallel(calls: Sequence[RawCall]) -> list[RawCall]:
    """Replace each `multi_tool_use.parallel` wrapper call by the calls inside it.

    `recipient_name: "functions.X"` becomes tool `X`; the inner calls get ids derived from
    the wrapper's id (`<id>_0`, `<id>_1`, ...).
    """
    out: list[RawCall] = []
    for call in calls:
        inner = inner_calls(call) if call.name in PARALLEL_WRAPPERS else None
        if inner is None:
            out.append(call)
        else:
            out.extend(inner)
    return out


def inner_calls(call: RawCall) -> list[RawCall] | None:
    """The calls a `multi_tool_use.parallel` wrapper holds; None for any other call."""
    if call.name not in PARALLEL_WRAPPERS:
        return None
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


#: For a stream's call buffer: each wrapper's name, to what unwraps it.
WRAPPERS: Mapping[str, Callable[[RawCall], list[RawCall] | None]] = MappingProxyType(
    dict.fromkeys(PARALLEL_WRAPPERS, inner_calls)
)


def arguments_text(arguments: Any) -> str:
    """Arguments as the JSON text OpenAI expects back in an assistant message."""
    if isinstance(arguments, str):
        return arguments or "{}"
    return json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)


#: The OpenAI-compatible servers `from_provider` knows: (public address, API key variable).
_SERVERS: dict[str, tuple[str, str | None]] = {
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "deepseek": ("https://api.deepseek.com", "DEEPSEEK_API_KEY"),
    "mistral": ("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "ollama": ("http://localhost:11434/v1", None),
}


def build_client(
    spec: str, name: str, model: str, async_client: bool, client_kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """`from_provider`: the OpenAI (or Azure) SDK client, for a compatible server its address
    and key from `<NAME>_BASE_URL` and `<NAME>_API_KEY` unless given."""
    openai = require("openai")
    kwargs = dict(client_kwargs)
    if name in _SERVERS:
        base_url, key_variable = _SERVERS[name]
        kwargs.setdefault("base_url", os.environ.get(f"{name.upper()}_BASE_URL") or base_url)
        if key_variable is None:
            kwargs.setdefault("api_key", name)  # a local server: any key will do
        elif "api_key" not in kwargs:
            if not os.environ.get(key_variable):
                raise ConfigurationError(
                    f"from_provider({spec!r}) needs an API key: set {key_variable} or pass api_key="
                )
            kwargs["api_key"] = os.environ[key_variable]
    kind = ("Async" if async_client else "") + ("AzureOpenAI" if name == "azure" else "OpenAI")
    client = construct(spec, openai, kind, kwargs)
    if name in _SERVERS:  # not OpenAI: OPENAI_ORG_ID and OPENAI_PROJECT_ID are not for it
        client.organization = kwargs.get("organization")
        client.project = kwargs.get("project")
    return client, {"model": model}
