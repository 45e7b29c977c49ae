"""Test your code offline: a local fake provider speaking each provider's wire format.

```python
from polycall.testing import FakeProvider
from polycall.testing.openai import chat_completion

with FakeProvider() as fake:
    fake.push(chat_completion([("Weather", {"location": "Toronto", "units": "metric"})]))
    client = polycall.from_openai(openai.OpenAI(base_url=fake.url + "/v1", api_key="test"))
    ...
    assert fake.last.json["tool_choice"] == "required"
```
"""

from __future__ import annotations

from .server import (
    FakeProvider,
    Gate,
    Request,
    Response,
    json_response,
    sse_response,
    stream_response,
)

__all__ = [
    "FakeProvider",
    "Gate",
    "Request",
    "Response",
    "json_response",
    "sse_response",
    "stream_response",
]
