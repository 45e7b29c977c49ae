"""From `response_model` to tools: analysis, cached JSON schemas, and per-call validation."""

from __future__ import annotations

import collections.abc
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from pydantic import AliasChoices, BaseModel, PydanticUserError, RootModel, ValidationError
from pydantic_core import from_json

from .calls import CallFailure, RawCall, ToolCall
from .errors import ConfigurationError, UserCodeError

T = TypeVar("T")

_SEQUENCE_ORIGINS = (
    collections.abc.Iterable,
    collections.abc.Sequence,
    list,
)

#: How many distinct `response_model`s keep their tool set cached.
CACHE_SIZE = 512

#: A tool name every provider accepts: OpenAI, Anthropic and Bedrock take 1-64 of
#: [a-zA-Z0-9_-]; Gemini and Vertex also want a letter or underscore first.
_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
#: Error types of a value of the wrong type, which a strict field gives in Python mode for
#: what it takes as JSON text (an enum's value, a date as a string, a UUID...).
_STRICT_TYPE = re.compile(r"is_instance_of|_type$")


@dataclass(frozen=True, eq=False)
class Tool:
    """One tool offered to the model: a pydantic model class and its schema."""

    name: str
    description: str
    model: type[BaseModel]
    schema: dict[str, Any]


@dataclass(frozen=True, eq=False)
class ToolSet:
    """The tools of one `response_model`, built once and cached.

    Provider adapters cache their own dialect of the tool list here through `dialect()`.
    """

    response_model: Any
    tools: tuple[Tool, ...]
    by_name: Mapping[str, Tool]
    _dialects: dict[Callable[[ToolSet], Any], Any] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        return [tool.name for tool in self.tools]

    def dialect(self, build: Callable[[ToolSet], T]) -> T:
        """Return `build(self)`, computed once per tool set and `build` function."""
        try:
            return typing.cast(T, self._dialects[build])
        except KeyError:
            value = self._dialects[build] = build(self)
            return value

    def validate(
        self, raw: RawCall, call_id: str, context: Any = None, strict: bool | None = None
    ) -> ToolCall[Any] | CallFailure:
        """Validate one raw call (`strict`: pydantic's strict mode, None: the model's own
        config); never raises for bad model output."""
        name, arguments = raw.name, raw.arguments
        tool = self.by_name.get(name) if isinstance(name, str) else None
        if tool is None:
            return self._unknown(raw, call_id)
        # The model's own validator, as `model_validate` calls it, minus the wrapper.
        validator = tool.model.__pydantic_validator__
        if isinstance(arguments, str):  # JSON text, the usual case: validated in one pass
            try:
                value = validator.validate_json(arguments, strict=strict, context=context)
                return ToolCall(call_id, name, arguments, value, raw.extra)
            except ValidationError as exc:
                parsed = _parse_text(arguments)
                if isinstance(parsed, CallFailure.Error):
                    return CallFailure(call_id, name, arguments, [parsed.details])
                errors = _errors(exc)
                if not any(e["type"] == "json_invalid" for e in errors):
                    return CallFailure(call_id, name, parsed, errors)
                arguments = parsed  # text only `json` could read ("", deep nesting): go on as an object
            except Exception as exc:  # the model's own validator failed: the user's code
                raise user_code_error(exc, tool, call_id) from exc
        arguments = parse_arguments(arguments)
        if isinstance(arguments, CallFailure.Error):
            return CallFailure(call_id, name, raw.arguments, [arguments.details])
        try:
            try:
                value = validator.validate_python(arguments, strict=strict, context=context)
            except ValidationError as exc:
                if not any(_STRICT_TYPE.search(e["type"]) for e in exc.errors()):
                    raise
                # A strict field refuses in Python what the model can only write as JSON (an
                # enum's value, a date's text): as JSON, as if the arguments had come as text.
                value = validator.validate_json(
                    json.dumps(arguments), strict=strict, context=context
                )
        except ValidationError as exc:
            return CallFailure(call_id, name, arguments, _errors(exc))
        except Exception as exc:
            raise user_code_error(exc, tool, call_id) from exc
        return ToolCall(call_id, name, arguments, value, raw.extra)

    def _unknown(self, raw: RawCall, call_id: str) -> CallFailure:
        return CallFailure(
            id=call_id,
            name=raw.name,
            arguments=raw.arguments,
            errors=[
                {
                    "type": "unknown_tool",
                    "loc": (),
                    "msg": f"unknown tool {raw.name!r}; the tools are {', '.join(self.names)}",
                    "input": raw.name,
                }
            ],
        )


def user_code_error(exc: Exception, tool: Tool, call_id: str) -> UserCodeError:
    """`exc`, raised by a validator of `tool`'s model (ValueError and AssertionError become
    validation errors; anything else is a bug in it), as a `UserCodeError` naming the call."""
    where, field = _validator_of(exc)
    return UserCodeError(
        exc, where=where or f"a validator of {tool.model.__qualname__}", call_id=call_id,
        tool=tool.name, field=field,
    )


def _validator_of(exc: BaseException) -> tuple[str | None, str | None]:
    """The user's function `exc` came out of (the first frame outside pydantic and
    polycall) and, for a `field_validator`, the field it was validating."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("pydantic", "polycall.")):
            return _qualname(frame), _field_of(frame)
        tb = tb.tb_next
    return None, None


def _qualname(frame: types.FrameType) -> str:
    """`Class.function` (before Python 3.11, told from the frame's `cls` or `self`)."""
    code = frame.f_code
    qualname = getattr(code, "co_qualname", None)
    if isinstance(qualname, str):
        return qualname
    owner = frame.f_locals.get("cls", type(frame.f_locals.get("self", None)))
    return f"{owner.__qualname__}.{code.co_name}" if owner is not type(None) else code.co_name


def _field_of(frame: types.FrameType) -> str | None:
    info = frame.f_locals.get("info")
    field_name = getattr(info, "field_name", None)
    if isinstance(field_name, str):
        return field_name
    owner = frame.f_locals.get("cls")
    decorators = getattr(owner, "__pydantic_decorators__", None)
    for decorator in getattr(decorators, "field_validators", {}).values():
        if getattr(decorator.func, "__code__", None) is frame.f_code:
            fields = decorator.info.fields
            return fields[0] if len(fields) == 1 else " or ".join(fields)
    return None


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [dict(e) for e in exc.errors(include_url=False, include_context=False)]


def parse_arguments(arguments: Any) -> dict[str, Any] | CallFailure.Error:
    """Arguments as a dict: JSON text, an object, or nothing at all (`{}`)."""
    if isinstance(arguments, (bytes, bytearray)):
        arguments = arguments.decode("utf-8", errors="replace")
    if isinstance(arguments, str):  # the usual case first: an ABC isinstance check is slow
        return _parse_text(arguments)
    if arguments is None:
        return {}
    if isinstance(arguments, Mapping):
        return dict(arguments)
    return CallFailure.Error(
        {"type": "json_type", "loc": (), "msg": "arguments must be a JSON object",
         "input": repr(arguments)[:200]}
    )


def _parse_text(arguments: str) -> dict[str, Any] | CallFailure.Error:
    """JSON text parsed by pydantic-core (about 5x faster than json); whatever pydantic-core
    refuses, json decides, so results and error messages stay exactly json's."""
    if not arguments or arguments.isspace():
        return {}
    try:
        parsed = from_json(arguments)
    except (ValueError, TypeError):
        try:
            parsed = json.loads(arguments)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            return CallFailure.Error(
                {"type": "json_invalid", "loc": (), "msg": f"arguments are not valid JSON: {exc}",
                 "input": arguments[:500]}
            )
    if not isinstance(parsed, dict):
        return CallFailure.Error(
            {"type": "json_type", "loc": (), "msg": "arguments must be a JSON object",
             "input": arguments[:500]}
        )
    return parsed


def tool_set(response_model: Any) -> ToolSet:
    """The cached `ToolSet` of `response_model`; `ConfigurationError` if it is not one."""
    hit = _by_identity.get(id(response_model))
    if hit is not None and hit[0] is response_model:  # the usual case: no typing hash to compute
        return hit[1]
    key = _key(response_model)
    try:
        tools = _by_key.get(key)
    except TypeError:  # an unhashable member: no response_model, which the build says
        key, tools = None, None
    if tools is None:
        tools = _build_tool_set(response_model)
        if key is not None:
            _remember(_by_key, key, tools)
    _remember(_by_identity, id(response_model), (response_model, tools))  # holds it: the id stays its own
    return tools


def _key(response_model: Any) -> Any:
    """What the tool set of `response_model` depends on: its container and its members in
    their order (unions compare equal in any order, and so do the typing objects holding them)."""
    if type(response_model) is types.GenericAlias:  # `list[...]`, a new object each time written
        origin, args = response_model.__origin__, response_model.__args__
    else:
        origin, args = typing.get_origin(response_model), typing.get_args(response_model)
    if len(args) != 1:
        return origin, args
    member = args[0]
    members = member.__args__ if type(member) is types.UnionType else (member,)
    if not all(type(m) is _MODEL_CLASS for m in members):  # Annotated, typing.Union, ...
        members = tuple(_flatten(member))
    return origin, members


_MODEL_CLASS = type(BaseModel)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value


def _build_tool_set(response_model: Any) -> ToolSet:
    members = list(dict.fromkeys(_members(response_model)))  # one class named twice is one tool
    tools: list[Tool] = []
    by_name: dict[str, Tool] = {}
    for model in members:
        name = model.model_config.get("title") or model.__name__
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise ConfigurationError(
                f"response_model {_show(response_model)}: {model.__qualname__} gives the tool "
                f"name {name!r}, which providers reject (a tool name is 1-64 letters, digits, "
                "'_' or '-', starting with a letter or '_'); name the tool with "
                '`model_config = ConfigDict(title="...")`'
            )
        try:
            schema = model.model_json_schema()
        except PydanticUserError as exc:  # a field with no JSON schema, an undefined forward ref
            raise ConfigurationError(
                f"response_model {_show(response_model)}: pydantic cannot build the JSON schema "
                f"of {model.__qualname__}: {exc.message}"
            ) from exc
        except Exception as exc:  # the model's own schema code (`json_schema_extra`, a hook)
            where = f"the JSON schema of {model.__qualname__}"
            raise UserCodeError(exc, where=where, tool=name) from exc
        schema = _object_at_top(schema)
        if (path := _path_only_field(model, set())) is not None:
            raise ConfigurationError(
                f"response_model {_show(response_model)}: {path} is read from a path "
                "(validation_alias=AliasPath(...)) that its JSON schema cannot ask for, so no "
                "call could fill it; give it a name alias, or accept its name with "
                "`model_config = ConfigDict(populate_by_name=True)`"
            )
        if name in by_name:
            raise ConfigurationError(
                f"response_model {_show(response_model)} has two members named {name!r}; "
                "give one a different `model_config = ConfigDict(title=...)`"
            )
        tool = Tool(name=name, description=schema.get("description", ""), model=model, schema=schema)
        tools.append(tool)
        by_name[name] = tool
    return ToolSet(response_model=response_model, tools=tuple(tools), by_name=by_name)


_by_key: dict[Any, ToolSet] = {}
_by_identity: dict[int, tuple[Any, ToolSet]] = {}


def _path_only_field(model: type[BaseModel], seen: set[type[BaseModel]]) -> str | None:
    """`Model.field` of the first field (in `model` or a model inside it) that validates only
    from an `AliasPath`, where its schema shows its name; None if there is none."""
    seen.add(model)
    config = model.model_config
    by_name = config.get("populate_by_name") or config.get("validate_by_name")
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        if not by_name and info.is_required() and alias is not None and not _named(alias):
            return f"{model.__qualname__}.{name}"
        for inner in _models_in(info.annotation):
            if inner not in seen and (path := _path_only_field(inner, seen)) is not None:
                return path
    return None


def _named(alias: Any) -> bool:
    """Whether the JSON schema names a field by `alias`: a string, or a choice of a string or
    of a one-key path."""
    if isinstance(alias, AliasChoices):
        return any(isinstance(c, str) or (len(c.path) == 1 and isinstance(c.path[0], str)) for c in alias.choices)
    return isinstance(alias, str)


def _models_in(annotation: Any) -> collections.abc.Iterator[type[BaseModel]]:
    """The model classes an annotation holds (`Inner`, `list[Inner] | None`, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _object_at_top(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its object at the top: pydantic writes a model that refers to itself as
    a `$ref` to its own definition (older versions: an `allOf` of that one `$ref`), which
    providers refuse as tool parameters (they want `type: object`) and which hides its
    description."""
    ref = schema.get("$ref")
    wrapped = schema.get("allOf")
    if ref is None and isinstance(wrapped, list) and len(wrapped) == 1 and isinstance(wrapped[0], dict):
        ref = wrapped[0].get("$ref")
    defs = schema.get("$defs")
    if not (isinstance(ref, str) and ref.startswith("#/$defs/") and isinstance(defs, dict)):
        return schema
    return {**defs[ref.removeprefix("#/$defs/")], "$defs": defs}


def _members(response_model: Any) -> list[type[BaseModel]]:
    origin = typing.get_origin(response_model)
    args = typing.get_args(response_model)
    if origin not in _SEQUENCE_ORIGINS or len(args) != 1:
        raise ConfigurationError(
            f"response_model must be Iterable[Model] or Iterable[A | B | ...], "
            f"got {_show(response_model)}"
        )
    members = list(_flatten(args[0]))
    for member in members:
        if not (isinstance(member, type) and issubclass(member, BaseModel)):
            raise ConfigurationError(
                f"response_model {_show(response_model)}: every member must be a pydantic "
                f"BaseModel subclass, got {_show(member)}"
            )
        if member is BaseModel:
            raise ConfigurationError(
                f"response_model {_show(response_model)}: a member must be a subclass of BaseModel "
                "with the tool's fields, not BaseModel itself"
            )
        if issubclass(member, RootModel):
            raise ConfigurationError(
                f"response_model {_show(response_model)}: {member.__qualname__} is a RootModel, but "
                "a tool's arguments are a JSON object; use a BaseModel with named fields"
            )
    return members


def _flatten(tp: Any) -> collections.abc.Iterator[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _flatten(typing.get_args(tp)[0])
    elif origin is Union or origin is types.UnionType:
        for arg in typing.get_args(tp):
            yield from _flatten(arg)
    else:
        yield tp


def _show(tp: Any) -> str:
    if typing.get_args(tp):
        return repr(tp).replace("typing.", "").replace("collections.abc.", "")
    return getattr(tp, "__name__", None) or repr(tp)
