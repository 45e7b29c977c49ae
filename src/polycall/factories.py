"""`from_openai`, `from_anthropic`, `from_genai`, `from_vertexai`, `from_provider`."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, overload

from .client import AsyncClient, Client
from .errors import ConfigurationError
from .limits import Limits
from .modes import Mode
from .providers.base import Adapter

if TYPE_CHECKING:  # the SDKs' classes, for the overloads: which client comes back
    import anthropic
    import openai
    from google import genai
    from google.genai.client import AsyncClient as GenAIAsyncClient
    from vertexai.generative_models import GenerativeModel

_EXTRAS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google.genai": "google",
    "vertexai": "vertexai",
}


def require(module: str) -> ModuleType:
    """Import an SDK, or say which polycall extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRAS.get(module) or _EXTRAS.get(module.split(".")[0], module)
        raise ConfigurationError(
            f"this client needs the {module!r} package: pip install \"polycall[{extra}]\""
        ) from exc


def _client(adapter: Adapter, is_async: bool, limits: Limits | None) -> Any:
    return (AsyncClient if is_async else Client)(adapter, limits=limits)


def _check_mode(mode: Mode, allowed: dict[Mode, str], factory: str) -> type[Adapter]:
    """The adapter class for `mode` ("module:Class" under polycall.providers), imported lazily."""
    try:
        module, name = allowed[Mode(mode)].split(":")
    except (KeyError, ValueError):
        names = ", ".join(f"Mode.{m.name}" for m in allowed)
        raise ConfigurationError(f"{factory}() does not support mode {mode!r}; use {names}") from None
    adapter: type[Adapter] = getattr(importlib.import_module(f"polycall.providers.{module}"), name)
    return adapter


def _check_client(client: Any, classes: tuple[type, ...], factory: str) -> None:
    if not isinstance(client, classes):
        names = " or ".join(c.__module__.split(".")[0] + "." + c.__name__ for c in classes)
        raise ConfigurationError(f"{factory}() takes {names}, got {type(client).__name__}")


@overload
def from_openai(
    client: openai.OpenAI, mode: Mode = ..., *, model: str | None = ..., limits: Limits | None = ...
) -> Client: ...
@overload
def from_openai(
    client: openai.AsyncOpenAI, mode: Mode = ..., *, model: str | None = ..., limits: Limits | None = ...
) -> AsyncClient: ...
def from_openai(
    client: Any,
    mode: Mode = Mode.PARALLEL_TOOLS,
    *,
    model: str | None = None,
    limits: Limits | None = None,
) -> Any:
    """Wrap `openai.OpenAI` / `AsyncOpenAI`: also their subclasses (`AzureOpenAI`...), the
    clients built with `provider=` and any OpenAI-compatible server via `base_url`."""
    openai = require("openai")
    adapter = _check_mode(
        mode,
        {
            Mode.PARALLEL_TOOLS: "openai_chat:OpenAIChat",
            Mode.RESPONSES_PARALLEL_TOOLS: "openai_responses:OpenAIResponses",
        },
        "from_openai",
    )
    _check_client(client, (openai.OpenAI, openai.AsyncOpenAI), "from_openai")
    return _client(adapter(client, model=model), isinstance(client, openai.AsyncOpenAI), limits)


@overload
def from_anthropic(
    client: anthropic.Anthropic, mode: Mode = ..., *, model: str | None = ..., limits: Limits | None = ...
) -> Client: ...
@overload
def from_anthropic(
    client: anthropic.AnthropicVertex,
    mode: Mode = ...,
    *,
    model: str | None = ...,
    limits: Limits | None = ...,
) -> Client: ...
@overload
def from_anthropic(
    client: anthropic.AsyncAnthropic | anthropic.AsyncAnthropicVertex,
    mode: Mode = ...,
    *,
    model: str | None = ...,
    limits: Limits | None = ...,
) -> AsyncClient: ...
def from_anthropic(
    client: Any,
    mode: Mode = Mode.ANTHROPIC_PARALLEL_TOOLS,
    *,
    model: str | None = None,
    limits: Limits | None = None,
) -> Any:
    """Wrap `anthropic.Anthropic` / `AsyncAnthropic`, or Claude on a cloud: `AnthropicVertex`,
    `AnthropicFoundry` (a subclass of `Anthropic`) and their async clients."""
    anthropic = require("anthropic")
    adapter = _check_mode(
        mode, {Mode.ANTHROPIC_PARALLEL_TOOLS: "anthropic:AnthropicMessages"}, "from_anthropic"
    )
    sync = (anthropic.Anthropic, anthropic.AnthropicVertex)
    is_async = (anthropic.AsyncAnthropic, anthropic.AsyncAnthropicVertex)
    _check_client(client, sync + is_async, "from_anthropic")
    return _client(adapter(client, model=model), isinstance(client, is_async), limits)


@overload
def from_genai(
    client: genai.Client,
    mode: Mode = ...,
    *,
    model: str | None = ...,
    use_async: Literal[False] = ...,
    limits: Limits | None = ...,
) -> Client: ...
@overload
def from_genai(
    client: genai.Client,
    mode: Mode = ...,
    *,
    model: str | None = ...,
    use_async: Literal[True],
    limits: Limits | None = ...,
) -> AsyncClient: ...
@overload
def from_genai(
    client: genai.Client,
    mode: Mode = ...,
    *,
    model: str | None = ...,
    use_async: bool,
    limits: Limits | None = ...,
) -> Client | AsyncClient: ...
@overload
def from_genai(
    client: GenAIAsyncClient,
    mode: Mode = ...,
    *,
    model: str | None = ...,
    use_async: bool = ...,
    limits: Limits | None = ...,
) -> AsyncClient: ...
def from_genai(
    client: Any,
    mode: Mode = Mode.GENAI_PARALLEL_TOOLS,
    *,
    model: str | None = None,
    use_async: bool = False,
    limits: Limits | None = None,
) -> Any:
    """Wrap `google.genai.Client` (Gemini API or Vertex AI); `use_async=True` (or passing
    `client.aio`) gives an async client."""
    genai = require("google.genai")
    adapter = _check_mode(mode, {Mode.GENAI_PARALLEL_TOOLS: "google_genai:GoogleGenAI"}, "from_genai")
    from google.genai.client import AsyncClient as GenAIAsync

    if isinstance(client, GenAIAsync):
        return _client(adapter(client, model=model), True, limits)
    _check_client(client, (genai.Client,), "from_genai")
    return _client(adapter(client, model=model), use_async, limits)


@overload
def from_vertexai(
    client: GenerativeModel,
    mode: Mode = ...,
    *,
    use_async: Literal[False] = ...,
    limits: Limits | None = ...,
) -> Client: ...
@overload
def from_vertexai(
    client: GenerativeModel, mode: Mode = ..., *, use_async: Literal[True], limits: Limits | None = ...
) -> AsyncClient: ...
@overload
def from_vertexai(
    client: GenerativeModel, mode: Mode = ..., *, use_async: bool, limits: Limits | None = ...
) -> Client | AsyncClient: ...
def from_vertexai(
    client: Any,
    mode: Mode = Mode.VERTEXAI_PARALLEL_TOOLS,
    *,
    use_async: bool = False,
    limits: Limits | None = None,
) -> Any:
    """Wrap `vertexai.generative_models.GenerativeModel`; `use_async=True` gives an async client."""
    generative_models = require("vertexai.generative_models")
    adapter = _check_mode(mode, {Mode.VERTEXAI_PARALLEL_TOOLS: "vertexai:VertexAI"}, "from_vertexai")
    _check_client(client, (generative_models.GenerativeModel,), "from_vertexai")
    return _client(adapter(client), use_async, limits)


#: provider -> (SDK family, for OpenAI-compatible servers: (default base URL, API key variable)).
_PROVIDERS: dict[str, tuple[str, tuple[str, str | None] | None]] = {
    "openai": ("openai", None),
    "azure": ("azure", None),
    "anthropic": ("anthropic", None),
    "google": ("google", None),
    "genai": ("google", None),
    "gemini": ("google", None),
    "vertexai": ("vertexai", None),
    "groq": ("openai", ("https://api.groq.com/openai/v1", "GROQ_API_KEY")),
    "deepseek": ("openai", ("https://api.deepseek.com", "DEEPSEEK_API_KEY")),
    "mistral": ("openai", ("https://api.mistral.ai/v1", "MISTRAL_API_KEY")),
    "together": ("openai", ("https://api.together.xyz/v1", "TOGETHER_API_KEY")),
    "openrouter": ("openai", ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY")),
    "ollama": ("openai", ("http://localhost:11434/v1", None)),
}


@overload
def from_provider(
    spec: str,
    *,
    async_client: Literal[False] = ...,
    mode: Mode | None = ...,
    limits: Limits | None = ...,
    **client_kwargs: Any,
) -> Client: ...
@overload
def from_provider(
    spec: str,
    *,
    async_client: Literal[True],
    mode: Mode | None = ...,
    limits: Limits | None = ...,
    **client_kwargs: Any,
) -> AsyncClient: ...
def from_provider(
    spec: str,
    *,
    async_client: bool = False,
    mode: Mode | None = None,
    limits: Limits | None = None,
    **client_kwargs: Any,
) -> Any:
    """A client from `"provider/model"`, with the SDK client built from the environment.

    Providers: openai, azure, anthropic, google (also genai, gemini: google-genai), vertexai,
    groq, deepseek, mistral, together, openrouter, ollama. The model is bound, so calls need
    no `model=`. OpenAI-compatible servers read `<PROVIDER>_BASE_URL` (else their public
    address) and `<PROVIDER>_API_KEY`; `client_kwargs` go to the SDK client's constructor.
    """
    provider, sep, model = spec.partition("/")
    if not sep or not model or provider not in _PROVIDERS:
        raise ConfigurationError(
            f"from_provider() takes 'provider/model' with provider one of "
            f"{', '.join(sorted(_PROVIDERS))}; got {spec!r}"
        )
    family, server = _PROVIDERS[provider]
    prefix = "Async" if async_client else ""
    if family in ("openai", "azure"):
        openai = require("openai")
        kwargs = _server_kwargs(spec, provider, server, client_kwargs)
        name = f"{prefix}AzureOpenAI" if family == "azure" else f"{prefix}OpenAI"
        sdk = _build(spec, openai, name, kwargs)
        return from_openai(sdk, mode or Mode.PARALLEL_TOOLS, model=model, limits=limits)
    if family == "anthropic":
        sdk = _build(spec, require("anthropic"), f"{prefix}Anthropic", client_kwargs)
        mode = mode or Mode.ANTHROPIC_PARALLEL_TOOLS
        return from_anthropic(sdk, mode, model=model, limits=limits)
    if family == "google":
        sdk = _build(spec, require("google.genai"), "Client", client_kwargs)
        return from_genai(
            sdk, mode or Mode.GENAI_PARALLEL_TOOLS, model=model, use_async=async_client, limits=limits
        )
    generative_models = require("vertexai.generative_models")
    sdk = _build(spec, generative_models, "GenerativeModel", {"model_name": model, **client_kwargs})
    mode = mode or Mode.VERTEXAI_PARALLEL_TOOLS
    return from_vertexai(sdk, mode, use_async=async_client, limits=limits)


def _server_kwargs(
    spec: str, provider: str, server: tuple[str, str | None] | None, client_kwargs: dict[str, Any]
) -> dict[str, Any]:
    """An OpenAI-compatible server's address and key, from the environment unless given."""
    kwargs = dict(client_kwargs)
    if server is None:
        return kwargs
    base_url, key_variable = server
    kwargs.setdefault("base_url", os.environ.get(f"{provider.upper()}_BASE_URL") or base_url)
    if key_variable is None:
        kwargs.setdefault("api_key", provider)  # a local server: any key will do
    elif "api_key" not in kwargs:
        if not os.environ.get(key_variable):
            raise ConfigurationError(
                f"from_provider({spec!r}) needs an API key: set {key_variable} or pass api_key="
            )
        kwargs["api_key"] = os.environ[key_variable]
    return kwargs


def _build(spec: str, sdk: ModuleType, name: str, kwargs: dict[str, Any]) -> Any:
    """`sdk.name(**kwargs)`; what the SDK raises (no key, no project...) as a ConfigurationError."""
    try:
        return getattr(sdk, name)(**kwargs)
    except Exception as exc:
        raise ConfigurationError(
            f"from_provider({spec!r}) could not build {sdk.__name__}.{name}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
