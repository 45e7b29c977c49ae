"""What every provider adapter implements: request out, response and stream in."""

from __future__ import annotations

import contextlib
import inspect
import json
import socket
from abc import ABC, abstractmethod
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
)
from typing import TYPE_CHECKING, Any, ClassVar

from ..calls import RawCall, Reply, Turn
from ..engine import http_status
from ..errors import ConfigurationError
from ..modes import Mode

if TYPE_CHECKING:
    from ..errors import PolycallError
    from ..limits import Limits
    from ..toolset import ToolSet


class Assembler(ABC):
    """Rebuilds calls from one response's stream chunks, reporting each as soon as it is complete.

    The response's text is recorded through `say`, piece by piece as it arrives, in `text`:
    a reading that wants the text as it comes (the tool loop's) watches that list grow.
    """

    def __init__(self) -> None:
        self.text: list[str] = []  # the response's text, in the pieces it came in
        self.block: Any = None  # the text block the latest piece went to

    def say(self, piece: str, block: Any = None) -> None:
        """Record the next piece of the response's text. A piece of another text block
        (`block`, e.g. a content block index) than the latest one comes after the blank line
        that joins blocks, as `join_texts` joins them; empty pieces are dropped."""
        if piece:
            text = self.text
            if block != self.block:
                self.block = block
                if text:
                    text.append("\n\n")
            text.append(piece)

    def said(self) -> str | None:
        """The response's text so far (None: no text)."""
        return "".join(self.text) or None

    @abstractmethod
    def feed(self, chunk: Any) -> Sequence[RawCall]:
        """Take one chunk; return the calls this chunk completed, in order."""

    @abstractmethod
    def finish(self) -> Turn:
        """The whole response once the stream has ended: every call, the stop reason, usage."""

    def partial(self) -> tuple[object, str, str] | None:
        """The call still being written, as (the call itself, which tells it from another
        call, its tool name, its arguments JSON so far), if any."""
        return None

    @abstractmethod
    def hold(self, limits: Limits) -> None:
        """Hold each call being streamed to `limits.max_argument_bytes`: a
        `LimitExceededError` as soon as one is over, not at the end of the stream."""


class Adapter(ABC):
    """One provider API in one mode. Holds the SDK client; knows nothing of retries or validation."""

    mode: ClassVar[Mode]
    #: The SDK method requests go to, as a path from the client ("chat.completions.create"):
    #: `prepare` refuses arguments it does not take. "" where the adapter checks its own.
    method: ClassVar[str] = ""

    def __init__(self, client: Any, *, model: str | None = None) -> None:
        self.client = client
        self.model = model
        method = client
        for name in self.method.split(".") if self.method else ():
            method = getattr(method, name)
        #: The keyword arguments the SDK method takes (None: unchecked).
        self.arguments = sdk_arguments(method) if self.method else None

    def check(self, given: Iterable[str], where: str) -> None:
        """A `ConfigurationError` for arguments in `given` that the SDK's `method` does not take."""
        accepted = self.arguments
        if accepted is not None and not accepted.issuperset(given):
            takes = f"{self.method} takes {', '.join(sorted(accepted))}"
            check_arguments(given, accepted, where, takes)

    def classify(self, exc: Exception) -> PolycallError | None:
        """What an exception the SDK raised means, when it is more than a `ProviderError`
        (e.g. the provider's report of a malformed call); None for a plain `ProviderError`."""
        return None

    def status(self, exc: Exception) -> int | None:
        """The HTTP status of the failure `exc`, as `ProviderError.status_code` gives it
        (`http_status` by default)."""
        return http_status(exc)

    def secrets(self) -> list[Any]:
        """The credentials this client keeps and sends (API key, bearer token), kept out of
        errors: by default the OpenAI SDK's `api_key` (a key provider's latest key) and
        AzureOpenAI's `azure_ad_token`. What a failed request carried (a token provider's
        token) is read from the SDK's exception instead (`engine.sent_credentials`)."""
        return [getattr(self.client, name, None) for name in ("api_key", "_azure_ad_token")]

    def system_prompt(self, request: Mapping[str, Any]) -> Any:
        """The system prompt `request` sends apart from its messages, as tracing records it
        (None when there is none, or it is one of the messages): by default its `system`, as
        the Anthropic and Bedrock APIs take it."""
        return request.get("system")

    def close(self) -> None:
        """Close the sync SDK client: its HTTP connections (`client.close()` by default)."""
        self.client.close()

    async def aclose(self) -> None:
        """Close the async SDK client: `close()`, awaited where it is a coroutine."""
        await settled(self.client.close())

    @abstractmethod
    def prepare(self, tools: ToolSet, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The SDK request for the user's kwargs: tools added, messages converted, tool choice set."""

    def relax(self, tools: ToolSet, request: dict[str, Any]) -> dict[str, Any]:
        """`request` with the tool choice `prepare` set by default (when the user set none)
        left to the model, so that it may answer in text (a tool loop's later requests).

        By default `request` as it is; an adapter whose `prepare` forces a call overrides it."""
        return request

    @abstractmethod
    def extend(self, request: dict[str, Any], messages: Sequence[Any]) -> dict[str, Any]:
        """A copy of `request` with `messages` appended to the conversation (used by retries)."""

    @abstractmethod
    def send(self, request: dict[str, Any]) -> Any:
        """Make the request with the sync SDK client; return the raw response."""

    @abstractmethod
    async def asend(self, request: dict[str, Any]) -> Any:
        """Make the request with the async SDK client; return the raw response."""

    def stream(self, request: dict[str, Any]) -> AbstractContextManager[Iterator[Any]]:
        """Open a streamed request; the context manager closes the SDK stream on exit.

        By default, `send` with `stream=True`, as the Anthropic and OpenAI SDKs take it.
        """
        return closing_stream(lambda: self.send({**request, "stream": True}))

    def astream(self, request: dict[str, Any]) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        """Async `stream`."""
        return aclosing_stream(lambda: self.asend({**request, "stream": True}))

    @abstractmethod
    def parse(self, raw: Any) -> Turn:
        """Reduce a whole response to a `Turn`."""

    @abstractmethod
    def assembler(self) -> Assembler:
        """A fresh stream assembler for one streamed response."""

    @abstractmethod
    def assistant_message(self, calls: Sequence[RawCall], text: str | None) -> Any:
        """The model's turn with these calls, as a message this provider accepts back."""

    @abstractmethod
    def reply_messages(self, replies: Sequence[Reply]) -> list[Any]:
        """Messages answering each call one-for-one (tool results), in this provider's format."""


def sdk_arguments(method: Any) -> frozenset[str] | None:
    """The keyword arguments the SDK's `method` takes, read once per client; None when it
    takes any (`**kwargs`) or has no signature to read."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return frozenset(parameter.name for parameter in parameters)


def omitted(value: Any) -> bool:
    """Whether `value` is one of the SDKs' "not given" markers (`NOT_GIVEN`, `omit`): the
    argument was not given."""
    return type(value).__name__ in ("NotGiven", "Omit")


def read_conversation(kwargs: dict[str, Any]) -> None:
    """A conversation given as an iterator (`messages`, Gemini's `contents`, Responses'
    `input`), read once into a list: a generator would be spent by the first request."""
    for key in ("messages", "contents", "input"):
        if isinstance(kwargs.get(key), Iterator):
            kwargs[key] = list(kwargs[key])


def check_arguments(
    given: Iterable[str], accepted: frozenset[str] | None, where: str, takes: str
) -> None:
    """A `ConfigurationError` naming each of `given` outside `accepted` (a typo, another
    SDK's argument) before anything is sent, rather than the SDK's TypeError."""
    if accepted is None or accepted.issuperset(given):
        return
    unknown = ", ".join(repr(key) for key in given if key not in accepted)
    raise ConfigurationError(f"{where} got unexpected argument(s) {unknown}; {takes}")


class closing_stream(AbstractContextManager[Any]):
    """The SDK stream `open_stream()` returns, closed on exit: its `close()`, or on older
    SDK streams that have none, `response.close()`. A class rather than a generator: it is
    entered on every streamed request."""

    def __init__(self, open_stream: Callable[[], Any]) -> None:
        self.open_stream = open_stream

    def __enter__(self) -> Any:
        self.stream = self.open_stream()
        return self.stream

    def __exit__(self, *exc: object) -> None:
        stream = self.stream
        (getattr(stream, "close", None) or stream.response.close)()


class aclosing_stream(AbstractAsyncContextManager[Any]):
    """Async `closing_stream`: `close()` (SDK streams), else `aclose()` (async generators),
    else `response.aclose()` (older SDK streams); awaited when it returns an awaitable."""

    def __init__(self, open_stream: Callable[[], Awaitable[Any]]) -> None:
        self.open_stream = open_stream

    async def __aenter__(self) -> Any:
        self.stream = await self.open_stream()
        return self.stream

    async def __aexit__(self, *exc: object) -> None:
        stream = self.stream
        close = getattr(stream, "close", None) or getattr(stream, "aclose", None)
        await settled((close or stream.response.aclose)())


async def settled(result: Any) -> None:
    """Await `result` where it is awaitable: what an SDK's close returns, sync or async."""
    if inspect.isawaitable(result):
        await result


def shut(stream: Any) -> bool:
    """Shut down the connection an open SDK stream reads from, so that a read blocked on it
    in another thread returns at once; False when no connection can be found for it.

    Found on the streams of httpx-style clients (`.response.extensions["network_stream"]`:
    OpenAI, Anthropic) and on urllib3 responses (botocore's event streams). A response the
    SDK has closed already is left alone (its connection may be back in the pool), and so is
    an HTTP/2 connection, which other requests share."""
    response = getattr(stream, "response", None)
    if getattr(response, "is_closed", False) is True:
        return True  # the SDK closed it at the end of the stream: no read is blocked on it
    if getattr(response, "http_version", None) == "HTTP/2":
        return False  # the connection carries other requests' streams too
    extensions = getattr(response, "extensions", None)
    network = extensions.get("network_stream") if isinstance(extensions, dict) else None
    sock = network.get_extra_info("socket") if network is not None else None
    raw = getattr(stream, "_raw_stream", None)  # a botocore EventStream's urllib3 response
    if sock is None and raw is not None:
        sock = getattr(getattr(raw, "_connection", None), "sock", None)
        if sock is None:  # the connection let go of it: the response's file still holds it
            sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    if not isinstance(sock, socket.socket):
        return False
    with contextlib.suppress(OSError):  # already shut or closed: nothing is blocked on it
        sock.shutdown(socket.SHUT_RDWR)
    return True


def text_piece(piece: Any) -> str:
    """A streamed text or JSON piece; one that is not text (a malformed event) as JSON."""
    if isinstance(piece, str):
        return piece
    return "" if piece is None else json.dumps(piece, default=str)


def join_texts(texts: Sequence[str]) -> str | None:
    """A response's text blocks as one text, a blank line between them (None: no text)."""
    return "\n\n".join(t for t in texts if t) or None


def block_turn(
    calls: Sequence[RawCall],
    text: str | None,
    text_block: Callable[[str], dict[str, Any]],
    call_block: Callable[[RawCall, dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """A model's turn as content blocks (Anthropic, Bedrock): each call after the signed
    thinking or reasoning blocks it carries (those that came before it: the first call's
    lead the turn, interleaved thinking stays between the calls), and the text (unless
    blank: the APIs refuse empty text blocks) after the first call's blocks. Thinking after
    the last call is not kept."""
    content: list[dict[str, Any]] = []
    for call in calls:
        content += call.extra or ()
        content.append(call_block(call, arguments_object(call.arguments)))
    if text and text.strip():
        content.insert(len(calls[0].extra or ()) if calls else 0, text_block(text))
    return {"role": "assistant", "content": content}


def arguments_object(arguments: Any) -> dict[str, Any]:
    """Call arguments as the object a replayed call block needs (`{}` when they are not one)."""
    from ..toolset import parse_arguments  # pydantic loads on the first request, not on import

    parsed = parse_arguments(arguments)
    return parsed if isinstance(parsed, dict) else {}


def message_list(messages: Any) -> Iterable[Any]:
    """`messages=`, refused with a `ConfigurationError` unless it is a list of messages."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
        raise ConfigurationError(f"messages must be a list of messages, got {type(messages).__name__}")
    return messages


def plain(value: Any) -> Any:
    """An SDK's object (a pydantic model, as the OpenAI SDK's messages and tool calls are) as
    the dict it stands for; anything else as it is."""
    dump = getattr(value, "model_dump", None)
    return dump(exclude_none=True) if callable(dump) and not isinstance(value, type) else value


def chat_call(call: Any, where: str) -> tuple[Any, str, Any]:
    """An OpenAI-style `tool_calls` entry (a dict, or the SDK's object) as (id, name,
    arguments); a `ConfigurationError` naming `where` unless it has a function name."""
    call = plain(call)
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not function.get("name"):
        raise ConfigurationError(f"{where} is not a tool call with a function name: {call!r:.80}")
    return call.get("id"), function["name"], function.get("arguments")
