"""Scenarios for the Bedrock page: the seed's three calls on Converse, and Claude on Bedrock.

`boto3.client("bedrock-runtime")` and `anthropic.AnthropicBedrock()` read the standard AWS
environment, which these scenarios point at the fake (dummy keys, no retries, no files).
"""

from __future__ import annotations

import pytest

from docs_scenarios.common import ANSWER
from models import SEED_CALLS
from polycall.testing import FakeProvider
from polycall.testing.anthropic import message_stream
from polycall.testing.bedrock import converse, converse_stream, invoke_stream


def aws_env(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 clients (and AnthropicBedrock) built with default arguments reach the fake."""
    boto3 = pytest.importorskip("boto3")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fake.url,
        "ANTHROPIC_BEDROCK_BASE_URL": fake.url,
        "AWS_ACCESS_KEY_ID": "AKIDTEST",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def bedrock_seed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's answer on Converse after a short text block."""
    aws_env(fake, monkeypatch)
    fake.push(converse(SEED_CALLS, text="I'll look those up."))


def bedrock_seed_stream(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls as a Converse event stream."""
    aws_env(fake, monkeypatch)
    fake.push(converse_stream(SEED_CALLS))


def bedrock_seed_then_answer(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls, then a text answer once the tool results are sent back."""
    aws_env(fake, monkeypatch)
    fake.push(converse(SEED_CALLS), converse(text=ANSWER))


def claude_on_bedrock_stream(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed's three calls from Claude, in Bedrock's invoke-with-response-stream envelope."""
    aws_env(fake, monkeypatch)
    fake.push(invoke_stream(message_stream(SEED_CALLS)))
