"""What the fuzzing found, in its smallest form, for each provider API: fixed ones kept as
regression tests, open ones marked xfail (and their crash listed in fuzzing.KNOWN_CRASHES)
until fixed; and the Vertex AI SDK, which shares Gemini's parsing, fuzzed over HTTP to the
fake. A provider's tests are skipped when its SDK is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polycall
from fuzz_wires import load, needs
from fuzzing import (
    Call,
    Frame,
    Scenario,
    budget,
    dumps,
    mutated_frames,
    mutated_tree,
    nested_text,
    pieces,
    run,
    sse_bytes,
)
from helpers import vertexai_at
from polycall import UnknownToolError, ValidationFailed
from polycall.testing import FakeProvider, Response
from polycall.testing.gemini import json_array_stream, stream_chunks
from polycall.testing.openai import chat_completion

#: google-genai warns about each finish reason it has no name for; the fuzzing sends many.
pytestmark = pytest.mark.filterwarnings("ignore:.* is not a valid FinishReason:UserWarning")

#: Each provider's wire module (None without its SDK, whose tests are then skipped).
chat, responses, messages, gemini = (
    load(name) for name in ("openai", "openai_responses", "anthropic", "gemini")
)


def _body_with(path: tuple[Any, ...], value: Any) -> Any:
    data = chat.body(Scenario((Call("GoogleSearch", {"query": "q"}, "call_q"),)))
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return data


def _chunks_with(chunk: dict[str, Any]) -> list[bytes]:
    frames = chat.CHAT.frames(Scenario((Call("GoogleSearch", {"query": "q"}, "call_q"),)), 40)
    return sse_bytes([*frames[:2], Frame(chunk), *frames[2:]])


class TestOpenAI:
    """OpenAI Chat Completions."""

    pytestmark = needs("openai")

    def test_deep_arguments_fail_their_call_only(self) -> None:
        deep = Scenario(
            (
                Call("Weather", nested_text(5000), "call_deep"),
                Call("GoogleSearch", {"query": "q"}, "call_ok"),
            )
        )
        outcome = chat.CHAT.run_body(chat.body(deep), known=())
        assert isinstance(outcome.error, ValidationFailed)
        assert list(outcome.error.errors) == ["call_deep"]

    def test_tool_name_not_text_is_an_unknown_tool(self) -> None:
        tool_calls = [
            {"id": "call_x", "type": "function", "function": {"name": {"a": 1}, "arguments": "{}"}}
        ]
        outcome = chat.CHAT.run_body(chat_completion(tool_calls=tool_calls).body, known=())
        assert isinstance(outcome.error, UnknownToolError)
        assert list(outcome.error.errors) == ["call_x"]

    @pytest.mark.parametrize("call_id", [{"a": 1}, 7])
    def test_call_id_not_text_gets_a_text_id(self, call_id: Any) -> None:
        tool_calls = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": "GoogleSearch", "arguments": '{"query": "q"}'},
            }
        ]
        outcome = chat.CHAT.run_body(chat_completion(tool_calls=tool_calls).body, known=())
        assert outcome.result is not None and isinstance(outcome.result.calls[0].id, str)

    @pytest.mark.parametrize(
        "wrong",
        [
            ("chat.body", ("choices", 0, "finish_reason"), 7),
            ("chat.body", ("choices", 0, "message", "tool_calls"), 7),
            (
                "stream",
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "m",
                    "choices": 7,
                },
                None,
            ),
            (
                "stream",
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "m",
                    "choices": [{"index": 0, "delta": {"tool_calls": 7}}],
                },
                None,
            ),
        ],
        ids=["finish_reason", "tool_calls", "chunk_choices", "delta_tool_calls"],
    )
    def test_fields_of_the_wrong_type_are_no_crash(self, wrong: tuple[str, Any, Any]) -> None:
        where, path, value = wrong
        if where == "chat.body":
            chat.CHAT.run_body(_body_with(path, value), known=())
        else:
            chat.CHAT.run_frames((), chunks=_chunks_with(path), known=())

    def test_message_content_not_text_is_no_crash(self) -> None:
        chat.CHAT.run_body(
            _body_with(("choices", 0, "message"), {"role": "assistant", "content": True}), known=()
        )

    @pytest.mark.parametrize("field", ["content", "refusal"])
    def test_delta_text_not_text_is_no_crash(self, field: str) -> None:
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {field: 7}}],
        }
        chat.CHAT.run_frames((), chunks=_chunks_with(chunk), known=())


class TestResponses:
    """OpenAI Responses."""

    pytestmark = needs("openai_responses")

    def test_usage_not_a_number_is_no_crash(self) -> None:
        data = responses.body(Scenario((Call("GoogleSearch", {"query": "q"}, "call_q"),)))
        data["usage"]["input_tokens"] = "many"
        responses.RESPONSES.run_body(data, known=())

    @pytest.mark.parametrize("where", ["output", "content", "text", "delta"])
    def test_fields_of_the_wrong_type_are_no_crash(self, where: str) -> None:
        scenario = Scenario((Call("GoogleSearch", {"query": "q"}, "call_q"),), text="Searching.")
        if where == "delta":
            stream = responses.RESPONSES.frames(scenario, 4)
            at = next(i for i, f in enumerate(stream) if "arguments.delta" in (f.event or ""))
            wrong = Frame({**stream[at].data, "delta": True}, stream[at].event)
            responses.RESPONSES.run_frames([*stream[:at], wrong, *stream[at + 1 :]], known=())
            return
        data = responses.body(scenario)
        if where == "output":
            data["output"] = True
        else:
            message = next(item for item in data["output"] if item["type"] == "message")
            if where == "content":
                message["content"] = True
            else:
                message["content"][0]["text"] = True
        responses.RESPONSES.run_body(data, known=())

    def test_incomplete_reason_not_text_is_no_crash(self) -> None:
        data = responses.body(Scenario((Call("GoogleSearch", {"query": "q"}, "call_q"),)))
        data.update(status="incomplete", incomplete_details={"reason": ["max_output_tokens"]})
        responses.RESPONSES.run_body(data, known=())


class TestAnthropic:
    """Anthropic Messages."""

    pytestmark = needs("anthropic")

    def test_a_stream_cut_between_two_calls_is_an_error(self) -> None:
        scenario = Scenario(
            (
                Call("Weather", {"location": "A", "units": "metric"}, "toolu_1"),
                Call("GoogleSearch", {"query": "q"}, "toolu_2"),
            )
        )
        stream = messages.MESSAGES.frames(scenario, 100)
        assert [f.event for f in stream[4:6]] == ["content_block_stop", "content_block_start"]
        outcome = messages.MESSAGES.run_frames(
            stream[:5]
        )  # the connection drops after the first call
        assert isinstance(outcome.error, polycall.ProviderError), outcome.calls()

    @pytest.mark.parametrize("partial", [False, True])
    def test_partial_json_not_text_is_no_crash(self, partial: bool) -> None:
        stream = messages.MESSAGES.frames(
            Scenario((Call("GoogleSearch", {"query": "q"}, "toolu_1"),)), 100
        )
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": {"query": "q"}},
        }
        wrong = [*stream[:2], Frame(delta, "content_block_delta"), *stream[2:]]
        messages.MESSAGES.run_frames(wrong, partial=partial, known=())

    @pytest.mark.parametrize("where", ["stop_reason", "streamed stop_reason", "index"])
    def test_fields_of_the_wrong_type_are_no_crash(self, where: str) -> None:
        scenario = Scenario((Call("GoogleSearch", {"query": "q"}, "toolu_1"),))
        if where == "stop_reason":
            messages.MESSAGES.run_body(
                {**messages.body(scenario), "stop_reason": {"a": 1}}, known=()
            )
            return
        stream = messages.MESSAGES.frames(scenario, 100)
        event = "message_delta" if where == "streamed stop_reason" else "content_block_start"
        at = next(i for i, f in enumerate(stream) if f.event == event)
        data = stream[at].data
        if event == "message_delta":
            data = {**data, "delta": {**data["delta"], "stop_reason": {"a": 1}}}
        else:
            data = {**data, "index": [0]}
        messages.MESSAGES.run_frames(
            [*stream[:at], Frame(data, event), *stream[at + 1 :]], known=()
        )

    @pytest.mark.parametrize("streamed", [False, True])
    def test_text_not_text_is_no_crash(self, streamed: bool) -> None:
        scenario = Scenario((Call("GoogleSearch", {"query": "q"}, "toolu_1"),), text="Searching.")
        if not streamed:
            data = messages.body(scenario)
            data["content"][0]["text"] = 7
            messages.MESSAGES.run_body(data, known=())
            return
        stream = messages.MESSAGES.frames(scenario, 100)
        at = next(i for i, f in enumerate(stream) if f.event == "content_block_start")
        start = {**stream[at].data, "content_block": {"type": "text", "text": 7}}
        messages.MESSAGES.run_frames(
            [*stream[:at], Frame(start, stream[at].event), *stream[at + 1 :]], known=()
        )


class TestGemini:
    """Gemini, and the Vertex AI SDK over HTTP to the fake."""

    pytestmark = needs("gemini")

    @pytest.fixture
    def vertex(self, fake: FakeProvider) -> Iterator[Any]:
        """A `from_vertexai` client on the fake (skipped without the vertexai extra)."""
        with vertexai_at(fake):
            from vertexai.generative_models import GenerativeModel

            yield polycall.from_vertexai(GenerativeModel("gemini-2.5-flash"))

    @pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning")
    @settings(budget(0.1), suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.data(), st.booleans(), pieces, st.booleans())
    def test_vertex_ai_gives_calls_or_a_polycall_error(
        self,
        fake: FakeProvider,
        vertex: Any,
        data: st.DataObject,
        mutate: bool,
        piece: int,
        streamed_args: bool,
    ) -> None:
        """Valid responses give exactly their calls; mutated ones, calls or a PolycallError."""
        scenario = data.draw(gemini.VALID if not mutate else gemini.VALID | gemini.HOSTILE)
        whole = gemini.body(scenario)
        chunks = stream_chunks(
            gemini.calls(scenario),
            text=scenario.text,
            finish_reason=scenario.finish or "STOP",
            piece=piece,
            streamed_args=streamed_args,
        )
        if mutate:
            whole = data.draw(mutated_tree(whole))
            chunks = [frame.data for frame in data.draw(mutated_frames([Frame(c) for c in chunks]))]
        fake.push(Response(body=dumps(whole)), json_array_stream(dumps(c) for c in chunks))
        outcomes = [run(vertex, stream=streamed) for streamed in (False, True)]
        if not mutate:
            assert [o.calls() for o in outcomes] == [scenario.expected()] * 2

    def test_an_empty_function_call_part_reads_the_same_whole_and_streamed(self) -> None:
        gemini.GEMINI.check_agree(Scenario((Call("", {}),)), piece=10, max_retries=0)

    def test_a_stream_cut_between_two_calls_is_an_error(self) -> None:
        scenario = Scenario(
            (
                Call("Weather", {"location": "A", "units": "metric"}),
                Call("GoogleSearch", {"query": "q"}),
            )
        )
        stream = gemini.GEMINI.frames(scenario, 100)
        outcome = gemini.GEMINI.run_frames(stream[:1])  # the connection drops after the first call
        assert isinstance(outcome.error, polycall.ProviderError), outcome.calls()
