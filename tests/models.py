"""The seed page's tool models, and the calls its scenario expects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel


class Weather(BaseModel):
    location: str
    units: Literal["imperial", "metric"]


class GoogleSearch(BaseModel):
    query: str


SEED_MODEL = Iterable[Weather | GoogleSearch]
SEED_MESSAGES = [
    {"role": "system", "content": "You must always use tools"},
    {"role": "user", "content": "What is the weather in toronto and dallas and who won the super bowl?"},
]
SEED_CALLS = [
    ("Weather", {"location": "Toronto", "units": "metric"}),
    ("Weather", {"location": "Dallas", "units": "imperial"}),
    ("GoogleSearch", {"query": "who won the super bowl"}),
]
SEED_VALUES = [
    Weather(location="Toronto", units="metric"),
    Weather(location="Dallas", units="imperial"),
    GoogleSearch(query="who won the super bowl"),
]
#: The seed's calls with Dallas in kelvin: the second fails validation, the others pass.
BAD_CALLS = [SEED_CALLS[0], ("Weather", {"location": "Dallas", "units": "kelvin"}), SEED_CALLS[2]]
#: The seed's calls cut off inside the third one's arguments, as when the output ran out.
CUT_CALLS = [*SEED_CALLS[:2], ("GoogleSearch", '{"query": "who w')]
