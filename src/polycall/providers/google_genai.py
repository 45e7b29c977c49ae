"""google-genai (`google.genai.Client`, Gemini API or Vertex AI): `Mode.GENAI_PARALLEL_TOOLS`."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

import pydantic
from google.genai import types

from ..calls import describe_error
from ..errors import ConfigurationError
from ..modes import Mode
from ..toolset import ToolSet
from .base import aclosing_stream, check_arguments, closing_stream, settled
from .gemini_common import GeminiAdapter, declarations, split_messages
from .registry import construct, require

_CONFIG_FIELDS = frozenset(types.GenerateContentConfig.model_fields)
#: The config's fields by their camelCase names, which the SDK takes in a dict too.
_BY_ALIAS: dict[str, str] = {
    alias: name
    for name, field in types.GenerateContentConfig.model_fields.items()
    if (alias := field.alias) is not None
}
_RESPONSE_FIELDS = {
    "candidates", "prompt_feedback", "usage_metadata", "response_id", "model_version"
}


class GoogleGenAI(GeminiAdapter):
    """`client.models.generate_content` with one function declaration per response_model
    member and function calling mode ANY (restricted to those functions) by default."""

    mode = Mode.GENAI_PARALLEL_TOOLS

    def __init__(self, client: Any, *, model: str | None = None) -> None:
        super().__init__(client, model=model)
        api_client = getattr(client, "_api_client", None)
        vertex = getattr(client, "vertexai", None) or getattr(api_client, "vertexai", False)
        self.send_ids = not vertex  # Vertex AI rejects `id` in function_call/function_response

    def secrets(self) -> list[Any]:
        api_client = getattr(self.client, "_api_client", None)
        credentials = getattr(api_client, "_credentials", None)
        return [getattr(api_client, "api_key", None), getattr(credentials, "token", None)]

    def prepare(self, tools: ToolSet, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(kwargs)
        model = kwargs.pop("model", None) or self.model
        if not model:
            raise ConfigurationError("from_genai() clients need model=, per call or in from_genai(model=...)")
        system, contents = split_messages(kwargs)
        config = _config_fields(kwargs.pop("config", None), "config")
        for key, value in _config_fields(kwargs.pop("generation_config", None), "generation_config").items():
            config.setdefault(key, value)
        check_arguments(
            kwargs, _CONFIG_FIELDS, "from_genai() create()",
            "pass model, messages and GenerateContentConfig fields (or config=)",
        )
        config.update(kwargs)
        if config.get("tools") is not None:  # an empty list too: the tools are polycall's
            raise ConfigurationError("tools come from response_model; do not pass tools as well")
        if system is not None:
            if config.get("system_instruction"):
                raise ConfigurationError("give the system prompt once: a system message or system_instruction")
            config["system_instruction"] = system
        config["tools"] = tools.dialect(_tools)
        if not config.get("tool_config"):
            config["tool_config"] = tools.dialect(_tool_config)
        config.setdefault("automatic_function_calling", _NO_AUTOMATIC_CALLS)
        return {
            "model": model,
            "contents": [self._content(c, i) for i, c in enumerate(contents)],
            "config": _config(config),
        }

    def relax(self, tools: ToolSet, request: dict[str, Any]) -> dict[str, Any]:
        config = request["config"]
        if config.tool_config is not tools.dialect(_tool_config):
            return request
        return {**request, "config": config.model_copy(update={"tool_config": None})}

    def system_prompt(self, request: Mapping[str, Any]) -> Any:
        return request["config"].system_instruction

    async def aclose(self) -> None:
        """The async side (`client.aio`, or the `AsyncClient` given), then a `Client`'s sync side."""
        await self._aio.aclose()
        if self._aio is not self.client:
            self.client.close()

    def send(self, request: dict[str, Any]) -> Any:
        return self.client.models.generate_content(**request)

    async def asend(self, request: dict[str, Any]) -> Any:
        return await self._aio.models.generate_content(**request)

    def stream(self, request: dict[str, Any]) -> AbstractContextManager[Iterator[Any]]:
        return closing_stream(lambda: self.client.models.generate_content_stream(**request))

    def astream(self, request: dict[str, Any]) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        return _aclosing(lambda: self._aio.models.generate_content_stream(**request))

    def response_dict(self, raw: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = raw.model_dump(exclude_none=True, include=_RESPONSE_FIELDS)
        return dumped

    def native_content(self, content: Mapping[str, Any]) -> Any:
        return types.Content.model_validate(content)

    @property
    def _aio(self) -> Any:
        """The async side of the client (`client.aio`), or the client if it is already async."""
        return getattr(self.client, "aio", self.client)

    def _content(self, content: Any, index: int) -> Any:
        if isinstance(content, types.Content):
            return content
        if isinstance(content, Mapping):
            try:
                return types.Content.model_validate(content)
            except ValueError as exc:
                raise ConfigurationError(f"messages[{index}] is not a valid Gemini content: {exc}") from None
        raise ConfigurationError(
            f"messages[{index}]: expected a dict or google.genai.types.Content, got {type(content).__name__}"
        )


_NO_AUTOMATIC_CALLS = types.AutomaticFunctionCallingConfig(disable=True)


class _aclosing(aclosing_stream):
    """The SDK's async stream, closed on exit with the HTTP response under it.

    google-genai reads the response through async generators nested in one another (how
    many, and their names, differ between releases), and closing the outermost one leaves
    those inside it suspended: a stream stopped early would keep its response (and socket)
    until garbage collection. So on exit the response is found through their frames and
    closed too. A stream read to the end, or ended by an error, has none left open."""

    async def __aexit__(self, *exc: object) -> None:
        responses = _open_responses(self.stream)
        try:
            await super().__aexit__(*exc)
        finally:
            for response in responses:  # aiohttp's `close()`; httpx's `aclose()`, awaited
                await settled((getattr(response, "aclose", None) or response.close)())


def _open_responses(stream: Any) -> list[Any]:
    """The transport responses (`response_stream` of google-genai's `HttpResponse`) that the
    suspended async generators under `stream` read."""
    found: list[Any] = []
    pending, seen = [stream], set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        frame = getattr(item, "ag_frame", None)  # None once a generator has ended
        if frame is None:
            continue
        for value in frame.f_locals.values():  # its closure's variables too
            if inspect.isasyncgen(value):
                pending.append(value)
            elif (response := getattr(value, "response_stream", None)) is not None and (
                hasattr(response, "aclose") or hasattr(response, "close")
            ):
                found.append(response)
    return found


def _config_fields(config: Any, argument: str) -> dict[str, Any]:
    """The fields the user set on a `GenerateContentConfig` (object or dict; a dict's keys in
    snake_case or camelCase, as the SDK takes them), by their snake_case names."""
    if config is None:
        return {}
    if isinstance(config, types.GenerateContentConfig):
        return {name: getattr(config, name) for name in config.model_fields_set}
    if isinstance(config, Mapping):
        return {_BY_ALIAS.get(str(key), str(key)): value for key, value in config.items()}
    raise ConfigurationError(
        f"{argument}= must be a GenerateContentConfig or a dict, got {type(config).__name__}"
    )


def _tools(tools: ToolSet) -> list[Any]:
    return [types.Tool(function_declarations=[types.FunctionDeclaration(**d) for d in declarations(tools)])]


def _tool_config(tools: ToolSet) -> Any:
    return types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=tools.names
        )
    )


def build_client(
    spec: str, name: str, model: str, async_client: bool, client_kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """`from_provider`: a `google.genai.Client` configured from the environment."""
    sdk = construct(spec, require("google.genai"), "Client", client_kwargs)
    return sdk, {"model": model, "use_async": async_client}


def _config(fields: dict[str, Any]) -> Any:
    """The request's `GenerateContentConfig`; a field it refuses is a `ConfigurationError`."""
    try:
        return types.GenerateContentConfig(**fields)
    except pydantic.ValidationError as exc:
        wrong = "; ".join(map(describe_error, exc.errors()))
        raise ConfigurationError(f"the GenerateContentConfig fields given are not valid: {wrong}") from None
