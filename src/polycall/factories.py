"""`from_openai`, `from_anthropic`, `from_genai`, `from_vertexai`, `from_bedrock`, `from_provider`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

from .client import AsyncClient, Client
from .errors import ConfigurationError
from .limits import Limits
from .modes import Mode
from .providers import registry

if TYPE_CHECKING:  # the SDKs' classes, for the overloads: which client comes back
    import anthropic
    import openai
    from google import genai
    from google.genai.client import AsyncClient as GenAIAsyncClient
    from vertexai.generative_models import GenerativeModel


def _wrap(
    name: str, client: Any, mode: Mode, *, model: str | None, limits: Limits | None,
    use_async: bool = False,
) -> Any:
    """A polycall client over `client` for provider `name` in `mode`."""
    use_async = _flag("use_async", use_async)
    provider = registry.provider(name)
    registry.require(provider.sdk)
    adapter = provider.adapter(mode)
    is_async = provider.is_async(client) or use_async
    return (AsyncClient if is_async else Client)(adapter(client, model=model), limits=limits)


def _flag(name: str, value: Any) -> bool:
    """A factory's yes-or-no option: a bool, not anything true (`"false"` from a setting)."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name}= takes True or False, got {type(value).__name__}")
    return value


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
    return _wrap("openai", client, mode, model=model, limits=limits)


@overload
def from_anthropic(
    client: anthropic.Anthropic | anthropic.AnthropicBedrock,
    mode: Mode = ..., *, model: str | None = ..., limits: Limits | None = ...
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
    client: anthropic.AsyncAnthropic | anthropic.AsyncAnthropicBedrock | anthropic.AsyncAnthropicVertex,
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
    """Wrap `anthropic.Anthropic` / `AsyncAnthropic`, or Claude on a cloud: `AnthropicBedrock`,
    `AnthropicVertex`, `AnthropicFoundry` (a subclass of `Anthropic`) and their async clients."""
    return _wrap("anthropic", client, mode, model=model, limits=limits)


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
    return _wrap("genai", client, mode, model=model, limits=limits, use_async=use_async)


@overload
def from_vertexai(
    client: GenerativeModel,
    mode: Mode = ...,
    *,
    use_async: Literal[False] = ...,
    _async: Literal[False] = ...,
    limits: Limits | None = ...,
) -> Client: ...
@overload
def from_vertexai(
    client: GenerativeModel,
    mode: Mode = ...,
    *,
    use_async: Literal[True],
    _async: bool = ...,
    limits: Limits | None = ...,
) -> AsyncClient: ...
@overload
def from_vertexai(
    client: GenerativeModel,
    mode: Mode = ...,
    *,
    use_async: bool = ...,
    _async: Literal[True],
    limits: Limits | None = ...,
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
    _async: bool = False,
    limits: Limits | None = None,
) -> Any:
    """Wrap `vertexai.generative_models.GenerativeModel`; `use_async=True` gives an async
    client (`_async=True` is instructor's spelling of it)."""
    is_async = [_flag("use_async", use_async), _flag("_async", _async)]  # (each checked)
    return _wrap("vertexai", client, mode, model=None, limits=limits, use_async=any(is_async))


# boto3, botocore and aiobotocore have no type information: the overloads go by `use_async`
# (pass `use_async=True` with an aiobotocore client for a type checker to see AsyncClient).
@overload
def from_bedrock(
    client: Any,
    mode: Mode = ...,
    *,
    model: str | None = ...,
    use_async: Literal[False] = ...,
    async_client: Literal[False] = ...,
    limits: Limits | None = ...,
) -> Client: ...
@overload
def from_bedrock(
    client: Any,
    mode: Mode = ...,
    *,
    model: str | None = ...,
    use_async: Literal[True],
    async_client: bool = ...,
    limits: Limits | None = ...,
) -> AsyncClient: ...
@overload
def from_bedrock(
    client: Any,
    mode: Mode = ...,
    *,
    model: str | None = ...,
    use_async: bool = ...,
    async_client: Literal[True],
    limits: Limits | None = ...,
) -> AsyncClient: ...
def from_bedrock(
    client: Any,
    mode: Mode = Mode.BEDROCK_PARALLEL_TOOLS,
    *,
    model: str | None = None,
    use_async: bool = False,
    async_client: bool = False,
    limits: Limits | None = None,
) -> Any:
    """Wrap `boto3.client("bedrock-runtime")` (Converse API); an entered aiobotocore
    `bedrock-runtime` client gives an async client, and so does `use_async=True` over a boto3
    client (its calls then run in worker threads, never blocking the event loop).
    `async_client=True` is instructor's spelling of `use_async=True`."""
    is_async = [_flag("use_async", use_async), _flag("async_client", async_client)]
    return _wrap("bedrock", client, mode, model=model, limits=limits, use_async=any(is_async))


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
    bedrock (boto3; region from AWS_REGION / AWS_DEFAULT_REGION), groq, deepseek, mistral,
    together, openrouter, ollama. The model is bound, so calls need no `model=`. OpenAI-compatible servers read `<PROVIDER>_BASE_URL` (else their public
    address) and `<PROVIDER>_API_KEY`; `client_kwargs` go to the SDK client's constructor.
    """
    async_client = _flag("async_client", async_client)
    provider, name, model = registry.for_spec(spec)
    registry.require(provider.sdk)
    sdk, options = provider.builder()(spec, name, model, async_client, client_kwargs)
    factory = globals()[provider.factory]
    return factory(sdk, mode or provider.default_mode, limits=limits, **options)
