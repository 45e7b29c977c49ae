"""Every provider polycall speaks, one descriptor each; the rest of polycall looks them up here.

A descriptor names its parts as lazy `"module:attribute"` references, so `import polycall`
imports no adapter and no SDK. Adding a provider: an adapter module under `providers/`, a
fake wire module under `testing/`, a descriptor below, and a public factory in `factories.py`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..modes import Mode

if TYPE_CHECKING:
    from .base import Adapter

#: `from_provider` builds the SDK client: `(spec, name, model, async_client, client_kwargs)` to
#: the SDK client and the keyword arguments for the provider's factory.
Build = Callable[[str, str, str, bool, dict[str, Any]], tuple[Any, dict[str, Any]]]


@dataclass(frozen=True)
class Provider:
    """One provider: its factory, SDK, modes, client classes, batch backend and fake wire."""

    name: str
    factory: str  # the public `polycall.from_*` function
    sdk: str  # the module the SDK is imported as
    extra: str  # `pip install "polycall[extra]"`
    modes: Mapping[Mode, str]  # mode -> adapter "module:Class" under polycall.providers; first is the default
    clients: tuple[str, ...]  # sync SDK client classes, "module:Class"
    async_clients: tuple[str, ...] = ()  # async SDK client classes, "module:Class"
    batch: str | None = None  # the Batch API backend, "module:Class" under polycall.batch
    build: str = ""  # the `from_provider` builder, "module:function" under polycall.providers
    names: tuple[str, ...] = ()  # the `from_provider("name/model")` prefixes it serves
    wires: Mapping[Mode, str] = field(default_factory=dict)  # mode -> module under polycall.testing
    otel: str = ""  # its `gen_ai.provider.name` in the OpenTelemetry GenAI conventions
    #: SDK client "module:Class" (or "module:Class:attribute.path", for a client whose
    #: attribute is true) -> the `gen_ai.provider.name` of the cloud that client calls instead
    otel_clients: Mapping[str, str] = field(default_factory=dict)

    @property
    def default_mode(self) -> Mode:
        return next(iter(self.modes))

    def adapter(self, mode: Mode) -> type[Adapter]:
        """The adapter class for `mode`, imported now; a `ConfigurationError` for another mode."""
        try:
            reference = self.modes[Mode(mode)]
        except (KeyError, ValueError):
            names = ", ".join(f"Mode.{m.name}" for m in self.modes)
            raise ConfigurationError(
                f"{self.factory}() does not support mode {mode!r}; use {names}"
            ) from None
        adapter: type[Adapter] = load(f"polycall.providers.{reference}")
        return adapter

    def is_async(self, client: Any) -> bool:
        """Whether `client` is one of the async SDK clients (else it must be a sync one)."""
        sync, asynchronous = _classes(self.clients), _classes(self.async_clients)
        if isinstance(client, asynchronous):
            return True
        if isinstance(client, sync):
            return False
        names = " or ".join(
            reference.replace(":", ".")
            for reference in (*self.clients, *self.async_clients)
            if _classes((reference,))
        )
        raise ConfigurationError(f"{self.factory}() takes {names}, got {_qualified(type(client))}")

    def otel_name(self, client: Any) -> str:
        """The `gen_ai.provider.name` of the API `client` calls."""
        for reference, name in self.otel_clients.items():
            module, _, rest = reference.partition(":")
            cls, _, flag = rest.partition(":")
            if isinstance(client, _classes((f"{module}:{cls}",))) and _flag(client, flag):
                return name
        return self.otel or self.name

    def builder(self) -> Build:
        builder: Build = load(f"polycall.providers.{self.build}")
        return builder


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        name="openai",
        factory="from_openai",
        sdk="openai",
        extra="openai",
        modes={
            Mode.PARALLEL_TOOLS: "openai_chat:OpenAIChat",
            Mode.RESPONSES_PARALLEL_TOOLS: "openai_responses:OpenAIResponses",
        },
        clients=("openai:OpenAI",),
        async_clients=("openai:AsyncOpenAI",),
        batch="openai_batch:OpenAIBatch",
        build="openai_common:build_client",
        names=("openai", "azure", "groq", "deepseek", "mistral", "together", "openrouter", "ollama"),
        wires={Mode.PARALLEL_TOOLS: "openai", Mode.RESPONSES_PARALLEL_TOOLS: "openai_responses"},
        otel="openai",
        otel_clients={
            "openai:AzureOpenAI": "azure.ai.openai",
            "openai:AsyncAzureOpenAI": "azure.ai.openai",
        },
    ),
    Provider(
        name="anthropic",
        factory="from_anthropic",
        sdk="anthropic",
        extra="anthropic",
        modes={Mode.ANTHROPIC_PARALLEL_TOOLS: "anthropic:AnthropicMessages"},
        clients=("anthropic:Anthropic", "anthropic:AnthropicBedrock", "anthropic:AnthropicVertex"),
        async_clients=(
            "anthropic:AsyncAnthropic",
            "anthropic:AsyncAnthropicBedrock",
            "anthropic:AsyncAnthropicVertex",
        ),  # AnthropicFoundry is an Anthropic
        batch="anthropic_batch:AnthropicBatch",
        build="anthropic:build_client",
        names=("anthropic",),
        wires={Mode.ANTHROPIC_PARALLEL_TOOLS: "anthropic"},
        otel="anthropic",
        otel_clients={
            "anthropic:AnthropicBedrock": "aws.bedrock",
            "anthropic:AsyncAnthropicBedrock": "aws.bedrock",
            "anthropic:AnthropicVertex": "gcp.vertex_ai",
            "anthropic:AsyncAnthropicVertex": "gcp.vertex_ai",
        },
    ),
    Provider(
        name="genai",
        factory="from_genai",
        sdk="google.genai",
        extra="google",
        modes={Mode.GENAI_PARALLEL_TOOLS: "google_genai:GoogleGenAI"},
        clients=("google.genai:Client",),
        async_clients=("google.genai.client:AsyncClient",),
        batch="gemini_batch:GeminiBatch",
        build="google_genai:build_client",
        names=("google", "genai", "gemini"),
        wires={Mode.GENAI_PARALLEL_TOOLS: "gemini"},
        otel="gcp.gemini",
        otel_clients={
            "google.genai:Client:vertexai": "gcp.vertex_ai",
            "google.genai.client:AsyncClient:_api_client.vertexai": "gcp.vertex_ai",
        },
    ),
    Provider(
        name="vertexai",
        factory="from_vertexai",
        sdk="vertexai.generative_models",
        extra="vertexai",
        modes={Mode.VERTEXAI_PARALLEL_TOOLS: "vertexai:VertexAI"},
        clients=("vertexai.generative_models:GenerativeModel",),
        build="vertexai:build_client",
        names=("vertexai",),
        wires={Mode.VERTEXAI_PARALLEL_TOOLS: "gemini"},
        otel="gcp.vertex_ai",
    ),
    Provider(
        name="bedrock",
        factory="from_bedrock",
        sdk="botocore",
        extra="bedrock",
        modes={Mode.BEDROCK_PARALLEL_TOOLS: "bedrock:BedrockConverse"},
        clients=("botocore.client:BaseClient",),
        async_clients=("aiobotocore.client:AioBaseClient",),  # extra bedrock-async
        build="bedrock:build_client",
        names=("bedrock",),
        wires={Mode.BEDROCK_PARALLEL_TOOLS: "bedrock"},
        otel="aws.bedrock",
    ),
)


def provider(name: str) -> Provider:
    """The descriptor called `name`."""
    return next(p for p in PROVIDERS if p.name == name)


def for_mode(mode: Mode) -> Provider:
    """The provider whose API `mode` speaks."""
    return next(p for p in PROVIDERS if mode in p.modes)


def for_spec(spec: str) -> tuple[Provider, str, str]:
    """`(provider, name, model)` for a `from_provider("name/model")` spec."""
    name, sep, model = spec.partition("/") if isinstance(spec, str) else ("", "", "")
    found = next((p for p in PROVIDERS if name in p.names), None)
    if not sep or not model or found is None:
        names = ", ".join(sorted(n for p in PROVIDERS for n in p.names))
        raise ConfigurationError(
            f"from_provider() takes 'provider/model' with provider one of {names}; got {spec!r}"
        )
    return found, name, model


def require(module: str) -> ModuleType:
    """Import an SDK, or say which polycall extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = next((p.extra for p in PROVIDERS if module.startswith(p.sdk.split(".")[0])), module)
        raise ConfigurationError(
            f"this client needs the {module!r} package: pip install \"polycall[{extra}]\""
        ) from exc


def construct(spec: str, sdk: ModuleType, name: str, kwargs: dict[str, Any]) -> Any:
    """`sdk.name(**kwargs)` for `from_provider(spec)`; what the SDK raises (no key, no
    project...) as a `ConfigurationError`."""
    try:
        return getattr(sdk, name)(**kwargs)
    except Exception as exc:
        raise ConfigurationError(
            f"from_provider({spec!r}) could not build {sdk.__name__}.{name}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def load(reference: str) -> Any:
    """The attribute a `"package.module:attribute"` reference names, imported now."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _classes(references: tuple[str, ...]) -> tuple[type, ...]:
    """The SDK classes named; those an older SDK release (or an SDK not installed) lacks are
    left out."""
    found = []
    for reference in references:
        module, _, name = reference.partition(":")
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def _qualified(cls: type) -> str:
    """A class by its module and name (a builtin by its name): two SDK classes of one name,
    such as Vertex AI's `GenerativeModel` and its preview's, stay apart."""
    name = cls.__qualname__
    return name if cls.__module__ == "builtins" else f"{cls.__module__}.{name}"


def _flag(client: Any, path: str) -> bool:
    """Whether the attribute `path` ("a.b") of `client` is true; an empty path always is."""
    value = client
    for name in path.split(".") if path else ():
        value = getattr(value, name, None)
    return bool(value)
