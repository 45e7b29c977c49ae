"""Vertex AI SDK (`vertexai.generative_models.GenerativeModel`): `Mode.VERTEXAI_PARALLEL_TOOLS`."""

from __future__ import annotations

import copy
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    contextmanager,
)
from typing import Any

from google.protobuf.json_format import MessageToDict, ParseError  # type: ignore[import-untyped,unused-ignore]
from vertexai.generative_models import Content, FunctionDeclaration, Tool, ToolConfig

from ..errors import ConfigurationError
from ..modes import Mode
from ..toolset import ToolSet
from .base import aclosing_stream, closing_stream, settled
from .gemini_common import (
    GeminiAdapter,
    declarations,
    first_candidate,
    parts_of,
    split_messages,
    whole,
)
from .registry import construct, require

_OWN = {"contents", "tools", "stream"}


class VertexAI(GeminiAdapter):
    """`model.generate_content` (or `generate_content_async`) on the bound `GenerativeModel`,
    with one function declaration per response_model member and mode ANY by default.

    A system message becomes the model's system instruction for that request (the SDK
    takes it only in the `GenerativeModel` constructor, so a copy carries it)."""

    mode = Mode.VERTEXAI_PARALLEL_TOOLS
    method = "generate_content"
    send_ids = False  # Vertex AI rejects `id` in function_call/function_response

    def __init__(self, client: Any, *, model: str | None = None) -> None:
        super().__init__(client, model=model)
        if self.arguments is not None:  # less what polycall sets; plus the system prompt
            self.arguments = self.arguments - _OWN | {"system_instruction"}
        self._with_system: dict[str, Any] = {}
        self._lock = threading.Lock()

    def secrets(self) -> list[Any]:
        from google.cloud.aiplatform import initializer  # the credentials vertexai.init() set

        config = initializer.global_config  # the sync transports', then the async REST one's
        return [getattr(getattr(config, name, None), "token", None)
                for name in ("_credentials", "_async_rest_credentials")]

    def prepare(self, tools: ToolSet, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(kwargs)
        if "model" in kwargs:
            raise ConfigurationError(
                "from_vertexai() clients take no model=; the model is the GenerativeModel's"
            )
        if "tools" in kwargs:
            raise ConfigurationError("tools come from response_model; do not pass tools= as well")
        system, contents = split_messages(kwargs)
        if system is not None and kwargs.get("system_instruction"):
            raise ConfigurationError("give the system prompt once: a system message or system_instruction")
        self.check(kwargs, "from_vertexai() create()")
        request: dict[str, Any] = {
            **kwargs,
            "contents": [self._content(c, i) for i, c in enumerate(contents)],
            "tools": tools.dialect(_tools),
        }
        if not request.get("tool_config") and not getattr(self.client, "_tool_config", None):
            request["tool_config"] = tools.dialect(_tool_config)
        if system is not None:
            request["system_instruction"] = system
        return request

    def relax(self, tools: ToolSet, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("tool_config") is not tools.dialect(_tool_config):
            return request
        return {key: value for key, value in request.items() if key != "tool_config"}

    def system_prompt(self, request: Mapping[str, Any]) -> Any:
        """The request's own (from a system message), else the `GenerativeModel`'s."""
        return request.get("system_instruction") or getattr(self.client, "_system_instruction", None)

    def send(self, request: dict[str, Any]) -> Any:
        model, kwargs = self._bound(request, "_prediction_client")
        return model.generate_content(**kwargs)

    async def asend(self, request: dict[str, Any]) -> Any:
        model, kwargs = self._bound(request, "_prediction_async_client")
        return await model.generate_content_async(**kwargs)

    def stream(self, request: dict[str, Any]) -> AbstractContextManager[Iterator[Any]]:
        return _closing(closing_stream(lambda: self.send({**request, "stream": True})))

    def astream(self, request: dict[str, Any]) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        return _aclosing(lambda: self.asend({**request, "stream": True}))

    def close(self) -> None:
        """The transport of the model's sync SDK client, if it made one (a `GenerativeModel`
        has no `close()`; it makes its clients on first use)."""
        client = vars(self.client).get("_prediction_client")
        if client is not None:
            client.transport.close()

    async def aclose(self) -> None:
        """Both of the model's SDK clients it made (its async one's aiohttp session too)."""
        self.close()
        client = vars(self.client).get("_prediction_async_client")
        await settled(client.transport.close() if client is not None else None)  # aiohttp, gRPC asyncio

    def response_dict(self, raw: Any) -> dict[str, Any]:
        data: dict[str, Any] = _to_dict(raw)
        for part in parts_of(data):
            call = part.get("function_call")
            if call and "args" in call:
                call["args"] = _whole_numbers(call["args"])
        candidate = first_candidate(data)
        reason = candidate.get("finish_reason")
        if isinstance(reason, int):  # a reason this SDK version has no name for
            candidate["finish_reason"] = f"FINISH_REASON_{reason}"
        return data

    def native_content(self, content: Mapping[str, Any]) -> Any:
        return Content.from_dict(dict(content))

    def _bound(self, request: dict[str, Any], transport: str) -> tuple[Any, dict[str, Any]]:
        """The model to call (a copy carrying the system instruction, if any) and its kwargs.

        A copy uses the user's model's own SDK client (`transport`, a cached property), so
        it opens no connections of its own that closing the user's model would not close."""
        kwargs = dict(request)
        system = kwargs.pop("system_instruction", None)
        if system is None:
            return self.client, kwargs
        key = system if isinstance(system, str) else repr(system)
        with self._lock:
            model = self._with_system.get(key)
            if model is None:
                if len(self._with_system) >= 64:
                    self._with_system.clear()
                model = copy.copy(self.client)
                model._system_instruction = system
                self._with_system[key] = model
            if transport not in vars(model):
                vars(model)[transport] = getattr(self.client, transport)
        return model, kwargs

    def _content(self, content: Any, index: int) -> Any:
        if isinstance(content, Content):
            return content
        if isinstance(content, Mapping):
            return _parsed(content, index)
        to_dict = getattr(type(content), "to_dict", None)
        if type(content).__name__ == "Content" and to_dict is not None:  # a GAPIC Content
            return _parsed(to_dict(content), index)
        raise ConfigurationError(
            f"messages[{index}]: expected a dict or vertexai.generative_models.Content, "
            f"got {type(content).__module__}.{type(content).__name__}"
        )


@contextmanager
def _closing(opened: AbstractContextManager[Iterator[Any]]) -> Iterator[Iterator[Any]]:
    """The SDK's stream, closed on exit with the HTTP response under it.

    The SDK streams through a generator that keeps the transport's response iterator in its
    frame, as `response_stream`, and never closes it: closing the generator alone leaves the
    response (and its socket) open until garbage collection when the consumer stops early.
    Its `cancel()` closes the response (and is harmless once the stream was read to the end)."""
    with opened as stream:
        try:
            yield stream
        finally:
            cancel = getattr(_response_stream(stream), "cancel", None)  # None if it ended
            if cancel is not None:
                cancel()


class _aclosing(aclosing_stream):
    """Async `_closing`: the async generator holds `response_stream` in its closure, so it
    is found before the stream is read (on exit the generator may already have ended: a
    pending read cancelled by a tool loop ends it). A class, not a generator: asyncio,
    closing the generators a program left open as it shuts down, cannot close it before
    the driver reading it."""

    async def __aenter__(self) -> Any:
        stream = await super().__aenter__()
        self.response = _response_stream(stream)
        return stream

    async def __aexit__(self, *exc: object) -> None:
        try:
            cancel = getattr(self.response, "cancel", None)
            if cancel is not None:
                await settled(cancel())
        finally:
            await super().__aexit__(*exc)


def _response_stream(stream: Any) -> Any:
    """The transport's response iterator the SDK's (async) generator reads, if it opened one."""
    frame = getattr(stream, "gi_frame", None) or getattr(stream, "ag_frame", None)
    return None if frame is None else frame.f_locals.get("response_stream")


def _to_dict(response: Any) -> dict[str, Any]:
    """A `GenerationResponse` as a snake_case dict (through protobuf directly: the SDK's
    own `to_dict()` warns about a protobuf argument on every call)."""
    message = getattr(response, "_raw_response", None)
    if message is None:
        return dict(response.to_dict())
    data: dict[str, Any] = MessageToDict(type(message).pb(message), preserving_proto_field_name=True)
    return data


def _parsed(content: Mapping[str, Any], index: int) -> Any:
    try:
        return Content.from_dict(dict(content))
    except (ParseError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"messages[{index}] is not a valid Vertex AI Content: {exc}") from None


def _whole_numbers(value: Any) -> Any:
    """Arguments as the model wrote them: protobuf's Struct makes every number a float."""
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return whole(value)


def _tools(tools: ToolSet) -> list[Any]:
    functions = [
        FunctionDeclaration(
            name=d["name"],
            description=d.get("description"),
            parameters=d.get("parameters", {"type": "OBJECT", "properties": {}}),
        )
        for d in declarations(tools)
    ]
    return [Tool(function_declarations=functions)]


def _tool_config(tools: ToolSet) -> Any:
    calling = ToolConfig.FunctionCallingConfig
    return ToolConfig(
        function_calling_config=calling(mode=calling.Mode.ANY, allowed_function_names=tools.names)
    )


def build_client(
    spec: str, name: str, model: str, async_client: bool, client_kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """`from_provider`: a `GenerativeModel` for `model` (project and credentials from the
    environment, as `vertexai.init` leaves them)."""
    kwargs = {"model_name": model, **client_kwargs}
    sdk = construct(spec, require("vertexai.generative_models"), "GenerativeModel", kwargs)
    return sdk, {"use_async": async_client}
