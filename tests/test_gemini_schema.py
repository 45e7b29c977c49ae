"""Gemini's schema dialect: what pydantic's JSON schema becomes, and that both SDKs take it."""

from __future__ import annotations

import datetime
import enum
import json
from collections.abc import Iterable
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from models import SEED_MODEL
from polycall import ConfigurationError
from polycall.providers.gemini_common import declarations, gemini_schema
from polycall.toolset import tool_set


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    """A postal address."""

    street: str = Field(description="Street and number")
    zip: str | None = None


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool = True


class Person(BaseModel):
    """A person to look up."""

    name: str = Field(description="Full name")
    age: int = Field(ge=0, le=150)
    color: Color
    home: Address
    work: Address | None = Field(None, description="Work address")
    tags: list[str] = []
    born: datetime.date
    seen: datetime.datetime
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    level: Literal[1, 2, 3]
    pair: tuple[int, int]
    limit: int | None = 5
    pick: Literal[1, 2] | None = Field(None, description="Pick one.")


class Node(BaseModel):
    name: str
    children: list[Node] = []


class NoArgs(BaseModel):
    """Takes nothing."""


def schema_of(model: type[BaseModel]) -> dict:
    return gemini_schema(model.model_json_schema(), model.__name__)


def keys(node: object) -> set[str]:
    """Every key used anywhere in a schema (property names excluded)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            if key == "properties":
                for sub in value.values():
                    found |= keys(sub)
            else:
                found |= keys(value)
    elif isinstance(node, list):
        for item in node:
            found |= keys(item)
    return found


def test_seed_models_become_openapi_objects_with_string_enums() -> None:
    assert declarations(tool_set(SEED_MODEL)) == [
        {
            "name": "Weather",
            "parameters": {
                "type": "OBJECT",
                "properties": {
                    "location": {"type": "STRING"},
                    "units": {"type": "STRING", "enum": ["imperial", "metric"]},
                },
                "required": ["location", "units"],
            },
        },
        {
            "name": "GoogleSearch",
            "parameters": {
                "type": "OBJECT",
                "properties": {"query": {"type": "STRING"}},
                "required": ["query"],
            },
        },
    ]


def test_refs_are_inlined_and_no_json_schema_only_keys_remain() -> None:
    schema = schema_of(Person)
    assert not keys(schema) & {"$ref", "$defs", "allOf", "oneOf", "title", "additionalProperties",
                               "default", "discriminator", "const", "prefixItems"}
    home = schema["properties"]["home"]
    assert home["type"] == "OBJECT"
    assert home["description"] == "A postal address."
    assert home["properties"]["street"] == {"type": "STRING", "description": "Street and number"}
    assert home["required"] == ["street"]


def test_optional_becomes_nullable_and_keeps_its_description() -> None:
    schema = schema_of(Person)
    work = schema["properties"]["work"]
    assert work["nullable"] is True
    assert work["description"] == "Work address"
    assert work["properties"]["street"]["type"] == "STRING"
    assert schema["properties"]["home"]["properties"]["zip"] == {"type": "STRING", "nullable": True}
    assert schema["properties"]["limit"] == {"type": "INTEGER", "nullable": True, "description": "Default: 5."}
    assert "work" not in schema["required"]
    assert schema["properties"]["pick"] == {"type": "INTEGER", "nullable": True, "description": "Pick one. One of: 1, 2."}


def test_enums_literals_lists_tuples_bounds_and_formats() -> None:
    props = schema_of(Person)["properties"]
    assert props["color"] == {"type": "STRING", "enum": ["red", "blue"]}
    assert props["age"] == {"type": "INTEGER", "minimum": 0, "maximum": 150}
    assert props["tags"] == {"type": "ARRAY", "items": {"type": "STRING"}}
    assert props["pair"] == {"type": "ARRAY", "items": {"type": "INTEGER"}, "minItems": 2, "maxItems": 2}
    assert props["seen"] == {"type": "STRING", "format": "date-time"}
    assert props["born"] == {"type": "STRING", "description": "Format: date."}  # not a Gemini format
    assert props["level"] == {"type": "INTEGER", "description": "One of: 1, 2, 3."}  # enums are strings only


class Flight(BaseModel):
    origin: str = Field(pattern="^[A-Z]{3}$", min_length=3, max_length=3, description="IATA code.")
    seats: int = Field(gt=0, lt=10)
    fares: dict[str, float]


def test_constraints_the_declaration_does_not_take_are_told_in_the_description() -> None:
    props = schema_of(Flight)["properties"]
    assert props["origin"] == {
        "type": "STRING", "description": 'IATA code. Constraints: minLength 3, maxLength 3, pattern "^[A-Z]{3}$".'
    }
    assert props["seats"] == {"type": "INTEGER", "description": "Constraints: exclusiveMinimum 0, exclusiveMaximum 10."}
    assert props["fares"] == {"type": "OBJECT", "description": 'Constraints: each value {"type": "NUMBER"}.'}


class Folder(BaseModel):
    name: str
    children: dict[str, Folder] = {}


def test_a_dict_of_the_model_itself_is_no_reference_it_cannot_hold() -> None:
    """Its value type refers back: it is left untold, not refused."""
    assert schema_of(Folder)["properties"]["children"] == {"type": "OBJECT"}


def test_unions_of_models_become_any_of() -> None:
    pet = schema_of(Person)["properties"]["pet"]
    cat, dog = pet["anyOf"]
    assert cat["properties"]["kind"] == {"type": "STRING", "enum": ["cat"], "description": 'Default: "cat".'}
    assert dog["properties"]["kind"] == {"type": "STRING", "enum": ["dog"]}
    assert dog["required"] == ["kind"]


def test_recursive_models_are_refused_before_any_request() -> None:
    with pytest.raises(ConfigurationError, match=r"tool Node: the schema of 'Node' refers to itself"):
        declarations(tool_set(Iterable[Node]))


def test_a_tool_without_fields_has_no_parameters() -> None:
    assert declarations(tool_set(Iterable[NoArgs])) == [{"name": "NoArgs", "description": "Takes nothing."}]


def test_tool_name_and_description_come_from_the_model() -> None:
    class Renamed(BaseModel):
        """Search the web."""

        model_config = ConfigDict(title="web_search")
        q: str

    (declaration,) = declarations(tool_set(Iterable[Renamed]))
    assert declaration["name"] == "web_search"
    assert declaration["description"] == "Search the web."


def test_declarations_are_built_once_per_response_model() -> None:
    tools = tool_set(Iterable[Person | Address])
    assert declarations(tools) is declarations(tool_set(Iterable[Person | Address]))


def test_google_genai_accepts_the_dialect() -> None:
    types = pytest.importorskip("google.genai.types")
    for declaration in declarations(tool_set(Iterable[Person | NoArgs])):
        parsed = types.FunctionDeclaration(**declaration)
        assert parsed.name == declaration["name"]
    person = types.FunctionDeclaration(**declarations(tool_set(Iterable[Person]))[0])
    assert person.parameters.properties["work"].nullable is True
    assert person.parameters.properties["pet"].any_of[1].properties["good"].type == "BOOLEAN"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's own to_dict()
def test_vertexai_accepts_the_dialect() -> None:
    generative_models = pytest.importorskip("vertexai.generative_models")
    for declaration in declarations(tool_set(Iterable[Person])):
        parsed = generative_models.FunctionDeclaration(
            name=declaration["name"], description=declaration.get("description"),
            parameters=declaration["parameters"],
        ).to_dict()
        text = json.dumps(parsed)
        assert parsed["parameters"]["properties"]["color"]["enum"] == ["red", "blue"]
        assert parsed["parameters"]["properties"]["work"]["nullable"] is True
        assert "$ref" not in text and "defs" not in text
