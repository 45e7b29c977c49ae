"""`from_openai`, `from_anthropic`, `from_genai`, `from_vertexai`, `from_provider`."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

from .client import AsyncClient, Client
from .errors import ConfigurationError
from .limits import Limits
from .modes import Mode
from .providers.base import Adapter

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
        extra = _EXTRAS.get(module, module)
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


def from_openai(
    client: Any,
    mode: Mode = Mode.PARALLEL_TOOLS,
    *,
    model: str | None = None,
    limits: Limits | None = None,
) -> Any:
    """Wrap `openai.OpenAI` / `AsyncOpenAI` (or any OpenAI-compatible server via `base_url`)."""
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


def from_anthropic(
    client: Any,
    mode: Mode = Mode.ANTHROPIC_PARALLEL_TOOLS,
    *,
    model: str | None = None,
    limits: Limits | None = None,
) -> Any:
    """Wrap `anthropic.Anthropic` / `AsyncAnthropic`."""
    anthropic = require("anthropic")
    adapter = _check_mode(
        mode, {Mode.ANTHROPIC_PARALLEL_TOOLS: "anthropic:AnthropicMessages"}, "from_anthropic"
    )
    _check_client(client, (anthropic.Anthropic, anthropic.AsyncAnthropic), "from_anthropic")
    return _client(adapter(client, model=model), isinstance(client, anthropic.AsyncAnthropic), limits)


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


_PROVIDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": ("openai", {}),
    "azure": ("openai", {}),
    "anthropic": ("anthropic", {}),
    "google": ("google", {}),
    "genai": ("google", {}),
    "gemini": ("google", {}),
    "vertexai": ("vertexai", {}),
    "groq": ("openai", {"base_url": "https://api.groq.com/openai/v1", "key": "GROQ_API_KEY"}),
    "deepseek": ("openai", {"base_url": "https://api.deepseek.com", "key": "DEEPSEEK_API_KEY"}),
    "mistral": ("openai", {"base_url": "https://api.mistral.ai/v1", "key": "MISTRAL_API_KEY"}),
    "together": ("openai", {"base_url": "https://api.together.xyz/v1", "key": "TOGETHER_API_KEY"}),
    "openrouter": ("openai", {"base_url": "https://openrouter.ai/api/v1", "key": "OPENROUTER_API_KEY"}),
    "ollama": ("openai", {"base_url": "http://localhost:11434/v1", "key": None}),
}


def from_provider(
    spec: str,
    *,
    async_client: bool = False,
    mode: Mode | None = None,
    limits: Limits | None = None,
    **client_kwargs: Any,
) -> Any:
    """A client from `"provider/model"`, with the SDK client built from the environment.

    Providers: openai, azure, anthropic, google (google-genai), vertexai, groq, deepseek,
    mistral, together, openrouter, ollama. `client_kwargs` go to the SDK client's constructor.
    """
    provider, sep, model = spec.partition("/")
    if not sep or not model or provider not in _PROVIDERS:
        raise ConfigurationError(
            f"from_provider() takes 'provider/model' with provider one of "
            f"{', '.join(sorted(_PROVIDERS))}; got {spec!r}"
        )
    family, settings = _PROVIDERS[provider]
    if family == "openai":
        openai = require("openai")
        kwargs = dict(client_kwargs)
        if "base_url" in settings:
            env_base = os.environ.get(f"{provider.upper()}_BASE_URL")
            kwargs.setdefault("base_url", env_base or settings["base_url"])
            key_var = settings["key"]
            kwargs.setdefault("api_key", os.environ.get(key_var, "") if key_var else provider)
        if provider == "azure":
            cls = openai.AsyncAzureOpenAI if async_client else openai.AzureOpenAI
        else:
            cls = openai.AsyncOpenAI if async_client else openai.OpenAI
        return from_openai(cls(**kwargs), mode or Mode.PARALLEL_TOOLS, model=model, limits=limits)
    if family == "anthropic":
        anthropic = require("anthropic")
        cls = anthropic.AsyncAnthropic if async_client else anthropic.Anthropic
        return from_anthropic(cls(**client_kwargs), model=model, limits=limits)
    if family == "google":
        genai = require("google.genai")
        return from_genai(genai.Client(**client_kwargs), model=model, use_async=async_client, limits=limits)
    vertexai = require("vertexai.generative_models")
    return from_vertexai(vertexai.GenerativeModel(model, **client_kwargs), use_async=async_client, limits=limits)
