"""`response_model` analysis: accepted shapes, tool names, schemas, errors, and the cache."""

from __future__ import annotations

import collections.abc
import datetime
import re
import typing
from collections.abc import Iterable
from enum import Enum
from typing import Annotated, Any, Generic, Literal, Optional, TypeVar, Union

import pytest
from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    PydanticUserError,
    RootModel,
    create_model,
)

from models import GoogleSearch, Weather
from polycall import ConfigurationError
from polycall.toolset import ToolSet, tool_set

_T = TypeVar("_T")


class Color(str, Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    city: str


class Person(BaseModel):
    """A person to look up."""

    name: str = Field(description="The full name")
    age: int = 30
    color: Color = Color.RED
    mood: Literal["happy", "sad"] = "happy"
    address: Address
    nickname: Optional[str] = None  # noqa: UP045 - the typing form on purpose


class Titled(BaseModel):
    """Search the web."""

    model_config = ConfigDict(title="web_search")
    query: str


@pytest.mark.parametrize(
    "response_model",
    [
        Iterable[Weather | GoogleSearch],
        Iterable[Union[Weather, GoogleSearch]],  # noqa: UP007
        list[Weather | GoogleSearch],
        typing.List[Union[Weather, GoogleSearch]],  # noqa: UP006, UP007
        typing.Iterable[Weather | GoogleSearch],
        collections.abc.Iterable[Weather | GoogleSearch],
        typing.Sequence[Weather | GoogleSearch],
        Iterable[Annotated[Weather, "tag"] | GoogleSearch],
        Iterable[Annotated[Weather | GoogleSearch, "tag"]],
    ],
    ids=[
        "Iterable|",
        "Union",
        "list",
        "typing.List",
        "typing.Iterable",
        "abc.Iterable",
        "Sequence",
        "Annotated member",
        "Annotated union",
    ],
)
def test_accepted_shapes_give_both_tools_in_order(response_model: object) -> None:
    tools = tool_set(response_model)
    assert tools.names == ["Weather", "GoogleSearch"]
    assert [t.model for t in tools.tools] == [Weather, GoogleSearch]


def test_single_member_iterable() -> None:
    tools = tool_set(Iterable[Weather])
    assert tools.names == ["Weather"]
    assert tools.by_name["Weather"].model is Weather


def test_tool_name_is_the_class_name_or_the_config_title() -> None:
    tools = tool_set(Iterable[Titled | Weather])
    assert tools.names == ["web_search", "Weather"]
    assert tools.by_name["web_search"].model is Titled
    assert "Titled" not in tools.by_name


def test_description_is_the_docstring() -> None:
    tools = tool_set(Iterable[Person | Weather])
    assert tools.by_name["Person"].description == "A person to look up."
    assert tools.by_name["Weather"].description == ""


def test_schema_carries_descriptions_defaults_enums_literals_nested_and_optional() -> None:
    schema = tool_set(Iterable[Person]).by_name["Person"].schema
    props = schema["properties"]
    assert props["name"]["description"] == "The full name"
    assert props["age"]["default"] == 30
    assert schema["$defs"]["Color"]["enum"] == ["red", "blue"]
    assert props["color"]["default"] == "red"
    assert props["mood"]["enum"] == ["happy", "sad"]
    assert props["address"] == {"$ref": "#/$defs/Address"}
    assert schema["$defs"]["Address"]["required"] == ["street", "city"]
    assert {"type": "null"} in props["nickname"]["anyOf"]
    assert props["nickname"]["default"] is None
    assert set(schema["required"]) == {"name", "address"}


@pytest.mark.parametrize(
    "response_model",
    [
        Weather,
        Iterable[int],
        Iterable[Weather | int],
        list[str],
        dict[str, Weather],
        Iterable,
        Optional[Weather],  # noqa: UP045
    ],
    ids=[
        "bare model",
        "Iterable[int]",
        "model|int",
        "list[str]",
        "dict",
        "bare Iterable",
        "Optional",
    ],
)
def test_bad_response_models_raise_configuration_error(response_model: object) -> None:
    with pytest.raises(ConfigurationError, match="response_model"):
        tool_set(response_model)


def test_two_members_with_one_tool_name_raise_configuration_error() -> None:
    class Other(BaseModel):
        model_config = ConfigDict(title="Weather")
        city: str

    with pytest.raises(ConfigurationError, match="two members named 'Weather'"):
        tool_set(Iterable[Weather | Other])


def test_one_class_named_twice_is_one_tool() -> None:
    tools = tool_set(Iterable[Annotated[Weather, "the weather"] | Weather | GoogleSearch])
    assert tools.names == ["Weather", "GoogleSearch"]


def test_same_response_model_gives_the_same_cached_tool_set() -> None:
    first = tool_set(Iterable[Weather | GoogleSearch])
    assert tool_set(Iterable[Weather | GoogleSearch]) is first
    built = []

    def names(tools: ToolSet) -> list[str]:
        built.append(1)
        return tools.names

    assert first.dialect(names) == ["Weather", "GoogleSearch"]
    assert first.dialect(names) is first.dialect(names)
    assert built == [1]


def test_the_order_of_a_unions_members_is_the_order_of_the_tools() -> None:
    """Unions compare equal in any order; their tool sets are cached apart."""
    assert tool_set(list[Weather | GoogleSearch]).names == ["Weather", "GoogleSearch"]
    assert tool_set(list[GoogleSearch | Weather]).names == ["GoogleSearch", "Weather"]


def test_annotated_metadata_changes_no_tool_and_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    class Card(BaseModel):
        title: str

    built: list[int] = []
    schema = Card.model_json_schema
    monkeypatch.setattr(Card, "model_json_schema", lambda: built.append(1) or schema())
    response_model = Iterable[Annotated[Card, {"ui": "card"}]]  # a dict: not hashable
    assert tool_set(response_model) is tool_set(response_model) is tool_set(Iterable[Card])
    assert built == [1]


class Node(BaseModel):
    """A tree node."""

    name: str
    children: list[Node] = []


def test_a_model_that_refers_to_itself_is_an_object_with_its_description() -> None:
    (tool,) = tool_set(Iterable[Node]).tools
    assert tool.description == "A tree node."
    assert tool.schema["type"] == "object" and "$ref" not in tool.schema
    assert tool.schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert "Node" in tool.schema["$defs"]


class Located(BaseModel):
    city: str = Field(validation_alias=AliasPath("loc", "city"))


class Trip(BaseModel):
    stops: list[Located]


class LocatedByName(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    city: str = Field(validation_alias=AliasPath("loc", "city"))


@pytest.mark.parametrize(("model", "field"), [(Located, "Located.city"), (Trip, "Located.city")])
def test_a_field_read_only_from_a_path_is_refused(model: type[BaseModel], field: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"{field} is read from a path"):
        tool_set(Iterable[model])  # type: ignore[valid-type]


@pytest.mark.parametrize(
    "field",
    [
        (str, Field(validation_alias=AliasChoices(AliasPath("loc", "c"), "city"))),
        (str, Field(validation_alias=AliasChoices(AliasPath("loc", 0), AliasPath("town")))),  # shown as town
        (str, Field("", validation_alias=AliasPath("loc", "city"))),  # optional: it keeps its default
    ],
    ids=["choice of a name", "choice of a one-key path", "optional"],
)
def test_a_path_field_the_schema_can_fill_or_leave_out_is_accepted(field: Any) -> None:
    model = create_model("Either", city=field)
    assert tool_set(Iterable[model]).names == ["Either"]  # type: ignore[valid-type]


def test_a_path_field_that_also_takes_its_name_is_accepted() -> None:
    assert tool_set(Iterable[LocatedByName]).names == ["LocatedByName"]


def test_different_classes_with_the_same_name_get_different_tool_sets() -> None:
    first = create_model("Lookup", key=(str, ...))
    second = create_model("Lookup", word=(str, ...))
    assert first.__name__ == second.__name__ == "Lookup"
    tools_a = tool_set(Iterable[first])  # type: ignore[valid-type]
    tools_b = tool_set(Iterable[second])  # type: ignore[valid-type]
    assert tools_a is not tools_b
    assert list(tools_a.by_name["Lookup"].schema["properties"]) == ["key"]
    assert list(tools_b.by_name["Lookup"].schema["properties"]) == ["word"]


def test_validate_reports_bad_json_unknown_tool_and_accepts_objects_and_empty() -> None:
    from polycall.calls import CallFailure, RawCall, ToolCall

    tools = tool_set(Iterable[Weather | GoogleSearch])
    ok = tools.validate(RawCall("a", "GoogleSearch", {"query": "q"}), "a")
    assert isinstance(ok, ToolCall) and ok.value == GoogleSearch(query="q")
    bad_json = tools.validate(RawCall("b", "Weather", '{"location": '), "b")
    assert isinstance(bad_json, CallFailure) and bad_json.errors[0]["type"] == "json_invalid"
    assert "call b (Weather)" in bad_json.describe()
    unknown = tools.validate(RawCall("c", "Nope", "{}"), "c")
    assert isinstance(unknown, CallFailure) and unknown.unknown_tool
    empty = tools.validate(RawCall("d", "Weather", ""), "d")
    assert isinstance(empty, CallFailure) and {e["loc"] for e in empty.errors} == {
        ("location",),
        ("units",),
    }
    not_object = tools.validate(RawCall("e", "Weather", "[1]"), "e")
    assert isinstance(not_object, CallFailure) and not_object.errors[0]["type"] == "json_type"


class Meeting(BaseModel):
    model_config = ConfigDict(strict=True)
    when: datetime.datetime
    room: int


def test_json_text_is_validated_in_pydantics_json_mode() -> None:
    """JSON text goes to the model in JSON mode, as `model_validate_json` would: a strict model
    takes a datetime written as a string, which a parsed-then-validated dict would not."""
    from polycall.calls import CallFailure, RawCall, ToolCall

    tools = tool_set(Iterable[Meeting])
    text = '{"when": "2026-11-23T10:00:00", "room": 4}'
    call = tools.validate(RawCall("a", "Meeting", text), "a")
    assert isinstance(call, ToolCall)
    assert call.value == Meeting(when=datetime.datetime(2026, 11, 23, 10), room=4)
    assert call.arguments == {"when": "2026-11-23T10:00:00", "room": 4}
    # A failure reports the JSON-mode errors only (no spurious strict-mode error for `when`),
    # with the arguments as the parsed object.
    bad = tools.validate(RawCall("b", "Meeting", '{"when": "2026-11-23T10:00:00", "room": "4"}'), "b")
    assert isinstance(bad, CallFailure)
    assert [e["loc"] for e in bad.errors] == [("room",)]
    assert bad.arguments == {"when": "2026-11-23T10:00:00", "room": "4"}
    # An object given as such (Anthropic, Gemini) validates as the same text does: what
    # Python mode refuses of a strict field, JSON mode takes; what both refuse still fails.
    from_object = tools.validate(RawCall("c", "Meeting", {"when": "2026-11-23T10:00:00", "room": 4}), "c")
    assert isinstance(from_object, ToolCall) and from_object.value == call.value
    still_bad = tools.validate(RawCall("d", "Meeting", {"when": "2026-11-23T10:00:00", "room": "4"}), "d")
    assert isinstance(still_bad, CallFailure) and [e["loc"] for e in still_bad.errors] == [("room",)]


def test_validation_context_reaches_validators_from_text_and_objects() -> None:
    from pydantic import ValidationInfo, field_validator

    from polycall.calls import RawCall, ToolCall

    class Lookup(BaseModel):
        key: str

        @field_validator("key")
        @classmethod
        def prefixed(cls, value: str, info: ValidationInfo) -> str:
            return f"{info.context['prefix']}{value}"

    tools = tool_set(Iterable[Lookup])
    for arguments in ('{"key": "k"}', {"key": "k"}):
        call = tools.validate(RawCall("a", "Lookup", arguments), "a", {"prefix": "p:"})
        assert isinstance(call, ToolCall) and call.value == Lookup.model_construct(key="p:k")


def test_tool_call_arguments_read_as_a_dict_and_compare_by_value() -> None:
    from polycall.calls import ToolCall

    from_text = ToolCall("a", "GoogleSearch", '{"query": "q"}', GoogleSearch(query="q"))
    from_dict = ToolCall("a", "GoogleSearch", {"query": "q"}, GoogleSearch(query="q"))
    assert from_text.arguments == {"query": "q"}
    assert from_text.arguments is from_text.arguments  # parsed once
    assert from_text == from_dict
    assert from_text != ToolCall("b", "GoogleSearch", {"query": "q"}, GoogleSearch(query="q"))
    assert repr(from_text) == repr(from_dict) == (
        "ToolCall(id='a', name='GoogleSearch', arguments={'query': 'q'}, value=GoogleSearch(query='q'))"
    )
    match from_text:
        case ToolCall(call_id, "GoogleSearch", {"query": query}, GoogleSearch()):
            assert (call_id, query) == ("a", "q")
        case _:
            raise AssertionError("ToolCall does not match by position")


def test_base_model_itself_as_a_member_raises_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="subclass of BaseModel .*not BaseModel itself"):
        tool_set(Iterable[BaseModel])


class Hook(BaseModel):
    callback: collections.abc.Callable[[], None]


class Opaque:
    """A type pydantic takes only with `arbitrary_types_allowed`."""


class Holder(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    thing: Opaque


class Unresolved(BaseModel):
    later: Undefined  # type: ignore[name-defined]  # noqa: F821


@pytest.mark.parametrize("model", [Hook, Holder, Unresolved])
def test_member_without_a_json_schema_raises_configuration_error(model: type[BaseModel]) -> None:
    with pytest.raises(ConfigurationError, match=f"JSON schema of {model.__name__}: ") as info:
        tool_set(Iterable[model])  # type: ignore[valid-type]
    assert isinstance(info.value.__cause__, PydanticUserError)


def test_root_model_member_raises_configuration_error() -> None:
    class Tags(RootModel[list[str]]):
        pass

    with pytest.raises(ConfigurationError, match="Tags is a RootModel"):
        tool_set(Iterable[Weather | Tags])


class Box(BaseModel, Generic[_T]):
    item: _T


class Shouting(BaseModel):
    model_config = ConfigDict(title="get weather!")
    city: str


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (Box[int], "Box[int]"),
        (Shouting, "get weather!"),
        (create_model("N" * 65), "N" * 65),
        (create_model("Titled1", __config__=ConfigDict(title="1st")), "1st"),
        (create_model("Wetter", __config__=ConfigDict(title="wetter_für")), "wetter_für"),
    ],
    ids=["generic", "space and !", "65 chars", "digit first", "non-ASCII"],
)
def test_tool_names_no_provider_accepts_raise_configuration_error(
    model: type[BaseModel], name: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(f"gives the tool name {name!r}")) as info:
        tool_set(Iterable[model])  # type: ignore[valid-type]
    assert model.__qualname__ in str(info.value) and "ConfigDict(title=" in str(info.value)


@pytest.mark.parametrize("name", ["_private", "get-weather", "x", "A" * 64, "v2_lookup"])
def test_tool_names_every_provider_accepts_pass(name: str) -> None:
    model = create_model("Named", __config__=ConfigDict(title=name))
    assert tool_set(Iterable[model]).names == [name]  # type: ignore[valid-type]
