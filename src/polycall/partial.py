"""In-progress calls for `create_partial`: arguments parsed as partial JSON with jiter."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Generic, Optional, TypeVar

import jiter
from pydantic import BaseModel, Field, create_model

from .toolset import ToolSet

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Partial(Generic[T]):
    """A call still being written: its tool name, the arguments so far, and a partial model.

    `value` is an instance of a model with the tool's fields, each optional (None until it
    arrives); the finished call is yielded afterwards as the real, validated model.
    """

    name: str
    arguments: dict[str, Any]
    value: Any


def partial_value(tools: ToolSet, name: str, text: str) -> Partial[Any] | None:
    """The call in progress (its tool's `name`, its arguments `text` so far), if its
    arguments make a partial model."""
    tool = tools.by_name.get(name)
    if tool is None or not text:
        return None
    try:
        arguments = jiter.from_json(text.encode(), partial_mode="trailing-strings")
        if not isinstance(arguments, dict):
            return None
        value = partial_model(tool.model).model_validate(arguments)
    except Exception:  # noqa: BLE001 - not a model yet; a user validator may fail on part of it
        return None  # (the complete call is validated as usual, its errors raised as usual)
    return Partial(name, arguments, value)


@functools.lru_cache(maxsize=512)
def partial_model(model: type[BaseModel]) -> type[BaseModel]:
    """`model` with every field optional; built once per model class."""
    fields: dict[str, Any] = {  # each under the names the model reads it by (its aliases)
        name: (
            Optional[info.annotation],  # noqa: UP045 - runtime type expression
            Field(None, alias=info.alias, validation_alias=info.validation_alias),
        )
        for name, info in model.model_fields.items()
    }
    return create_model(f"Partial{model.__name__}", **fields)
