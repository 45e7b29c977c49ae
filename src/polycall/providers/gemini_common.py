"""What the google-genai and Vertex AI adapters share: Gemini's wire semantics.

Both SDKs speak the same `generateContent` protocol, so everything here works on plain
snake_case dicts in that protocol's shape (`candidates[0].content.parts[*].function_call`,
`finish_reason`, `usage_metadata`, ...). Each adapter only converts its SDK's objects to
such dicts (`response_dict`) and back (`native_content`).
"""

from __future__ import annotations

import contextlib
import json
import re
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from ..calls import RawCall, Reply, Stop, Turn, Usage
from ..errors import ConfigurationError, ProviderError
from ..limits import json_size
from ..toolset import ToolSet
from ._assembly import Call, Calls, CallsAssembler
from .base import Adapter, Assembler

# ---------------------------------------------------------------------------------------
# Schema dialect: Gemini takes an OpenAPI 3.0 subset, not JSON Schema.

_TYPES = {
    "string": "STRING",
    "integer": "INTEGER",
    "number": "NUMBER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
}
_FORMATS = {"STRING": {"enum", "date-time"}, "INTEGER": {"int32", "int64"}, "NUMBER": {"float", "double"}}
_KEPT = ("minimum", "maximum", "minItems", "maxItems")
#: Constraints the declarations do not take, told in the description instead.
_TOLD = ("exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern",
         "minProperties", "maxProperties", "uniqueItems")


def declarations(tools: ToolSet) -> list[dict[str, Any]]:
    """One function declaration per tool, in Gemini's schema dialect (cached per tool set)."""
    return tools.dialect(_declarations)


def _declarations(tools: ToolSet) -> list[dict[str, Any]]:
    out = []
    for tool in tools.tools:
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        parameters = gemini_schema(tool.schema, tool.name)
        if parameters.get("properties"):
            declaration["parameters"] = parameters
        out.append(declaration)
    return out


def gemini_schema(schema: Mapping[str, Any], where: str = "schema") -> dict[str, Any]:
    """A pydantic JSON schema in Gemini's dialect: `$ref`s inlined, `Optional` as
    `nullable`, string enums kept, keys Gemini rejects dropped; the top-level title and
    description go (the function has its own)."""
    defs = schema.get("$defs", {})
    converted = _convert(schema, defs, (), where)
    converted.pop("description", None)
    return converted


def _convert(
    node: Mapping[str, Any], defs: Mapping[str, Any], seen: tuple[str, ...], where: str
) -> dict[str, Any]:
    node, seen = _resolve(node, defs, seen, where)
    raw_types = node.get("type")
    types = list(raw_types) if isinstance(raw_types, list) else [raw_types] if raw_types else []
    options = list(node.get("anyOf") or node.get("oneOf") or ())
    nullable = "null" in types or any(option.get("type") == "null" for option in options)
    types = [t for t in types if t != "null"]
    options = [option for option in options if option.get("type") != "null"]
    if len(options) == 1 and not types:  # Optional[X] is X, nullable
        inner, inner_seen = _resolve(options[0], defs, seen, where)
        outer: dict[str, Any] = {k: node[k] for k in ("description", "default") if k in node}
        out = _convert({**inner, **outer}, defs, inner_seen, where)
    else:
        out = {}
        if options:
            out["anyOf"] = [_convert(option, defs, seen, where) for option in options]
        if len(types) == 1:
            out["type"] = _TYPES.get(types[0], types[0].upper())
        elif types:
            out["anyOf"] = [{"type": _TYPES.get(t, t.upper())} for t in types]
        notes = [node.get("description") or ""]
        out.update(_details(node, defs, seen, where, out.get("type", ""), notes))
        notes.append(_default(node))
        if any(notes):
            out["description"] = " ".join(note for note in notes if note)
    if nullable:
        out["nullable"] = True
    return out


def _details(
    node: Mapping[str, Any], defs: Mapping[str, Any], seen: tuple[str, ...], where: str,
    kind: str, notes: list[str],
) -> dict[str, Any]:
    """Enum, format, properties, items and bounds of one schema node; what Gemini cannot
    express goes into `notes` for the description."""
    out: dict[str, Any] = {}
    enum = list(node["enum"]) if "enum" in node else [node["const"]] if "const" in node else None
    if enum is not None and all(isinstance(value, str) for value in enum):
        out["type"], out["enum"] = "STRING", enum
    elif enum is not None:
        notes.append("One of: " + ", ".join(json.dumps(value) for value in enum) + ".")
    fmt = node.get("format")
    if fmt in _FORMATS.get(out.get("type", kind), ()):
        out["format"] = fmt
    elif fmt:
        notes.append(f"Format: {fmt}.")
    if "properties" in node:
        out["type"] = "OBJECT"
        out["properties"] = {
            name: _convert(sub, defs, seen, where) for name, sub in node["properties"].items()
        }
        required = [name for name in node.get("required", ()) if name in out["properties"]]
        if required:
            out["required"] = required
    if isinstance(node.get("items"), Mapping):
        out["items"] = _convert(node["items"], defs, seen, where)
    elif "prefixItems" in node:  # a tuple: one item schema, or any of them
        items: list[dict[str, Any]] = []
        for item in node["prefixItems"]:
            converted = _convert(item, defs, seen, where)
            if converted not in items:
                items.append(converted)
        out["items"] = items[0] if len(items) == 1 else {"anyOf": items}
    out.update({key: node[key] for key in _KEPT if key in node})
    told = [f"{key} {json.dumps(node[key])}" for key in _TOLD if key in node]
    values = node.get("additionalProperties")
    if isinstance(values, Mapping) and values:  # a dict's values, unless they refer back
        with contextlib.suppress(ConfigurationError):
            told.append("each value " + json.dumps(_convert(values, defs, seen, where)))
    if told:
        notes.append(f"Constraints: {', '.join(told)}.")
    return out


def _resolve(
    node: Mapping[str, Any], defs: Mapping[str, Any], seen: tuple[str, ...], where: str
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """`node` with its `$ref` (or single-item `allOf`) replaced by the definition it names,
    and the definitions followed so far (to refuse recursive models)."""
    resolved = dict(node)
    while True:
        all_of = resolved.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            resolved = {**all_of[0], **{k: v for k, v in resolved.items() if k != "allOf"}}
            continue
        ref = resolved.pop("$ref", None)
        if ref is None:
            return resolved, seen
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in defs:
            problem = "refers to itself" if name in seen else "has no definition"
            raise ConfigurationError(
                f"tool {where}: the schema of {name!r} {problem}; Gemini's schema dialect "
                "cannot express recursive or external models"
            )
        seen = (*seen, name)
        resolved = {**defs[name], **resolved}


def _default(node: Mapping[str, Any]) -> str:
    """A note on a scalar default, which Gemini's dialect has no key for."""
    value = node.get("default")
    if value is None or not isinstance(value, (str, int, float, bool)):
        return ""
    return f"Default: {json.dumps(value)}."


# ---------------------------------------------------------------------------------------
# Responses: finish reasons, usage, calls.

_REFUSALS = {
    "SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "LANGUAGE",
    "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR",
}
_MALFORMED = {"MALFORMED_FUNCTION_CALL", "TOO_MANY_TOOL_CALLS"}
_NO_BLOCK = {"", "BLOCKED_REASON_UNSPECIFIED", "BLOCK_REASON_UNSPECIFIED"}


def enum_name(value: Any) -> str:
    """An SDK enum (str enum, proto enum, name or unknown number) as its wire name."""
    if value is None:
        return ""
    name = getattr(value, "name", None)
    if isinstance(name, str):
        return name
    return str(getattr(value, "value", value))


def stop_of(data: Mapping[str, Any], has_calls: bool) -> tuple[Stop, str]:
    """The neutral stop and the provider's reason (with its message) for one response."""
    block = block_reason(data)
    if block:
        message = data["prompt_feedback"].get("block_reason_message")
        return Stop.REFUSAL, _with_message(f"prompt blocked: {block}", message)
    candidate = first_candidate(data)
    reason = enum_name(candidate.get("finish_reason"))
    message = candidate.get("finish_message")
    if reason == "MAX_TOKENS":
        return Stop.LENGTH, reason
    if reason in _REFUSALS:
        return Stop.REFUSAL, _with_message(reason, message)
    if reason in _MALFORMED or (reason == "UNEXPECTED_TOOL_CALL" and not has_calls):
        return Stop.MALFORMED, _with_message(reason, message)
    return Stop.DONE, reason


def _with_message(reason: str, message: Any) -> str:
    return f"{reason}: {message}" if message else reason


def identity(data: Mapping[str, Any]) -> tuple[Any, Any, str]:
    """The `Turn` fields tracing reports: response id, model version, finish reason."""
    reason = enum_name(first_candidate(data).get("finish_reason"))
    return data.get("response_id"), data.get("model_version"), reason


def block_reason(data: Mapping[str, Any]) -> str:
    """The reason the prompt was blocked (`prompt_feedback.block_reason`); empty when it was
    not, as when the feedback holds only safety ratings."""
    block = enum_name((data.get("prompt_feedback") or {}).get("block_reason"))
    return "" if block in _NO_BLOCK else block


def first_candidate(data: Mapping[str, Any]) -> dict[str, Any]:
    """The candidate of index 0 (an absent index is 0, as proto3 JSON leaves it out): the one
    read when `candidate_count` asks for more. A stream chunk may hold only another one."""
    for candidate in data.get("candidates") or ():
        if not candidate.get("index"):
            found: dict[str, Any] = candidate
            return found
    return {}


def parts_of(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = first_candidate(data).get("content") or {}
    return list(content.get("parts") or [])


def usage_of(data: Mapping[str, Any]) -> Usage | None:
    """Input and output tokens (thinking included in output), or None when not reported."""
    usage = data.get("usage_metadata") or {}
    counts = [usage.get(k) for k in ("prompt_token_count", "candidates_token_count", "thoughts_token_count")]
    if not any(counts):
        return None
    prompt, candidates, thoughts = (int(c or 0) for c in counts)
    return Usage(prompt, candidates + thoughts)


def text_of(parts: Iterable[Mapping[str, Any]]) -> list[str]:
    return [p["text"] for p in parts if p.get("text") and not p.get("thought")]


# ---------------------------------------------------------------------------------------
# Messages: OpenAI-style dicts to Gemini contents.


def split_messages(kwargs: dict[str, Any]) -> tuple[str | None, list[Any]]:
    """Pop `messages` (or `contents`) from `kwargs`: the system text, and the contents as
    Gemini content dicts (from OpenAI-style messages) or the user's own objects, in order."""
    if "messages" in kwargs and "contents" in kwargs:
        raise ConfigurationError("give messages= or contents=, not both")
    messages = kwargs.pop("messages", None)
    if messages is None:
        messages = kwargs.pop("contents", None)
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    elif messages is not None and not isinstance(messages, (list, tuple)):
        messages = [messages]  # one message or Content, as the SDKs take it
    if not messages:
        raise ConfigurationError("messages= is required: a list of {'role': ..., 'content': ...}")
    system: list[str] = []
    contents: list[Any] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "parts" in message:
            contents.append(message)
            continue
        role = message.get("role")
        if role not in ("system", "developer", "user", "assistant", "model"):
            raise ConfigurationError(
                f"messages[{i}]: role {role!r} is not supported; use system, user or assistant "
                "(tool results come from calls.tool_results())"
            )
        if message.get("tool_calls"):
            raise ConfigurationError(
                f"messages[{i}]: tool_calls in OpenAI format are not converted for Gemini; "
                "continue a conversation with calls.assistant_message() and calls.tool_results()"
            )
        if role in ("system", "developer"):
            system.append(_text(message.get("content"), f"messages[{i}]"))
        else:
            parts = _parts(message.get("content"), f"messages[{i}]")
            contents.append({"role": "user" if role == "user" else "model", "parts": parts})
    if not contents:
        raise ConfigurationError("messages= holds no user message; Gemini needs at least one")
    return ("\n\n".join(system) if system else None), contents


def _text(content: Any, where: str) -> str:
    """A system message's text: a string, or the text parts of a list, joined."""
    return "".join(part["text"] for part in _parts(content, where, sdk_parts=False))


def _parts(content: Any, where: str, *, sdk_parts: bool = True) -> list[Any]:
    """A message's content as Gemini parts: a string is one text part; a list gives one part
    per item, a string or an OpenAI text part, or (`sdk_parts`) an SDK `Part` (Vertex AI's
    as its dict)."""
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise ConfigurationError(f"{where}: content must be a string or a list of parts")
    parts: list[Any] = []
    for j, part in enumerate(content):
        if isinstance(part, str):
            parts.append({"text": part})
        elif isinstance(part, Mapping) and part.get("type") == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif sdk_parts and type(part).__name__ == "Part" and hasattr(part, "to_dict"):
            parts.append(part.to_dict())  # vertexai.generative_models.Part
        elif sdk_parts and isinstance(part, BaseModel) and type(part).__name__ == "Part":
            parts.append(part)  # google.genai.types.Part, which its Content takes as it is
        else:
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            raise ConfigurationError(
                f"{where}.content[{j}]: only text parts{' and SDK Parts' if sdk_parts else ''} "
                f"are converted from OpenAI style (got {kind!r}); pass a native Gemini Content "
                "for images and files"
            )
    return parts


# ---------------------------------------------------------------------------------------
# Streams.


class GeminiAssembler(CallsAssembler):
    """Calls from `streamGenerateContent` chunks. A whole `function_call` part is complete
    when its chunk arrives; one streamed with `will_continue` (Vertex `partial_args`) is
    complete at the part that no longer continues it, or when the next call starts."""

    def __init__(self, adapter: GeminiAdapter) -> None:
        super().__init__()
        self.adapter = adapter
        self.calls = Calls()
        self.current: Call | None = None  # the call `partial_args` are streaming into
        self.open_strings: set[str] = set()  # its string arguments still being continued
        self.usage = Usage()
        self.last: dict[str, Any] = {}
        self.chunk: Any = None  # the latest chunk: a stream's `.raw`

    def feed(self, chunk: Any) -> Sequence[RawCall]:
        self.chunk = chunk
        data = self.adapter.response_dict(chunk)
        usage = usage_of(data)
        if usage is not None:
            self.usage = usage
        candidate = first_candidate(data)
        if candidate.get("finish_reason") or block_reason(data):
            self.last = {**data, "candidates": [candidate]}
        parts = parts_of(data)
        for piece in text_of(parts):
            self.say(piece)
        for part in parts:
            call = part.get("function_call")
            if call is not None:
                self._take(call, part.get("thought_signature"))
        if self._stop()[0] is not Stop.DONE:
            return []  # what a cut-off or blocked response holds is not complete
        return self.calls.take()

    def finish(self) -> Turn:
        if not self.last:
            raise ProviderError(
                "the stream ended before a finish reason: the connection dropped, and the "
                f"{len(self.calls.all)} call(s) before the cut may not be all of them"
            )
        stop, reason = self._stop()
        if stop is Stop.DONE:
            self.calls.end_all()
        text, calls = self.said(), self.calls.final()
        return Turn(calls, stop, reason, text, self.usage, self.chunk, *identity(self.last))

    def partial(self) -> tuple[object, str, str] | None:
        current = self.current
        if current is None or current.done:
            return None
        return current, current.name, json.dumps(current.obj)

    def _stop(self) -> tuple[Stop, str]:
        return stop_of(self.last, bool(self.calls.all))

    def _take(self, part: Mapping[str, Any], signature: Any) -> None:
        current = self.current
        if part.get("name") or (
            current is None and (part.get("args") or part.get("partial_args"))
        ):
            if current is not None:
                self.calls.end(current)  # a new call ends the one before it
            current = self.calls.start(None, part.get("id") or None, part.get("name") or "")
            current.obj = dict(part.get("args") or {})
            self.current, self.open_strings = current, set()
        if current is None:
            return  # an empty terminator with nothing open
        current.extra = current.extra or signature
        pieces = part.get("partial_args") or ()
        if pieces:
            room = self.calls.cap - current.size
            grown = _apply_partial_args(current.obj, self.open_strings, pieces, room)
            self.calls.grew(current, grown)
        if not part.get("will_continue"):
            self.calls.end(current)
            self.current = None


_ESCAPED = re.compile(r"\\(.)")  # a quoted key's escaped character (\" \' \\)
_PATH = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]")


def _apply_partial_args(
    arguments: dict[str, Any],
    open_strings: set[str],
    partial_args: Iterable[Mapping[str, Any]],
    room: int,
) -> int:
    """Write streamed argument pieces (`json_path` plus one value) into `arguments`; string
    pieces marked `will_continue` are joined with the pieces that follow. Returns about how
    many characters the pieces held; more than `room` as soon as they would pass it."""
    size = 0
    for piece in partial_args:
        path = str(piece.get("json_path") or "$")
        steps = _steps(path)
        grown = None  # the rest of a string grows by its own characters alone
        if "string_value" in piece:
            value: Any = str(piece["string_value"])
            if path in open_strings:
                grown = len(value)
                before = _get(arguments, steps)
                value = (before if isinstance(before, str) else "") + value
            if piece.get("will_continue"):
                open_strings.add(path)
            else:
                open_strings.discard(path)
        elif "number_value" in piece:
            value = whole(piece["number_value"])
        elif "bool_value" in piece:
            value = bool(piece["bool_value"])
        elif "null_value" in piece:
            value = None
        else:
            continue
        size += _place(steps) + json_size(value, room) if grown is None else grown
        made = _set(arguments, steps, value, room - size)
        if made is None:
            return room + 1
        size += made
    return size


def _place(steps: Sequence[str | int]) -> int:
    """The characters around a value at `steps` in compact JSON text: its `"key":` in an
    object, the comma after it."""
    last = steps[-1] if steps else None
    return 1 + (len(last) + 3 if isinstance(last, str) else 0)


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for name, index, quoted, double in _PATH.findall(path.removeprefix("$")):
        key = quoted or double
        steps.append(int(index) if index else name or _ESCAPED.sub(r"\1", key))
    return steps


def _get(root: Any, steps: Sequence[str | int]) -> Any:
    for step in steps:
        try:
            root = root[step]
        except (KeyError, IndexError, TypeError):
            return None
    return root


def _set(root: dict[str, Any], steps: Sequence[str | int], value: Any, room: int) -> int | None:
    """Set the value at `steps`; returns the characters of what it made on the way, as
    compact JSON text (objects and lists along the path, with their keys; the nulls that pad
    a list up to an index past its end), or None, making nothing more, once they would take
    more than `room`. Each value is counted with a comma (`_place`), one more than a
    container's members have: a container made here counts one character less for it, so
    the pieces' count is never above the whole call's compact size."""
    made = 0
    if not steps:
        if isinstance(value, dict):
            root.update(value)
        return made
    node: Any = root
    for step, following in zip(steps, [*steps[1:], None]):
        fresh: Any = value if following is None else ([] if isinstance(following, int) else {})
        if isinstance(step, int):
            if not isinstance(node, list):
                return made
            if (gap := step + 1 - len(node)) > 0:
                made += 5 * (gap - 1)  # "null," before the new item
                if made > room:
                    return None
                node.extend([None] * gap)
            if following is None or not isinstance(node[step], (dict, list)):
                node[step] = fresh
                made += 0 if following is None else 2  # {} (its comma: its first member's)
            node = node[step]
        else:
            if not isinstance(node, dict):
                return made
            if following is None or not isinstance(node.get(step), (dict, list)):
                node[step] = fresh
                made += 0 if following is None else len(step) + 5  # "key":{} (as above)
                if made > room:
                    return None
            node = node[step]
    return made


def whole(value: Any) -> Any:
    """A number that protobuf turned into a float, back to an int when it is whole."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


# ---------------------------------------------------------------------------------------
# The adapter both SDKs share.


class GeminiAdapter(Adapter):
    """`generateContent` semantics; subclasses convert their SDK's objects at the edges."""

    #: Whether call ids go into `function_call`/`function_response` parts (Vertex rejects them).
    send_ids: bool = False

    @abstractmethod
    def response_dict(self, raw: Any) -> dict[str, Any]:
        """One response (or stream chunk) as a snake_case `GenerateContentResponse` dict."""

    @abstractmethod
    def native_content(self, content: Mapping[str, Any]) -> Any:
        """A Gemini content dict as this SDK's `Content` object."""

    def extend(self, request: dict[str, Any], messages: Sequence[Any]) -> dict[str, Any]:
        return {**request, "contents": [*request["contents"], *messages]}

    def parse(self, raw: Any) -> Turn:
        data = self.response_dict(raw)
        parts = parts_of(data)
        calls = []
        for part in parts:
            call = part.get("function_call")
            if not call or not (call.get("name") or call.get("args")):
                continue  # an empty part ends a streamed call; whole, it is no call either
            arguments = dict(call.get("args") or {})
            calls.append(
                RawCall(
                    call.get("id") or None,
                    call.get("name") or "",
                    arguments,
                    part.get("thought_signature"),  # Gemini wants it back on replay
                )
            )
        stop, reason = stop_of(data, bool(calls))
        text = "".join(text_of(parts)) or None
        return Turn(calls, stop, reason, text, usage_of(data) or Usage(), raw, *identity(data))

    def assembler(self) -> Assembler:
        return GeminiAssembler(self)

    def assistant_message(self, calls: Sequence[RawCall], text: str | None) -> Any:
        parts: list[dict[str, Any]] = [{"text": text}] if text else []
        for call in calls:
            function_call: dict[str, Any] = {"name": call.name, "args": _arguments(call.arguments)}
            if self.send_ids and call.id:
                function_call["id"] = call.id
            part: dict[str, Any] = {"function_call": function_call}
            if call.extra:
                part["thought_signature"] = call.extra
            parts.append(part)
        return self.native_content({"role": "model", "parts": parts})

    def reply_messages(self, replies: Sequence[Reply]) -> list[Any]:
        parts = []
        for reply in replies:
            response: dict[str, Any] = {
                "name": reply.name,
                "response": {"error" if reply.is_error else "output": reply.content},
            }
            if self.send_ids and reply.call_id:
                response["id"] = reply.call_id
            parts.append({"function_response": response})
        return [self.native_content({"role": "user", "parts": parts})]


def _arguments(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if isinstance(arguments, str) and arguments.strip():
        try:
            parsed = json.loads(arguments)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}
