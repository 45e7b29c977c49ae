"""OpenAI Responses API (`client.responses.create`): `Mode.RESPONSES_PARALLEL_TOOLS`.

`messages` become `input`, item for item: system and developer messages stay input items
(use `instructions=` yourself if you prefer it), Chat-style tool messages and assistant
`tool_calls` are rewritten as `function_call` / `function_call_output` items, and nested
lists (what `assistant_message()` returns) are flattened. Requests are stateless: polycall
never sets `previous_response_id`; a retry resends the input plus the calls and their results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..calls import RawCall, Reply, Stop, Turn, Usage
from ..errors import ConfigurationError, PolycallError, ProviderError
from ..modes import Mode
from ..toolset import ToolSet
from ._assembly import Call, Calls, CallsAssembler
from .base import Adapter, Assembler, chat_call, message_list, plain
from .openai_common import (
    WRAPPERS,
    arequired_fallback,
    arguments_text,
    classify_error,
    prepare_common,
    relax_choice,
    required_fallback,
    unwrap_parallel,
)

_INCOMPLETE = {"content_filter": Stop.REFUSAL}  # any other incomplete reason: cut off
_BACKGROUND = "; polycall reads a finished response: with background=True, pass stream=True"
_UNFINISHED = {"queued": _BACKGROUND, "in_progress": _BACKGROUND, "cancelled": ""}


class OpenAIResponses(Adapter):
    """`client.responses.create` with one function tool per response_model member."""

    mode = Mode.RESPONSES_PARALLEL_TOOLS
    method = "responses.create"

    def __init__(self, client: Any, *, model: str | None = None) -> None:
        if not hasattr(client, "responses"):
            raise ConfigurationError(
                "Mode.RESPONSES_PARALLEL_TOOLS needs an openai SDK with the Responses API "
                '(client.responses): pip install -U "openai>=1.66"'
            )
        super().__init__(client, model=model)

    def prepare(self, tools: ToolSet, kwargs: dict[str, Any]) -> dict[str, Any]:
        if "messages" in kwargs and "input" in kwargs:
            raise ConfigurationError("pass messages= or input=, not both (messages become input)")
        request = prepare_common(self, tools, kwargs, "input", _tool_params)
        if "input" in request:  # (none: the server's word, as with a stored `prompt=`)
            request["input"] = to_input(request["input"])
        return request

    def relax(self, tools: ToolSet, request: dict[str, Any]) -> dict[str, Any]:
        return relax_choice(request)

    def system_prompt(self, request: Mapping[str, Any]) -> Any:
        return request.get("instructions")

    def classify(self, exc: Exception) -> PolycallError | None:
        return classify_error(exc)

    def extend(self, request: dict[str, Any], messages: Sequence[Any]) -> dict[str, Any]:
        return {**request, "input": [*to_input(request.get("input", [])), *to_input(messages)]}

    def send(self, request: dict[str, Any]) -> Any:
        return required_fallback(self, self.client.responses.create, request)

    async def asend(self, request: dict[str, Any]) -> Any:
        return await arequired_fallback(self, self.client.responses.create, request)

    def parse(self, raw: Any) -> Turn:
        calls: list[RawCall] = []
        text: list[str] = []
        refusal: list[str] = []
        for item in _items(_get(raw, "output")):
            if _get(item, "type") == "function_call":
                calls.append(_raw_call(item))
            elif _get(item, "type") == "message":
                _read_message(item, text, refusal)
        stop, reason = _stop(raw, "".join(refusal))
        return Turn(
            calls=unwrap_parallel(calls),
            stop=stop,
            reason=reason,
            text="".join(text) or None,
            usage=_usage(_get(raw, "usage")),
            raw=raw,
            **_identity(raw),
        )

    def assembler(self) -> Assembler:
        return ResponsesAssembler()

    def assistant_message(self, calls: Sequence[RawCall], text: str | None) -> Any:
        """A list of input items: the text (if any), then one `function_call` item per call.

        The items carry no item `id`, so reasoning models do not ask for the reasoning
        items that preceded them.
        """
        items: list[dict[str, Any]] = [{"role": "assistant", "content": text}] if text else []
        items += [_call_item(call.id, call.name, call.arguments) for call in calls]
        return items

    def reply_messages(self, replies: Sequence[Reply]) -> list[Any]:
        return [
            {"type": "function_call_output", "call_id": reply.call_id, "output": reply.content}
            for reply in replies
        ]


class ResponsesAssembler(CallsAssembler):
    """Raw Responses stream events: a call starts at `response.output_item.added`, grows with
    `response.function_call_arguments.delta` and is complete once its arguments close, or at
    its `response.function_call_arguments.done` or `response.output_item.done`, whichever
    comes first. `response.completed` / `response.incomplete` carry the status and usage, and
    the whole output: a call the events did not complete is read from it (`_completed`)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = Calls(WRAPPERS)
        self.by_item: dict[str, Call] = {}
        self.by_index: dict[int, tuple[Call, str | None]] = {}  # and the item id it came with
        # the message items (ids and output indexes) whose text came in deltas
        self.streamed: set[Any] = set()
        self.told = False  # a message's text or refusal came in events (else: the final output's)
        self.opened: set[int] = set()  # calls whose arguments came whole as they were added
        self.refusal: list[str] = []
        self.final: Any = None
        self.seen = 0  # events fed so far

    def feed(self, chunk: Any) -> Sequence[RawCall]:
        self.seen += 1
        kind = _get(chunk, "type")
        if kind == "response.function_call_arguments.delta":
            call = self._locate(chunk)
            fragment = _str(_get(chunk, "delta"))
            if fragment and id(call) not in self.opened:  # (else: the same text again, in pieces)
                self.calls.add(call, fragment)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            self._item(chunk, done=kind == "response.output_item.done")
        elif kind == "response.output_text.delta":
            keys = {_get(chunk, "item_id"), _get(chunk, "output_index")} - {None}
            self.streamed.update(keys or (None,))  # None: a delta that names no item
            self.told = True
            self.say(_str(_get(chunk, "delta")))
        elif kind == "response.function_call_arguments.done":
            call = self._locate(chunk)
            call.name = call.name or _str(_get(chunk, "name"))  # newer APIs name the call here
            # (a call no event named yet waits for its item or the final output to name it)
            self._whole(call, _get(chunk, "arguments"), end=bool(call.name))
        elif kind in ("response.completed", "response.incomplete"):
            self.final = _get(chunk, "response")
        elif kind in ("response.failed", "error"):
            raise ProviderError(f"the Responses stream failed: {_failure(chunk)}")
        return self.calls.take()

    def finish(self) -> Turn:
        if self.final is None:
            raise ProviderError(
                "the stream ended before response.completed or response.incomplete "
                f"(after {self.seen} event(s)); the connection may have dropped"
            )
        self._completed()
        stop, reason = _stop(self.final, "".join(self.refusal))
        if stop is Stop.DONE:
            self.calls.end_all()
        return Turn(
            calls=self.calls.final(),
            stop=stop,
            reason=reason,
            text=self.said(),
            usage=_usage(_get(self.final, "usage")),
            raw=self.final,
            **_identity(self.final),
        )

    def partial(self) -> tuple[object, str, str] | None:
        return None if self.final is not None else self.calls.partial()

    def _completed(self) -> None:
        """What the final output tells and the events did not (some gateways send few item
        events, or none): each call not yet complete takes its whole arguments from there,
        a call the events never named is added, and, when no event told a message, the text
        and refusal are read from there, as a whole response gives them."""
        calls = self.calls.all
        started = {call.id: call for call in calls if call.id}
        at = {call.index: call for call in calls}
        items = _items(_get(self.final, "output"))
        functions = [item for item in items if _get(item, "type") == "function_call"]
        # As many calls in the output as the events told: the k-th is the k-th told (where
        # the events' places cannot be matched to the output's, e.g. counted over the calls)
        told = dict(zip(map(id, functions), calls)) if len(functions) == len(calls) else {}
        taken: set[int] = set()
        text: list[str] = []
        for index, item in enumerate(items):
            kind = _get(item, "type")
            if kind == "function_call":
                # The streamed call it is: by item id, else by call id, else by order or by
                # place, unless that call's id or name says it is another.
                call_id, item_id, name = _get(item, "call_id"), _get(item, "id"), _get(item, "name")
                call = self.by_item.get(item_id) if isinstance(item_id, str) else None
                if call is None and call_id:
                    call = started.get(call_id)
                for guess in (told.get(id(item)), at.get(index)):
                    if call is None and _may_be(guess, call_id, name, taken):
                        call = guess
                if call is None:
                    call = self.calls.start(index, call_id, name or "")
                taken.add(id(call))
                if call.done:
                    continue
                call.id = call.id or call_id or None
                call.name = call.name or name or ""
                self._whole(call, _get(item, "arguments"))
            elif kind == "message" and not self.told:
                _read_message(item, text, self.refusal)
        for piece in text:
            self.say(piece)

    def _whole(self, call: Call, arguments: Any, *, end: bool = True) -> None:
        """The call's whole arguments, as the provider gives them at its end; they replace
        the deltas of a call not yet complete."""
        if call.done:
            return
        if isinstance(arguments, str) and arguments:
            call.parts[:] = [arguments]
            call.size = len(arguments)
        elif arguments not in (None, ""):
            call.parts.clear()
            call.obj = arguments
        if end:
            self.calls.end(call)

    def _item(self, event: Any, *, done: bool) -> None:
        item = _get(event, "item")
        kind = _get(item, "type")
        if kind == "message" and done:  # its text, unless it came in deltas
            self.told = True
            text: list[str] = []
            _read_message(item, text, self.refusal)
            streamed = self.streamed
            if not (None in streamed or {_get(item, "id"), _get(event, "output_index")} & streamed):
                for piece in text:
                    self.say(piece)
        if kind != "function_call":
            return
        call = self._locate(event)
        call.id = _get(item, "call_id") or call.id
        call.name = _get(item, "name") or call.name
        arguments = _get(item, "arguments")
        if not done:
            if isinstance(arguments, str):
                if arguments:
                    self.calls.add(call, arguments)
                    if call.done:  # whole already: deltas that follow may repeat it
                        self.opened.add(id(call))
            elif arguments is not None:
                self._whole(call, arguments)
        else:
            self._whole(call, arguments, end=_get(item, "status") != "incomplete")

    def _locate(self, event: Any) -> Call:
        """The call an event belongs to (by item id, else by output index, else the call
        written last), or a new one."""
        item_id = _get(event, "item_id") or _get(_get(event, "item"), "id")
        index = _get(event, "output_index")
        item_id = item_id if isinstance(item_id, str) else None
        index = index if isinstance(index, int) else None
        call = self.by_item.get(item_id) if item_id else None
        if call is None and index is not None:
            found = self.by_index.get(index)
            if found is not None and (item_id is None or found[1] is None):
                call = found[0]
        if call is None and item_id is None and index is None:
            call = self.calls.last
        if call is None:
            item = _get(event, "item")  # an item event names its call
            call = self.calls.start(index, _get(item, "call_id"), _get(item, "name") or "")
            if index is not None:
                self.by_index[index] = (call, item_id)
        elif index is not None and item_id and self.by_index.get(index) == (call, None):
            self.by_index[index] = (call, item_id)
        if item_id and item_id not in self.by_item:
            self.by_item[item_id] = call
        return call


def _may_be(call: Call | None, call_id: Any, name: Any, taken: set[int]) -> bool:
    """Whether the streamed `call`, not yet matched, may be the output's call `call_id` to
    `name`: neither its id nor its name says otherwise."""
    return (
        call is not None
        and id(call) not in taken
        and not (call.id and call_id)
        and not (call.name and name and call.name != name)
    )


def to_input(messages: Any) -> list[Any]:
    """`messages` (or `input`) as a flat list of Responses input items."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    items: list[Any] = []
    for message in message_list(messages):
        if isinstance(message, (list, tuple)):
            items.extend(to_input(message))
        elif isinstance(message, dict):
            items.extend(_from_chat(message))
        elif hasattr(message, "tool_calls") and hasattr(message, "role"):  # the Chat SDK's
            fields = plain(message)  # less what only Chat has (`annotations`, `refusal`...)
            items.extend(_from_chat({k: v for k, v in fields.items() if k in _CHAT_FIELDS}))
        else:
            items.append(message)  # an SDK object (e.g. an item of `response.output`)
    return items


_CHAT_FIELDS = ("role", "content", "tool_calls")


def _from_chat(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A Chat Completions style message as Responses items (other items pass unchanged)."""
    role = message.get("role")
    if role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message.get("tool_call_id"),
                "output": _text(message.get("content")),
            }
        ]
    content = message.get("content")
    if isinstance(content, list) and role in ("user", "assistant", "system", "developer"):
        message = {**message, "content": [_part(part, role) for part in content]}
    if role != "assistant" or "tool_calls" not in message:
        return [message]
    items: list[dict[str, Any]] = []
    if message.get("content"):
        items.append({"role": "assistant", "content": message["content"]})
    for number, call in enumerate(message.get("tool_calls") or []):
        items.append(_call_item(*chat_call(call, f"the assistant message's tool_calls[{number}]")))
    return items


def _part(part: Any, role: str) -> Any:
    """A Chat content part (`text`, `image_url`) as a Responses one."""
    if not isinstance(part, dict):
        return part
    if part.get("type") == "text":
        return {
            "type": "output_text" if role == "assistant" else "input_text",
            "text": part.get("text", ""),
        }
    if part.get("type") == "image_url":
        image = part.get("image_url")
        url, detail = (
            (image.get("url"), image.get("detail")) if isinstance(image, dict) else (image, None)
        )
        return {"type": "input_image", "image_url": url, "detail": detail or "auto"}
    return part


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def _call_item(call_id: str | None, name: str, arguments: Any) -> dict[str, Any]:
    return {
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments_text(arguments),
    }


def _raw_call(item: Any) -> RawCall:
    # `call_id` is the id tool results refer to; the item's own `id` (fc_...) is not.
    return RawCall(_get(item, "call_id") or None, _get(item, "name") or "", _get(item, "arguments"))


def _read_message(item: Any, text: list[str], refusal: list[str]) -> None:
    for part in _items(_get(item, "content")):
        kind = _get(part, "type")
        if kind == "output_text":
            text.append(_str(_get(part, "text")))
        elif kind == "refusal":
            refusal.append(_str(_get(part, "refusal")) or "refused")


def _items(value: Any) -> list[Any]:
    """A list field of the response; anything else there (a malformed body) holds nothing."""
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    """A text field; one that is not text (a malformed body) as JSON."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, default=str)


def _stop(response: Any, refusal: str) -> tuple[Stop, str]:
    if refusal:
        return Stop.REFUSAL, refusal
    status = _get(response, "status")
    if status == "failed":
        raise ProviderError(f"the response failed: {_failure(response)}")
    if status in _UNFINISHED:
        raise ProviderError(f"the response is {status}, not completed{_UNFINISHED[status]}")
    if status == "incomplete":
        reason = _get(_get(response, "incomplete_details"), "reason")
        reason = reason if isinstance(reason, str) and reason else "incomplete"
        return _INCOMPLETE.get(reason, Stop.LENGTH), reason
    return Stop.DONE, status or ""


def _identity(response: Any) -> dict[str, Any]:
    """The `Turn` fields tracing reports: id, model, and the status or incomplete reason."""
    return {
        "response_id": _get(response, "id"),
        "response_model": _get(response, "model"),
        "finish_reason": _stop(response, "")[1],
    }


def _failure(source: Any) -> str:
    error = _get(source, "error") or _get(_get(source, "response"), "error") or source
    code, message = _get(error, "code"), _get(error, "message")
    return ": ".join(str(p) for p in (code, message) if p) or "no details given"


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    return Usage(_get(usage, "input_tokens") or 0, _get(usage, "output_tokens") or 0)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """`obj.name` or `obj[name]`: events and items may be SDK objects or plain dicts."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _tool_params(tools: ToolSet) -> list[dict[str, Any]]:
    # `strict` is explicit: the Responses API treats a missing `strict` as true, which
    # rejects ordinary pydantic schemas (optional fields, no additionalProperties: false).
    return [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.schema,
            "strict": False,
        }
        for t in tools.tools
    ]
