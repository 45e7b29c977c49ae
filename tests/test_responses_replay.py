"""Recorded OpenAI Responses API bodies and streams, replayed through the real SDK.

The tool models are built from the tool definitions the recorded README lists for each file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional, Union

import openai
import pytest
from pydantic import BaseModel, create_model

import polycall
from polycall import Mode
from polycall.testing import FakeProvider, Gate, json_response, stream_response
from polycall.testing.server import GATE_TIMEOUT

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}

SECRET_JSON = "openai_responses_json_two_secret_retrieval_calls.json"
SECRET_STREAM = "openai_responses_stream_two_secret_retrieval_calls.sse"
FIVE_CALLS = "openai_responses_json_reasoning_then_five_parallel_calls.json"

EXPECTED: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    SECRET_JSON: [
        ("call_bzXaB1HDWsWy7n6bMrxJzNNa", "secret_retrieval_tool", {"password": "mellon"}),
        ("call_Dd4wvykCr6NttXKxRK0BFH96", "secret_retrieval_tool", {"password": "radiance"}),
    ],
    SECRET_STREAM: [
        ("call_sKC7OABqf2A2PTLCm0CLeRWV", "secret_retrieval_tool", {"password": "mellon"}),
        ("call_OdR3s3xop0vtgkDyWRMLafuH", "secret_retrieval_tool", {"password": "radiance"}),
    ],
    FIVE_CALLS: [
        ("call_WbWwKw4J6EXQ7Sn93fgmuZe3", "db_lookup", {"key": "begin"}),
        ("call_et3hsNc1ipjCfuBylmAwqkEy", "db_lookup", {"key": "value"}),
        ("call_J4rpPS0QEz4CIdsVGKEKG6k3", "db_lookup", {"key": "the value 7"}),
        ("call_gd2cYY61KkICSgB6qNd7ZC66", "db_lookup", {"key": "Begin with the value 7."}),
        ("call_nInKAmdZObYpqc3OR3WC61K3", "db_lookup", {"key": "start2"}),
    ],
}
USAGE = {SECRET_JSON: (36, 54), SECRET_STREAM: (36, 54), FIVE_CALLS: (532, 119)}


def tool_definitions(recorded: Path, name: str) -> list[dict[str, Any]]:
    """The `tools` the README records for `name` (following "Same `tools` as `other`")."""
    readme = (recorded / "README.md").read_text()
    section = readme.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
    same = re.search(r"Same `tools` as `([^`]+)`", section)
    if same:
        return tool_definitions(recorded, same.group(1))
    block = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert block, f"no tool definitions for {name} in the recorded README"
    tools: list[dict[str, Any]] = json.loads(block.group(1))
    return tools


def tool_models(tools: list[dict[str, Any]]) -> Any:
    """`Iterable[A | B | ...]` of pydantic models matching the recorded function tools."""
    models = []
    for tool in tools:
        schema = tool["parameters"]
        required = set(schema.get("required", []))
        fields: dict[str, Any] = {
            field: (_JSON_TYPES[spec["type"]], ...)
            if field in required
            else (Optional[_JSON_TYPES[spec["type"]]], None)  # noqa: UP045 - runtime type
            for field, spec in schema["properties"].items()
        }
        models.append(create_model(tool["name"], __doc__=tool.get("description"), **fields))
    return Iterable[Union[tuple(models)]]  # type: ignore[valid-type]  # noqa: UP007


def client(fake: FakeProvider, *, is_async: bool = False) -> Any:
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return polycall.from_openai(
        cls(base_url=fake.url + "/v1", api_key="test", max_retries=0),
        mode=Mode.RESPONSES_PARALLEL_TOOLS,
        model="gpt-4o",
    )


def recorded_events(path: Path) -> list[bytes]:
    """The recorded stream, one SSE event per chunk, bytes as recorded."""
    return [event + b"\n\n" for event in path.read_bytes().split(b"\n\n") if event.strip()]


def push(fake: FakeProvider, path: Path) -> None:
    if path.suffix == ".json":
        fake.push(json_response(json.loads(path.read_text())))
    else:
        fake.push(stream_response(recorded_events(path), content_type="text/event-stream"))


def as_tuples(calls: polycall.ToolCalls[Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(c.id, c.name, c.arguments) for c in calls.calls]


def test_every_recorded_responses_file_is_replayed(recorded: Path) -> None:
    assert {p.name for p in recorded.glob("openai_responses_*")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_replay_sync(fake: FakeProvider, recorded: Path, name: str) -> None:
    tools = tool_definitions(recorded, name)
    response_model = tool_models(tools)
    push(fake, recorded / name)
    polycall_client = client(fake)

    if name.endswith(".sse"):
        stream = polycall_client.create_iterable(input="go", response_model=response_model)
        values = list(stream)
        calls = stream.result
    else:
        calls = polycall_client.create(input="go", response_model=response_model)
        values = list(calls)

    assert as_tuples(calls) == EXPECTED[name]
    assert [v.model_dump() for v in values] == [args for _, _, args in EXPECTED[name]]
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == USAGE[name]
    sent = fake.last.json["tools"]
    assert [(t["name"], t["description"]) for t in sent] == [
        (t["name"], t["description"]) for t in tools
    ]
    assert all(t["strict"] is False for t in sent)


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_replay_async(fake: FakeProvider, recorded: Path, name: str) -> None:
    response_model = tool_models(tool_definitions(recorded, name))
    push(fake, recorded / name)
    polycall_client = client(fake, is_async=True)

    if name.endswith(".sse"):
        stream = polycall_client.create_iterable(input="go", response_model=response_model)
        values = [v async for v in stream]
        calls = stream.result
    else:
        calls = await polycall_client.create(input="go", response_model=response_model)
        values = list(calls)

    assert as_tuples(calls) == EXPECTED[name]
    assert len(values) == len(EXPECTED[name])


def test_recorded_stream_yields_the_first_call_before_the_second_arrives(
    fake: FakeProvider, recorded: Path
) -> None:
    events = recorded_events(recorded / SECRET_STREAM)
    first_done = next(
        i for i, e in enumerate(events) if e.startswith(b"event: response.output_item.done")
    )
    gate = Gate()
    fake.push(
        stream_response(
            [*events[: first_done + 1], gate, *events[first_done + 1 :]],
            content_type="text/event-stream",
        )
    )
    stream = client(fake).create_iterable(
        input="go", response_model=tool_models(tool_definitions(recorded, SECRET_STREAM))
    )
    first = next(stream)  # while the server holds the second call back at the gate
    assert gate.reached.wait(GATE_TIMEOUT)
    gate.open()
    rest = list(stream)
    assert not gate.timed_out
    assert [first.model_dump(), *(v.model_dump() for v in rest)] == [
        {"password": "mellon"},
        {"password": "radiance"},
    ]


def test_recorded_stream_and_its_final_response_agree(fake: FakeProvider, recorded: Path) -> None:
    events = recorded_events(recorded / SECRET_STREAM)
    completed = next(e for e in events if e.startswith(b"event: response.completed"))
    final = json.loads(completed.split(b"data: ", 1)[1])["response"]
    response_model = tool_models(tool_definitions(recorded, SECRET_STREAM))
    push(fake, recorded / SECRET_STREAM)
    fake.push(json_response(final))
    polycall_client = client(fake)

    stream = polycall_client.create_iterable(input="go", response_model=response_model)
    streamed = list(stream)
    whole = polycall_client.create(input="go", response_model=response_model)

    assert streamed == list(whole)
    assert stream.result.calls == whole.calls
    assert stream.result.usage == whole.usage


def test_recorded_json_and_stream_agree_on_the_calls(fake: FakeProvider, recorded: Path) -> None:
    response_model = tool_models(tool_definitions(recorded, SECRET_JSON))
    push(fake, recorded / SECRET_JSON)
    push(fake, recorded / SECRET_STREAM)
    polycall_client = client(fake)
    whole = polycall_client.create(input="go", response_model=response_model)
    streamed = list(polycall_client.create_iterable(input="go", response_model=response_model))
    assert streamed == list(whole)


def test_recorded_calls_answer_back(fake: FakeProvider, recorded: Path) -> None:
    response_model = tool_models(tool_definitions(recorded, FIVE_CALLS))
    push(fake, recorded / FIVE_CALLS)
    calls = client(fake).create(input="go", response_model=response_model)
    replies = calls.tool_results([f"value {i}" for i in range(5)])
    assert [r["call_id"] for r in replies] == [call_id for call_id, _, _ in EXPECTED[FIVE_CALLS]]
    assert all(isinstance(v, BaseModel) for v in calls)
