"""Recorded Anthropic Messages responses replayed through the real SDK.

JSON bodies are served whole and `.sse` streams as recorded; the tool models are built from
the tool definitions the recorded README lists for each file.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, create_model

import polycall
from helpers import anthropic_client
from models import SEED_MODEL
from polycall.testing import FakeProvider, Response, json_response, stream_response

USER = [{"role": "user", "content": "Go."}]
SECRETS = "anthropic_messages_json_text_then_two_secret_retrieval_calls.json"
SECRETS_STREAM = "anthropic_messages_stream_text_then_two_secret_retrieval_calls.sse"


@dataclass(frozen=True)
class Calls:
    """The exact calls a recording must give: (id, tool name, arguments), and its usage."""

    calls: list[tuple[str, str, dict[str, Any]]]
    usage: tuple[int, int]
    text: str | None = None


@dataclass(frozen=True)
class Fails:
    """The typed error a recording must raise, with its attributes."""

    error: type[polycall.PolycallError]
    attributes: dict[str, Any] = field(default_factory=dict)


SECRET_TEXT = "I'll retrieve the secrets for both passwords you provided."
EXPECTED: dict[str, Calls | Fails] = {
    SECRETS: Calls(
        [
            ("toolu_01BUvqBj8Yb34pNAbCJJY1oc", "secret_retrieval_tool", {"password": "mellon"}),
            ("toolu_01VPuQJ1LonDBYXrr8pqPkqQ", "secret_retrieval_tool", {"password": "radiance"}),
        ],
        usage=(416, 109),
        text=SECRET_TEXT,
    ),
    SECRETS_STREAM: Calls(
        [
            ("toolu_015cUijgET79LXjgeYQerN2h", "secret_retrieval_tool", {"password": "mellon"}),
            ("toolu_01XZTimPexA7h3EVKesnKt5T", "secret_retrieval_tool", {"password": "radiance"}),
        ],
        usage=(416, 109),
        text=SECRET_TEXT,
    ),
    "anthropic_messages_json_text_then_two_tools_one_empty_input.json": Calls(
        [
            ("toolu_01KvRYjtnLPngaWxC4QS3UyC", "greet", {"name": "Mirascope"}),
            ("toolu_01VQEnPUA6pSmD9j8ZyjMhRJ", "answer_ultimate_question", {}),
        ],
        usage=(1070, 107),
        text="I'll call these tools in sequence. Let me start with the greet tool, "
        "then answer_ultimate_question, and finally process_answer.",
    ),
    "anthropic_messages_json_text_then_four_parallel_tool_use.json": Calls(
        [
            ("toolu_0167cfEnoQaPviGdVXA95zcu", "retrieve_entity_info", {"name": "Alice"}),
            ("toolu_01EEe2V5HD1Ac4rKiUR4HD2T", "retrieve_entity_info", {"name": "Bob"}),
            ("toolu_01XFyAjstT3966qvRynZyVPo", "retrieve_entity_info", {"name": "Charlie"}),
            ("toolu_013mnQZbgtK2oe3Mo3XKJsx3", "retrieve_entity_info", {"name": "Daisy"}),
        ],
        usage=(423, 202),
        text="I'll help you find out who is the youngest by retrieving information about each "
        "family member. I'll retrieve their entity information to compare their ages.",
    ),
    "anthropic_messages_stream_two_empty_input_calls.sse": Calls(
        [
            ("toolu_01LtHJmixrs9NcWQkK8hu8hj", "pelican_name_generator", {}),
            ("toolu_01N8a4jWyf116qKTMqKKmjyt", "pelican_name_generator", {}),
        ],
        usage=(542, 62),
    ),
    "anthropic_messages_json_text_only_tools_offered.json": Fails(
        polycall.NoToolCallsError,
        {
            "text": 'Here are the secrets retrieved for each password:\n\n- Password "mellon": '
            '**Welcome to Moria!**\n- Password "radiance": **Life before Death**'
        },
    ),
    "anthropic_messages_json_stop_max_tokens_text.json": Fails(
        polycall.IncompleteOutputError, {"reason": "max_tokens"}
    ),
}


def recorded_tools(readme: Path) -> dict[str, list[dict[str, Any]] | None]:
    """Each recorded Anthropic file's tool definitions from the README (None: it sent no tools)."""
    text = readme.read_text().split("## Tool definitions", 1)[1]
    sections = re.split(r"^### `([^`]+)`\n", text, flags=re.MULTILINE)[1:]
    tools: dict[str, list[dict[str, Any]] | None] = {}
    same: dict[str, str] = {}
    for name, body in zip(sections[::2], sections[1::2]):
        if not name.startswith("anthropic_"):
            continue
        block = re.search(r"```json\n(.*?)\n```", body, flags=re.DOTALL)
        reference = re.search(r"Same `tools` as `([^`]+)`", body)
        if block:
            tools[name] = json.loads(block.group(1))
        elif reference:
            same[name] = reference.group(1)
        else:
            assert "No `tools`" in body, name
            tools[name] = None
    tools.update({name: tools[source] for name, source in same.items()})
    return tools


_SCALARS = {"string": str, "integer": int, "number": float, "boolean": bool}


def tool_model(
    name: str, description: str, schema: dict[str, Any], defs: dict[str, Any]
) -> type[BaseModel]:
    """A pydantic model accepting what `schema` (an `input_schema`) describes."""
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for prop, sub in schema.get("properties", {}).items():
        kind = field_type(sub, {**defs, **schema.get("$defs", {})})
        fields[prop] = (kind, ...) if prop in required else (kind | None, None)
    config = ConfigDict(
        title=name, extra="forbid" if schema.get("additionalProperties") is False else "ignore"
    )
    model: type[BaseModel] = create_model(
        name, __config__=config, __doc__=description or None, **fields
    )
    return model


def field_type(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        return tool_model(ref, "", defs[ref], defs)
    if schema.get("type") == "object":
        return tool_model("Object", "", schema, defs)
    return _SCALARS[schema["type"]]


def response_model(tools: list[dict[str, Any]] | None) -> Any:
    if tools is None:
        return SEED_MODEL
    models = [tool_model(t["name"], t.get("description", ""), t["input_schema"], {}) for t in tools]
    return Iterable[functools.reduce(operator.or_, models)]  # type: ignore[misc]


def serve(path: Path) -> Response:
    """The recorded body: JSON whole; an SSE stream event by event, bytes as recorded."""
    data = path.read_bytes()
    if path.suffix == ".sse":
        events = [part + b"\n\n" for part in data.split(b"\n\n") if part]
        assert b"".join(events) == data
        return stream_response(events, content_type="text/event-stream")
    return json_response(data)


claude_client = functools.partial(anthropic_client, model="claude-sonnet-4-6")


def replay(fake: FakeProvider, path: Path, model: Any) -> Any:
    fake.push(serve(path))
    client = claude_client(fake)
    if path.suffix == ".sse":
        stream = client.create_iterable(messages=USER, response_model=model)
        values = list(stream)
        assert values == list(stream.result)
        return stream.result
    return client.create(messages=USER, response_model=model)


async def areplay(fake: FakeProvider, path: Path, model: Any) -> Any:
    fake.push(serve(path))
    client = claude_client(fake, is_async=True)
    if path.suffix == ".sse":
        stream = client.create_iterable(messages=USER, response_model=model)
        values = [value async for value in stream]
        assert values == list(stream.result)
        return stream.result
    return await client.create(messages=USER, response_model=model)


def check(outcome: polycall.ToolCalls[Any] | BaseException, expected: Calls | Fails) -> None:
    if isinstance(expected, Fails):
        assert isinstance(outcome, expected.error), outcome
        for name, value in expected.attributes.items():
            assert getattr(outcome, name) == value
        return
    assert isinstance(outcome, polycall.ToolCalls), outcome
    assert [(c.id, c.name, c.arguments) for c in outcome.calls] == expected.calls
    assert [c.value for c in outcome.calls] == list(outcome)
    assert (outcome.usage.input_tokens, outcome.usage.output_tokens) == expected.usage
    assert outcome.text == expected.text


def test_every_recorded_anthropic_file_is_replayed(recorded: Path) -> None:
    assert {p.name for p in recorded.glob("anthropic_*")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_replay(fake: FakeProvider, recorded: Path, name: str) -> None:
    tools = recorded_tools(recorded / "README.md")[name]
    outcome: polycall.ToolCalls[Any] | BaseException
    try:
        outcome = replay(fake, recorded / name, response_model(tools))
    except polycall.PolycallError as exc:
        outcome = exc
    check(outcome, EXPECTED[name])
    if tools is not None:
        sent = [(t["name"], t["description"]) for t in fake.last.json["tools"]]
        assert sent == [(t["name"], t.get("description", "")) for t in tools]


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_replay_async(fake: FakeProvider, recorded: Path, name: str) -> None:
    tools = recorded_tools(recorded / "README.md")[name]
    outcome: polycall.ToolCalls[Any] | BaseException
    try:
        outcome = await areplay(fake, recorded / name, response_model(tools))
    except polycall.PolycallError as exc:
        outcome = exc
    check(outcome, EXPECTED[name])


@pytest.mark.parametrize(
    "name", [n for n, e in sorted(EXPECTED.items()) if n.endswith(".json") and isinstance(e, Calls)]
)
def test_assistant_message_is_the_recorded_turn(
    fake: FakeProvider, recorded: Path, name: str
) -> None:
    tools = recorded_tools(recorded / "README.md")[name]
    calls = replay(fake, recorded / name, response_model(tools))
    recorded_content = json.loads((recorded / name).read_text())["content"]
    assert calls.assistant_message() == {"role": "assistant", "content": recorded_content}
    results = calls.tool_results(["done"] * len(calls))
    assert [b["tool_use_id"] for b in results[0]["content"]] == [
        b["id"] for b in recorded_content[1:]
    ]


def test_streamed_and_whole_recordings_of_one_scenario_agree(
    fake: FakeProvider, recorded: Path
) -> None:
    model = response_model(recorded_tools(recorded / "README.md")[SECRETS])
    whole = replay(fake, recorded / SECRETS, model)
    streamed = replay(fake, recorded / SECRETS_STREAM, model)
    assert list(streamed) == list(whole)
    assert [(c.name, c.arguments) for c in streamed.calls] == [
        (c.name, c.arguments) for c in whole.calls
    ]
    assert (streamed.text, streamed.usage) == (whole.text, whole.usage)


def test_cut_off_stream_recording_is_a_dropped_connection(fake: FakeProvider, recorded: Path) -> None:
    """The recorded stream stopped just before its second call's `content_block_stop`: the
    second call, whose JSON had closed, is out; then the cut (no `message_delta`, so no stop
    reason) is a ProviderError, as a dropped connection is on every provider."""
    data = (recorded / SECRETS_STREAM).read_bytes()
    cut = data[: data.rindex(b"event: content_block_stop")]
    fake.push(stream_response([cut], content_type="text/event-stream"))
    model = response_model(recorded_tools(recorded / "README.md")[SECRETS])
    stream = claude_client(fake).create_iterable(messages=USER, response_model=model)
    assert next(stream).password == "mellon"
    assert next(stream).password == "radiance"
    with pytest.raises(polycall.ProviderError, match="ended before its message_delta"):
        next(stream)
