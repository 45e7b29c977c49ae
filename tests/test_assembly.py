"""The call buffer's JSON scan: a streamed call completes exactly where its text closes."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polycall.errors import ProviderError
from polycall.providers._assembly import Calls

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab{}[]"\\ \n:,é'),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text("k}]\"", max_size=3), inner, max_size=4),
    max_leaves=12,
)


def closes_at(text: str) -> int | None:
    """Where the object or array `text` starts with closes, read one character at a time:
    the index after its last bracket, or None."""
    start = len(text) - len(text.lstrip())
    if start == len(text) or text[start] not in "{[":
        return None
    depth, quoted, escaped = 0, False, False
    for i in range(start, len(text)):
        char = text[i]
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def complete(text: str) -> bool:
    """Whether `text` is one object or array, then only blanks."""
    end = closes_at(text)
    return end is not None and (end == len(text) or text[end:].isspace())


@st.composite
def streamed(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Arguments text (JSON, as compact or spaced as a server writes it, maybe with more
    after it, or loose characters) and the fragments it is streamed in."""
    if draw(st.booleans()):
        indent = draw(st.sampled_from([None, 1]))
        separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
        text = draw(st.sampled_from(["", " ", "\n"])) + json.dumps(
            draw(st.lists(JSON, max_size=3) | st.dictionaries(st.text(max_size=3), JSON, max_size=4)),
            indent=indent,
            separators=separators,
            ensure_ascii=draw(st.booleans()),
        )
        text += draw(st.sampled_from(["", " ", "\n ", " {}", "x", "]", '"']))
    else:
        text = draw(st.text(alphabet='{}[]"\\ a:,', max_size=30))
    cuts = sorted(draw(st.sets(st.integers(1, max(len(text) - 1, 1)), max_size=8)))
    bounds = [0, *(cut for cut in cuts if cut < len(text)), len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@given(streamed())
def test_a_call_completes_exactly_where_its_text_closes(case: tuple[str, list[str]]) -> None:
    _text, fragments = case  # the text, for hypothesis to show
    calls = Calls()
    call = calls.start(0, "c1", "Tool")
    so_far, out_at = "", None
    for fragment in fragments:
        was_complete = complete(so_far) if so_far else False
        so_far += fragment
        if was_complete and not complete(so_far):  # more than blanks after a closed value
            with pytest.raises(ProviderError, match="after they formed a complete JSON value"):
                calls.add(call, fragment)
            return
        calls.add(call, fragment)
        assert call.done is complete(so_far), so_far
        out_at = out_at or (so_far if call.done else None)
    assert list(calls.take()) == call.out  # handed out once it closed, and only then
    assert [raw.arguments for raw in call.out] == ([out_at] if out_at else [])


def test_a_value_that_closes_then_opens_again_in_one_fragment_never_completes() -> None:
    calls = Calls()
    call = calls.start(0, "c1", "Tool")
    calls.add(call, '[{"a": 1}')
    calls.add(call, '] {"b": 2}')  # closes at the first "]", then more: not one value
    assert not call.done
    calls.end_all()
    assert call.out[0].arguments == '[{"a": 1}] {"b": 2}'


def test_more_text_for_a_call_the_provider_ended_is_an_error_not_dropped() -> None:
    """The call was handed out as it stood when ended: later text cannot join it."""
    calls = Calls()
    call = calls.start(0, "c1", "Tool")
    calls.add(call, '{"a": ')
    calls.end_all()
    calls.add(call, "  ")  # blanks change nothing
    with pytest.raises(ProviderError, match=r"call c1 to 'Tool' after it ended"):
        calls.add(call, "1}")
    assert [raw.arguments for raw in call.out] == ['{"a": ']


def test_deep_nesting_closes_without_recursion() -> None:
    depth = 100_000
    calls = Calls()
    call = calls.start(0, "c1", "Tool")
    calls.add(call, '{"a":[' * depth + "0")
    assert not call.done
    calls.add(call, "]}" * depth)
    assert call.done
