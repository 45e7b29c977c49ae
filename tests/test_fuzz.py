"""The fuzzing property tests, each run for every provider API the registry names a fake wire
for: OpenAI Chat Completions and Responses, Anthropic Messages, Gemini and Bedrock Converse.
Each provider's wire format, harness and scenario strategies are in its own
`fuzz_wires/<wire>.py`, what the fuzzing found there in
`test_fuzz_regressions.py`; the harness and the invariants are in `fuzzing.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_wires
from fuzz_wires import SDKS, load, needs
from fuzzing import (
    Encoding,
    Fuzzed,
    budget,
    cut_points,
    dumps,
    encodings,
    mutated_bytes,
    mutated_frames,
    mutated_tree,
    pieces,
    resplit,
    run,
)
from polycall.providers.registry import PROVIDERS
from polycall.testing import FakeProvider, Response

#: google-genai warns about each finish reason it has no name for; the fuzzing sends many.
pytestmark = pytest.mark.filterwarnings("ignore:.* is not a valid FinishReason:UserWarning")


def _provider(name: str) -> Any:
    wire = load(name)
    if wire is None:
        return pytest.param(None, id=name, marks=needs(name))
    fuzzed: Fuzzed = wire.FUZZED
    return pytest.param(fuzzed, id=name)


each_provider = pytest.mark.parametrize("provider", [_provider(name) for name in SDKS])


@each_provider
@budget()
@given(st.data(), encodings, cut_points, pieces, st.booleans())
def test_valid_response_gives_exactly_its_calls(
    provider: Fuzzed,
    data: st.DataObject,
    encoding: Encoding,
    cuts: list[int],
    piece: int,
    partial: bool,
) -> None:
    scenario = data.draw(provider.valid)
    harness = provider.pick(data)
    harness.check_valid(scenario, encoding=encoding, cuts=cuts, piece=piece, partial=partial)


@each_provider
def test_stream_cut_before_its_finish_is_an_error(provider: Fuzzed) -> None:
    # the hypothesis test is made here, as its phases are the provider's (e.g. no shrinking)
    phases = provider.cut_phases
    cut_settings = budget() if phases is None else settings(budget(), phases=phases)

    @cut_settings
    @given(st.data(), st.integers(0, 2**20), pieces, st.booleans())
    def cut(data: st.DataObject, at: int, piece: int, drop: bool) -> None:
        scenario = data.draw(provider.valid)
        harness = provider.pick(data)
        harness.check_cut(scenario, at=at, piece=piece, drop=drop)

    cut()


@each_provider
@budget()
@given(st.data(), pieces, st.integers(0, 1))
def test_json_and_stream_agree_on_hostile_calls(
    provider: Fuzzed, data: st.DataObject, piece: int, max_retries: int
) -> None:
    scenario = data.draw(provider.hostile)
    provider.pick(data).check_agree(scenario, piece=piece, max_retries=max_retries)


@each_provider
@budget()
@given(st.data())
def test_mutated_body_gives_calls_or_a_polycall_error(
    provider: Fuzzed, data: st.DataObject
) -> None:
    scenario = data.draw(provider.valid | provider.hostile)
    status = data.draw(st.sampled_from([200, 200, 200, *provider.error_statuses]))
    mutated = data.draw(mutated_tree(provider.body(scenario)))
    if data.draw(st.booleans()):
        provider.harness.run_body(mutated, status=status)
    else:
        chunks = [dumps(mutated).encode("utf-8", "surrogatepass")]
        provider.harness.run_body(None, chunks=data.draw(mutated_bytes(chunks)), status=status)


@each_provider
@budget()
@given(st.data(), pieces, st.booleans())
def test_mutated_stream_gives_calls_or_a_polycall_error(
    provider: Fuzzed, data: st.DataObject, piece: int, partial: bool
) -> None:
    scenario = data.draw(provider.valid | provider.hostile)
    harness = provider.pick(data)
    stream = data.draw(mutated_frames(harness.frames(scenario, piece)))
    chunks = harness.wire.stream_bytes(stream, Encoding())
    if data.draw(st.booleans()):
        chunks = data.draw(mutated_bytes(chunks))
    harness.run_frames((), chunks=chunks, partial=partial, max_retries=data.draw(st.integers(0, 1)))


@each_provider
@budget(0.3)
@given(st.data(), encodings, cut_points, pieces)
def test_async_client_agrees(
    provider: Fuzzed, data: st.DataObject, encoding: Encoding, cuts: list[int], piece: int
) -> None:
    valid, hostile = data.draw(provider.valid), data.draw(provider.hostile)
    harness = provider.harness
    harness.check_valid(
        valid, encoding=encoding, cuts=cuts, piece=piece, partial=False, is_async=True
    )
    harness.check_agree(hostile, piece=piece, max_retries=0, is_async=True)
    sync = harness.run_body(provider.body(hostile))
    assert sync.summary() == harness.run_body(provider.body(hostile), is_async=True).summary()


@each_provider
@settings(budget(0.1), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data(), encodings, cut_points, pieces)
def test_over_http_to_the_fake_provider(
    provider: Fuzzed,
    fake: FakeProvider,
    data: st.DataObject,
    encoding: Encoding,
    cuts: list[int],
    piece: int,
) -> None:
    scenario = data.draw(provider.valid)
    client = provider.over_http(fake.url)
    wire = provider.harness.wire
    stream = wire.stream_bytes(provider.harness.frames(scenario, piece), encoding)
    fake.push(
        Response(body=provider.body(scenario)),
        Response(chunks=resplit(stream, cuts), content_type=wire.stream_type),
    )
    for streamed in (False, True):
        outcome = run(client, stream=streamed, kwargs=provider.http_kwargs)
        assert outcome.calls() == scenario.expected()


def test_every_mode_of_the_registry_has_a_fuzz_wire() -> None:
    """A provider added to the registry is fuzzed: each mode's fake wire has its fuzz wire."""
    folder = Path(fuzz_wires.__file__).parent
    for descriptor in PROVIDERS:
        for mode in descriptor.modes:
            wire = descriptor.wires.get(mode)
            assert wire is not None, f"{descriptor.name}: {mode} names no fake wire"
            assert (folder / f"{wire}.py").is_file(), f"no fuzz wire fuzz_wires/{wire}.py"


def test_the_harness_fails_on_an_escaping_error() -> None:
    """The invariant can fail: an error that is not a PolycallError is reported."""

    class Broken:
        def create(self, **kwargs: Any) -> Any:
            raise KeyError("choices")

    with pytest.raises(AssertionError, match="KeyError escaped"):
        run(Broken(), stream=False)
