"""Mistakes the type checker must report (test_typing.py expects mypy to fail here)."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel
from typing_extensions import assert_type

import polycall


class Weather(BaseModel):
    location: str


class GoogleSearch(BaseModel):
    query: str


def mistakes(client: polycall.Client) -> None:
    for fc in client.create(messages=[], response_model=Iterable[Weather | GoogleSearch]):
        assert_type(fc, Weather)  # wrong: it may be a GoogleSearch
    client.create(messages=[], response_model=Iterable[int])  # wrong: not a pydantic model
