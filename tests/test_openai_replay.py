"""Real recorded OpenAI-Chat-format responses (OpenAI, Groq, DeepSeek, Mistral, Ollama, OpenRouter,
Gemini's OpenAI endpoint, an OpenAI-compatible gateway, Azure) replayed through the real SDK.

The tool models mirror the tool definitions recorded with each file (see the recorded README).
`.json` bodies are served whole, `.sse` streams byte for byte, `.jsonl` chunks as `data:` events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import BaseModel, ConfigDict, Field

import polycall
from polycall import (
    IncompleteOutputError,
    NoToolCallsError,
    PolycallError,
    RefusalError,
    ValidationFailed,
)
from polycall.testing import FakeProvider, Response, json_response, stream_response
from polycall.testing.openai import chat_completion

# --- tool models, as recorded -------------------------------------------------------------


class SecretRetrievalTool(BaseModel):
    """A tool that requires a password to retrieve a secret."""

    model_config = ConfigDict(title="secret_retrieval_tool", extra="forbid")
    password: str


class GetWeather(BaseModel):
    model_config = ConfigDict(title="get_weather", extra="forbid")
    city: str


class GetCountry(BaseModel):
    model_config = ConfigDict(title="get_country", extra="forbid")


class GetProductName(BaseModel):
    model_config = ConfigDict(title="get_product_name", extra="forbid")


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    answer: str


class FinalAnswers(BaseModel):
    """The final response which ends this conversation"""

    model_config = ConfigDict(title="final_result", extra="forbid")
    answers: list[Answer]


class CityInfo(BaseModel):
    """The final response which ends this conversation"""

    model_config = ConfigDict(title="final_result")
    city: str
    summary: str


class CityCountry(BaseModel):
    """The final response which ends this conversation"""

    model_config = ConfigDict(title="final_result", extra="forbid")
    city: str
    country: str


class LoadCapability(BaseModel):
    """Load a capability to access its full instructions and tools."""

    model_config = ConfigDict(title="load_capability", extra="forbid")
    id: str = Field(description="The id of the capability to load.")


class GetPlayerName(BaseModel):
    """Get the player's name."""

    model_config = ConfigDict(title="get_player_name", extra="forbid")


class RollDice(BaseModel):
    """Roll a six-sided die and return the result."""

    model_config = ConfigDict(title="roll_dice", extra="forbid")


class SearchTools(BaseModel):
    """There are additional tools not yet visible to you."""

    model_config = ConfigDict(title="search_tools", extra="forbid")
    queries: list[str]


class GetCurrentTime(BaseModel):
    """Get the current time."""

    model_config = ConfigDict(title="get_current_time", extra="forbid")


class FindEducationContent(BaseModel):
    model_config = ConfigDict(title="find_education_content")
    title: str | None = None


class ReadFile(BaseModel):
    model_config = ConfigDict(title="read_file")
    path: str


class FsFindFiles(BaseModel):
    """Finds file matching a glob pattern."""

    model_config = ConfigDict(title="fs_find_files")
    glob: str = Field(
        description="Search path in glob format, including the relative path from the project "
        "root folder."
    )
    pattern: str | None = Field(
        None, description="Optional regular expression pattern to search for in the file content."
    )


class Weather(BaseModel):
    """Get the weather in a location (the vercel/ai example tool: not recorded with the files)."""

    model_config = ConfigDict(title="weather")
    location: str


class WeatherAnywhere(BaseModel):
    """`weather` with an optional location, for the recording that calls it with `{}`."""

    model_config = ConfigDict(title="weather")
    location: str | None = None


class WebSearchTool(BaseModel):
    model_config = ConfigDict(title="webSearchTool")
    query: str


SECRET = Iterable[SecretRetrievalTool]
PYDANTIC_AI_TOOLS = Iterable[GetWeather | GetCountry | GetProductName | FinalAnswers]
GROQ_TOOLS = Iterable[GetWeather | CityInfo]
DEEPSEEK_TOOLS = Iterable[LoadCapability | GetPlayerName | RollDice | SearchTools]

# --- serving the files --------------------------------------------------------------------


def served(path: Path) -> Response:
    """The recorded file as the fake provider's response."""
    data = path.read_bytes()
    if path.suffix == ".json":
        return json_response(data)
    if path.suffix == ".sse":
        events = [event + b"\n\n" for event in data.split(b"\n\n") if event.strip()]
        assert b"".join(events).strip() == data.strip()
        return stream_response(events, content_type="text/event-stream")
    lines = [line for line in data.decode().splitlines() if line.strip()]
    return stream_response(
        [f"data: {line}\n\n" for line in lines] + ["data: [DONE]\n\n"], "text/event-stream"
    )


def make_client(fake: FakeProvider, *, is_async: bool = False) -> Any:
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return polycall.from_openai(cls(base_url=fake.url + "/v1", api_key="test", max_retries=0))


def create_kwargs(response_model: Any) -> dict[str, Any]:
    return {
        "model": "recorded",
        "messages": [{"role": "user", "content": "replay"}],
        "response_model": response_model,
    }


def replay(fake: FakeProvider, recorded: Path, name: str, response_model: Any) -> Any:
    """`create` for a `.json` file, `create_iterable` (then `.result`) for a stream."""
    fake.push(served(recorded / name))
    client = make_client(fake)
    if name.endswith(".json"):
        return client.create(**create_kwargs(response_model))
    stream = client.create_iterable(**create_kwargs(response_model))
    values = list(stream)
    result = stream.result
    assert values == list(result)  # each call was yielded, in order
    return result


async def areplay(fake: FakeProvider, recorded: Path, name: str, response_model: Any) -> Any:
    fake.push(served(recorded / name))
    client = make_client(fake, is_async=True)
    if name.endswith(".json"):
        return await client.create(**create_kwargs(response_model))
    stream = client.create_iterable(**create_kwargs(response_model))
    values = [value async for value in stream]
    assert values == list(stream.result)
    return stream.result


def triples(calls: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [(c.id, c.name, c.arguments) for c in calls.calls]


# --- calls --------------------------------------------------------------------------------

CALLS: dict[str, tuple[Any, list[tuple[str, str, dict[str, Any]]], tuple[int, int]]] = {
    "openai_chat_json_two_secret_retrieval_calls.json": (
        SECRET,
        [
            ("call_v6LacIrChvs6ITVpIZqy5tFc", "secret_retrieval_tool", {"password": "mellon"}),
            ("call_onyWzk4mLTGKzW9cthmf4Llq", "secret_retrieval_tool", {"password": "radiance"}),
        ],
        (75, 53),
    ),
    "openai_chat_stream_two_secret_retrieval_calls.sse": (
        SECRET,
        [
            ("call_M26z19sncd7b4LBgzKRRbaUE", "secret_retrieval_tool", {"password": "mellon"}),
            ("call_KPXe5NX7IcKkaBUhc6dto2QV", "secret_retrieval_tool", {"password": "radiance"}),
        ],
        (75, 53),
    ),
    "openai_chat_stream_two_noarg_calls_different_tools.sse": (
        PYDANTIC_AI_TOOLS,
        [
            ("call_q2UyBRP7eXNTzAoR8lEhjc9Z", "get_country", {}),
            ("call_b51ijcpFkDiTQG1bQzsrmtW5", "get_product_name", {}),
        ],
        (364, 40),
    ),
    "groq_chat_json_two_calls_different_tools.json": (
        GROQ_TOOLS,
        [
            ("rew01jq49", "get_weather", {"city": "Paris"}),
            ("gbpypqxpx", "final_result", {"city": "Paris", "summary": "Current weather in Paris"}),
        ],
        (779, 65),
    ),
    "groq_chat_stream_whole_call_in_one_chunk.jsonl": (
        Iterable[WeatherAnywhere],
        [
            ("tk85n1k4m", "weather", {}),
        ],
        (210, 15),
    ),
    "deepseek_chat_json_two_noarg_calls_with_index.json": (
        DEEPSEEK_TOOLS,
        [
            ("call_00_6edlnw3Z1MgeMfey687g8451", "get_player_name", {}),
            ("call_01_km02sac7sHxNDPATKLZy7705", "roll_dice", {}),
        ],
        (875, 79),
    ),
    "deepseek_chat_stream_reasoning_then_tool_call.jsonl": (
        Iterable[Weather],
        [
            ("call_00_ioIn7yN9p1ZOMNpDLwd4MgAF", "weather", {"location": "San Francisco"}),
        ],
        (339, 83),
    ),
    "mistral_chat_stream_no_index_no_type_single_chunk.jsonl": (
        Iterable[Weather],
        [
            ("gSIMJiOkT", "weather", {"location": "San Francisco"}),
        ],
        (124, 22),
    ),
    "mistral_chat_stream_idless_continuation_chunk.jsonl": (
        Iterable[WebSearchTool],
        [
            (
                "chatcmpl-tool-9f149c74c42f265b",
                "webSearchTool",
                {"query": "current Berlin weather"},
            ),
        ],
        (171, 14),
    ),
    "ollama_chat_json_single_call_with_index.json": (
        Iterable[CityCountry],
        [
            ("call_o2vnpxrw", "final_result", {"city": "Paris", "country": "France"}),
        ],
        (206, 194),
    ),
    "openrouter_chat_json_tool_call_without_arguments.json": (
        Iterable[FindEducationContent],
        [
            ("toolu_vrtx_015QAXScZzRDPttiPoc34AdD", "find_education_content", {}),
        ],
        (568, 48),
    ),
    "geminiopenai_chat_json_empty_tool_call_id.json": (
        Iterable[GetCurrentTime],
        [
            ("call_1_0", "get_current_time", {}),  # the recorded id is "": a stable one is made
        ],
        (35, 12),
    ),
    "openaicompat_chat_stream_first_tool_index_one.sse": (
        Iterable[ReadFile],
        [
            ("toolu_sanitized", "read_file", {"path": "a.txt"}),
        ],
        (0, 0),
    ),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_recorded_calls(fake: FakeProvider, recorded: Path, name: str) -> None:
    response_model, expected, usage = CALLS[name]
    calls = replay(fake, recorded, name, response_model)
    assert triples(calls) == expected
    assert (calls.usage.input_tokens, calls.usage.output_tokens) == usage
    answers = calls.tool_results(["done"] * len(expected))
    assert [m["tool_call_id"] for m in answers] == [call_id for call_id, _, _ in expected]


@pytest.mark.parametrize("name", list(CALLS))
async def test_recorded_calls_async(fake: FakeProvider, recorded: Path, name: str) -> None:
    response_model, expected, _ = CALLS[name]
    assert triples(await areplay(fake, recorded, name, response_model)) == expected


def test_recorded_values_are_the_models(fake: FakeProvider, recorded: Path) -> None:
    calls = replay(fake, recorded, "groq_chat_json_two_calls_different_tools.json", GROQ_TOOLS)
    assert list(calls) == [
        GetWeather(city="Paris"),
        CityInfo(city="Paris", summary="Current weather in Paris"),
    ]
    found = replay(
        fake,
        recorded,
        "openrouter_chat_json_tool_call_without_arguments.json",
        Iterable[FindEducationContent],
    )
    assert list(found) == [FindEducationContent(title=None)]
    assert found.text == "I'll search for education content for you."


def test_recorded_text_next_to_calls_is_kept(fake: FakeProvider, recorded: Path) -> None:
    calls = replay(
        fake, recorded, "deepseek_chat_json_two_noarg_calls_with_index.json", DEEPSEEK_TOOLS
    )
    assert calls.text == "Let me get your name and roll the die!"
    assert calls.assistant_message()["content"] == "Let me get your name and roll the die!"
    streamed = replay(
        fake, recorded, "openaicompat_chat_stream_first_tool_index_one.sse", Iterable[ReadFile]
    )
    assert streamed.text == "Reading it."


def test_streaming_and_json_recordings_agree(fake: FakeProvider, recorded: Path) -> None:
    whole = replay(fake, recorded, "openai_chat_json_two_secret_retrieval_calls.json", SECRET)
    streamed = replay(fake, recorded, "openai_chat_stream_two_secret_retrieval_calls.sse", SECRET)
    assert list(whole) == list(streamed)
    assert [(c.name, c.arguments) for c in whole.calls] == [
        (c.name, c.arguments) for c in streamed.calls
    ]
    assert whole.usage == streamed.usage


def test_recorded_stream_is_yielded_call_by_call(fake: FakeProvider, recorded: Path) -> None:
    """Each recorded call is yielded at the chunk that closes its arguments, before the next
    call starts."""
    fake.push(served(recorded / "openai_chat_stream_two_secret_retrieval_calls.sse"))
    client = make_client(fake)
    fed: list[Any] = []  # the chunks the stream's assembler has been fed so far
    make_assembler = client.adapter.assembler

    def watched() -> Any:
        assembler = make_assembler()
        feed = assembler.feed
        assembler.feed = lambda chunk: (fed.append(chunk), feed(chunk))[1]
        return assembler

    client.adapter.assembler = watched
    yielded_after = [len(fed) for _ in client.create_iterable(**create_kwargs(SECRET))]
    # chunk 7 closes the first call's JSON (chunk 8 starts the second); chunk 13 the second's
    assert yielded_after == [7, 13]
    assert len(fed) == 15  # then the usage chunk


def test_the_recorded_parallel_wrapper_is_unwrapped(fake: FakeProvider, recorded: Path) -> None:
    pasted = json.loads(
        (recorded / "openai_chat_json_multi_tool_use_parallel_toolcall_only.json").read_text()
    )
    entry = {
        "id": pasted["id"],
        "type": "function",
        "function": {"name": pasted["name"], "arguments": pasted["arguments"]},
    }
    fake.push(chat_completion(tool_calls=[entry]))
    calls = make_client(fake).create(**create_kwargs(Iterable[FsFindFiles]))
    globs = [
        "src/content/docs/**/*.md",
        "src/content/docs/**/*.mdx",
        "../packages/sample/src/*.genai.{js,mjs}",
        "src/assets/*.txt",
    ]
    assert triples(calls) == [
        (f"call_D48fudXi4oBxQ2rNeHhpwIKh_{k}", "fs_find_files", {"glob": glob})
        for k, glob in enumerate(globs)
    ]
    assert list(calls) == [FsFindFiles(glob=glob) for glob in globs]


def test_recorded_call_against_a_stricter_schema_fails_by_call_id(
    fake: FakeProvider, recorded: Path
) -> None:
    """The Groq recording calls `weather` with `{}`; with `location` required that call fails."""
    with pytest.raises(
        ValidationFailed, match=r"call tk85n1k4m \(weather\): location: Field required"
    ) as info:
        replay(fake, recorded, "groq_chat_stream_whole_call_in_one_chunk.jsonl", Iterable[Weather])
    assert list(info.value.errors) == ["tk85n1k4m"]


# --- typed errors -------------------------------------------------------------------------

ERRORS: dict[str, tuple[Any, type[PolycallError], dict[str, Any]]] = {
    "openai_chat_json_text_only_tools_offered.json": (
        SECRET,
        NoToolCallsError,
        {
            "text": "The secrets associated with the passwords are as follows:\n"
            '- For "mellon": Welcome to Moria!\n'
            '- For "radiance": Life before Death'
        },
    ),
    "openai_chat_json_refusal_structured_output.json": (
        SECRET,
        RefusalError,
        {"reason": "I'm very sorry, but I can't assist with that request."},
    ),
    "openai_chat_json_finish_length_text.json": (
        SECRET,
        IncompleteOutputError,
        {"reason": "length"},
    ),
    "azure_chat_stream_leading_empty_choices_text_only.jsonl": (
        SECRET,
        NoToolCallsError,
        {"text": "Capital of Denmark."},
    ),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_recorded_errors(fake: FakeProvider, recorded: Path, name: str) -> None:
    response_model, error, attributes = ERRORS[name]
    with pytest.raises(error) as info:
        replay(fake, recorded, name, response_model)
    for key, value in attributes.items():
        assert getattr(info.value, key) == value
    assert info.value.raw is not None


@pytest.mark.parametrize("name", list(ERRORS))
async def test_recorded_errors_async(fake: FakeProvider, recorded: Path, name: str) -> None:
    response_model, error, _ = ERRORS[name]
    with pytest.raises(error):
        await areplay(fake, recorded, name, response_model)


def test_every_openai_chat_format_recording_is_replayed(recorded: Path) -> None:
    prefixes = (
        "openai_chat_",
        "groq_",
        "deepseek_",
        "mistral_",
        "ollama_",
        "openrouter_",
        "geminiopenai_",
        "openaicompat_",
        "azure_",
    )
    files = {p.name for p in recorded.iterdir() if p.name.startswith(prefixes)}
    covered = (
        set(CALLS) | set(ERRORS) | {"openai_chat_json_multi_tool_use_parallel_toolcall_only.json"}
    )
    assert files == covered
