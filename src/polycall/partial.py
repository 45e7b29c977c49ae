"""In-progress calls for `create_partial`: arguments parsed as partial JSON with jiter."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import UnionType
from typing import (
    Annotated,
    Any,
    ForwardRef,
    Generic,
    Literal,
    Optional,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
)

import jiter
from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model
from pydantic.fields import FieldInfo

from .toolset import ToolSet

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Partial(Generic[T]):
    """A call still being written: its tool name, the arguments so far, and a partial model.

    `value` is an instance of a model with the tool's fields, each optional (None until it
    arrives), as are those of the models it holds; the finished call is yielded afterwards
    as the real, validated model.
    """

    name: str
    arguments: dict[str, Any]
    value: Any


def partial_value(tools: ToolSet, name: str, text: str, context: Any = None) -> Partial[Any] | None:
    """The call in progress (its tool's `name`, its arguments `text` so far), if its
    arguments make a partial model (validated with the request's validation `context`)."""
    tool = tools.by_name.get(name)
    if tool is None or not text:
        return None
    try:
        arguments = jiter.from_json(text.encode(), partial_mode="trailing-strings")
        if not isinstance(arguments, dict):
            return None
        value = partial_model(tool.model).model_validate(arguments, context=context)
    except Exception:  # noqa: BLE001 - not a model yet; a user validator may fail on part of it
        return None  # (the complete call is validated as usual, its errors raised as usual)
    return Partial(name, arguments, value)


@functools.lru_cache(maxsize=512)
def partial_model(model: type[BaseModel]) -> type[BaseModel]:
    """`model` with every field optional, and so each model it holds (in a list, a dict, a
    union...): built once per model class. A union the model picks by a discriminator keeps
    its models (and its discriminator), as their tag must be there, and so does a
    `RootModel`."""
    made: dict[type[BaseModel], str] = {}  # each model's partial, by its name in `namespace`
    namespace: dict[str, Any] = {}

    def copy(source: type[BaseModel]) -> str:
        if source not in made:
            made[source] = name = f"_Partial{len(made)}"
            fields: dict[str, Any] = {  # each under the names the model reads it by
                field: (
                    Optional[  # noqa: UP045 - runtime type expression
                        _picked(info) if info.discriminator else swap(info.annotation)
                    ],
                    Field(None, alias=info.alias, validation_alias=info.validation_alias),
                )
                for field, info in source.model_fields.items()
            }
            # What building, reading and holding the copy needs of the model's settings (a
            # set holds frozen ones; fields may be read by name).
            settings: Any = source.model_config
            kept = {key: settings[key] for key in _KEPT if key in settings}
            config = cast(ConfigDict, {"protected_namespaces": (), **kept})
            namespace[name] = create_model(
                f"Partial{source.__name__}", __config__=config, **fields
            )
        return made[source]

    def swap(annotation: Any) -> Any:
        """`annotation` with each model in it as its partial (a forward reference, resolved
        once all are made: a model may hold itself)."""
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation if issubclass(annotation, RootModel) else ForwardRef(copy(annotation))
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is None or origin is Literal or not args:
            return annotation
        if origin is Annotated:
            if any(getattr(meta, "discriminator", None) for meta in annotation.__metadata__):
                return annotation
            kept = (swap(args[0]), *annotation.__metadata__)
            return Annotated[kept]
        swapped = tuple(swap(arg) for arg in args)
        if swapped == args:
            return annotation
        if origin is Union or origin is UnionType:
            return Union[swapped]  # noqa: UP007 - members may be forward references
        return origin[swapped]

    top = namespace[copy(model)]
    for partial in namespace.values():
        partial.model_rebuild(_types_namespace=namespace)
    return cast(type[BaseModel], top)


#: The settings of a model its copy keeps (those the installed pydantic knows, as set).
_KEPT = (
    "frozen",
    "arbitrary_types_allowed",
    "populate_by_name",
    "validate_by_name",
    "validate_by_alias",
)


def _picked(info: FieldInfo) -> Any:
    """A union picked by the field's discriminator, the discriminator kept with the union
    (the optional around it could not take it)."""
    return Annotated[info.annotation, Field(discriminator=info.discriminator)]
