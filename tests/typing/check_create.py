"""What the clients' methods return to a type checker (checked by mypy in test_typing.py).

Never run: it only has to type-check, under `mypy --strict`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, List, Union  # noqa: UP035 - the typing forms users write, too

from pydantic import BaseModel
from typing_extensions import assert_type

import polycall
from polycall import AsyncCallStream, CallStream, Partial, ToolCall, ToolCalls


class Weather(BaseModel):
    location: str


class GoogleSearch(BaseModel):
    query: str


Either = Union[Weather, GoogleSearch]  # noqa: UP007
MESSAGES = [{"role": "user", "content": "Weather in Toronto, and who won the super bowl?"}]


def sync_client(client: polycall.Client) -> None:
    for fc in client.create(
        model="gpt-4o-mini", messages=MESSAGES, response_model=Iterable[Weather | GoogleSearch]
    ):
        assert_type(fc, Weather | GoogleSearch)

    calls = client.create(messages=MESSAGES, response_model=Iterable[Weather | GoogleSearch])
    assert_type(calls, ToolCalls[Weather | GoogleSearch])
    assert_type(calls.calls[0], ToolCall[Weather | GoogleSearch])
    assert_type(calls[0], Weather | GoogleSearch)

    assert_type(
        client.create(messages=MESSAGES, response_model=Iterable[Weather]), ToolCalls[Weather]
    )
    assert_type(
        client.create(messages=MESSAGES, response_model=Iterable[Either]), ToolCalls[Either]
    )
    assert_type(client.create(messages=MESSAGES, response_model=list[Weather]), ToolCalls[Weather])
    assert_type(
        client.create(messages=MESSAGES, response_model=List[Either]),  # noqa: UP006
        ToolCalls[Either],
    )

    stream = client.create(messages=MESSAGES, response_model=Iterable[Weather], stream=True)
    assert_type(stream, CallStream[Weather])
    for value in client.create_iterable(messages=MESSAGES, response_model=Iterable[Either]):
        assert_type(value, Weather | GoogleSearch)
    for item in client.create_partial(messages=MESSAGES, response_model=Iterable[Weather]):
        assert_type(item, Weather | Partial[Weather])

    result, raw = client.create_with_completion(messages=MESSAGES, response_model=Iterable[Either])
    assert_type(result, ToolCalls[Weather | GoogleSearch])
    assert_type(raw, Any)


async def async_client(client: polycall.AsyncClient) -> None:
    calls = await client.create(messages=MESSAGES, response_model=Iterable[Weather | GoogleSearch])
    assert_type(calls, ToolCalls[Weather | GoogleSearch])
    for fc in calls:
        assert_type(fc, Weather | GoogleSearch)

    stream = await client.create(messages=MESSAGES, response_model=Iterable[Weather], stream=True)
    assert_type(stream, AsyncCallStream[Weather])
    async for value in client.create_iterable(messages=MESSAGES, response_model=Iterable[Either]):
        assert_type(value, Weather | GoogleSearch)

    result, _ = await client.create_with_completion(messages=MESSAGES, response_model=list[Weather])
    assert_type(result, ToolCalls[Weather])


def factories() -> None:
    """Each factory says which client it gives, so `create` is typed without an annotation."""
    import anthropic
    import openai
    from google import genai
    from vertexai.generative_models import GenerativeModel

    client = polycall.from_openai(openai.OpenAI())
    assert_type(client, polycall.Client)
    assert_type(
        client.create(messages=MESSAGES, response_model=Iterable[Weather]), ToolCalls[Weather]
    )
    assert_type(polycall.from_openai(openai.AsyncOpenAI()), polycall.AsyncClient)
    assert_type(polycall.from_openai(openai.AzureOpenAI()), polycall.Client)
    assert_type(polycall.from_anthropic(anthropic.Anthropic()), polycall.Client)
    assert_type(polycall.from_anthropic(anthropic.AsyncAnthropic()), polycall.AsyncClient)
    assert_type(polycall.from_genai(genai.Client()), polycall.Client)
    assert_type(polycall.from_genai(genai.Client(), use_async=True), polycall.AsyncClient)
    assert_type(polycall.from_genai(genai.Client().aio), polycall.AsyncClient)
    assert_type(polycall.from_vertexai(GenerativeModel("gemini-2.5-flash")), polycall.Client)
    assert_type(
        polycall.from_vertexai(GenerativeModel("gemini-2.5-flash"), use_async=True),
        polycall.AsyncClient,
    )
    assert_type(
        polycall.from_vertexai(GenerativeModel("gemini-2.5-flash"), _async=True),
        polycall.AsyncClient,
    )
    assert_type(polycall.from_provider("openai/gpt-4o-mini"), polycall.Client)
    assert_type(
        polycall.from_provider("anthropic/claude-sonnet-4-6", async_client=True),
        polycall.AsyncClient,
    )
