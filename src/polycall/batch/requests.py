"""From the user's requests to the provider's batch requests, exactly as `create` builds them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from ..errors import ConfigurationError
from ..providers.base import Adapter, omitted, read_conversation
from ..toolset import ToolSet
from .common import Item

#: SDK call options that have no place in a batch request line.
_SDK_ONLY = ("extra_headers", "extra_query", "timeout")


def items_of(
    requests: Iterable[Mapping[str, Any]],
    adapter: Adapter,
    tools: ToolSet,
    shared: Mapping[str, Any],
) -> list[Item]:
    """Each request prepared by the adapter, exactly as `create` would send it."""
    if "custom_id" in shared:
        raise ConfigurationError("custom_id names one request: give it in each request, not to submit()")
    if not isinstance(requests, Iterable) or isinstance(requests, (str, bytes, Mapping)):
        raise ConfigurationError(
            f"submit() takes a list of requests (dicts of create() kwargs), got {type(requests).__name__}"
        )
    items: list[Item] = []
    seen: set[str] = set()
    for index, request in enumerate(requests):
        if not isinstance(request, Mapping):
            raise ConfigurationError(
                f"batch request #{index} must be a dict of create() kwargs, got {type(request).__name__}"
            )
        kwargs = {**shared, **request}
        if "custom_id" not in request:
            raise ConfigurationError(
                f"batch request #{index} has no custom_id; give each request its own "
                "custom_id=, the key its result comes back under"
            )
        custom_id = kwargs.pop("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise ConfigurationError(f"batch request #{index}: custom_id must be a non-empty string")
        if custom_id in seen:
            raise ConfigurationError(f"batch request #{index}: custom_id {custom_id!r} is used twice")
        seen.add(custom_id)
        for key, why in _NOT_IN_BATCH.items():
            if key in kwargs:
                raise ConfigurationError(f"batch request {custom_id!r}: {key}= {why}")
        read_conversation(kwargs)
        try:
            items.append(Item(custom_id, adapter.prepare(tools, kwargs)))
        except ConfigurationError as exc:
            raise ConfigurationError(f"batch request {custom_id!r}: {exc}") from None
    if not items:
        raise ConfigurationError("a batch needs at least one request")
    return items


_NOT_IN_BATCH = {
    "response_model": "is given once, to submit()",
    "max_retries": "does not apply to batches: a batch is answered once; resubmit the failures",
    "stream": "does not apply to batches",
    "validation_context": "is given once, to submit()",
    "context": "is given once, to submit()",
    "strict": "is given once, to submit()",
}


def request_body(item: Item) -> dict[str, Any]:
    """The request as the JSON body of one batch line: SDK-only options refused, `extra_body`
    merged, omitted values dropped."""
    body = dict(item.request)
    for key in _SDK_ONLY:
        if key in body:
            raise ConfigurationError(
                f"batch request {item.custom_id!r}: {key}= is an SDK call option, not part of a "
                "batch request; leave it out"
            )
    extra = body.pop("extra_body", None) or {}
    body = {key: value for key, value in body.items() if not omitted(value)}
    return {**body, **extra}


def json_line(value: Any, custom_id: str) -> str:
    """`value` as one line of JSON; SDK and pydantic objects are dumped as JSON."""
    def default(obj: Any) -> Any:
        if isinstance(obj, BaseModel):
            return obj.model_dump(mode="json", exclude_unset=True)
        raise ConfigurationError(
            f"batch request {custom_id!r} holds a {type(obj).__name__}, which cannot be "
            "written as JSON; give plain messages"
        )

    return json.dumps(value, default=default, ensure_ascii=False, separators=(",", ":"))


def single_model(items: list[Item], provider: str) -> str:
    """The one model of a batch (`provider` takes one model per batch)."""
    models = {item.request.get("model") for item in items}
    if len(models) != 1 or None in models:
        shown = ", ".join(sorted(repr(m) for m in models))
        raise ConfigurationError(
            f"a {provider} batch runs one model: give every request the same model= (got {shown}); "
            "submit one batch per model"
        )
    return str(models.pop())
