"""`from_provider("provider/model")`: the right SDK client, built from the environment."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import anthropic
import openai
import pytest

import polycall
from helpers import vertexai_at
from models import SEED_CALLS, SEED_MESSAGES, SEED_MODEL, SEED_VALUES
from polycall import Mode
from polycall.testing import FakeProvider
from polycall.testing.anthropic import message
from polycall.testing.openai import chat_completion
from polycall.testing.openai_responses import response_body

_VARIABLES = [
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_ADMIN_KEY",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "AZURE_OPENAI_ENDPOINT",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    *(
        f"{p}_{v}"
        for p in ("GROQ", "DEEPSEEK", "MISTRAL", "TOGETHER", "OPENROUTER", "OLLAMA")
        for v in ("API_KEY", "BASE_URL")
    ),
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key or address from the machine running the tests leaks in."""
    for variable in _VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def header(fake: FakeProvider, name: str) -> str:
    """A header of the last request (names are case-insensitive)."""
    return {k.lower(): v for k, v in fake.last.headers.items()}[name.lower()]


def has_header(fake: FakeProvider, name: str) -> bool:
    return name.lower() in {k.lower() for k in fake.last.headers}


def seed(client: Any) -> Any:
    return client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)  # no model=


def test_openai_reaches_the_server_with_the_bound_model(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai")
    fake.push(chat_completion(SEED_CALLS))

    client = polycall.from_provider("openai/gpt-4o-mini")

    assert isinstance(client, polycall.Client) and client.mode is Mode.PARALLEL_TOOLS
    assert type(client.adapter.client) is openai.OpenAI
    assert list(seed(client)) == SEED_VALUES
    assert fake.last.path.endswith("/chat/completions")
    assert fake.last.json["model"] == "gpt-4o-mini"
    assert header(fake, "Authorization") == "Bearer test-openai"


async def test_openai_async(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    fake.push(chat_completion(SEED_CALLS))

    client = polycall.from_provider("openai/gpt-4o-mini", async_client=True)

    assert isinstance(client, polycall.AsyncClient)
    assert type(client.adapter.client) is openai.AsyncOpenAI
    assert list(await seed(client)) == SEED_VALUES
    assert fake.last.json["model"] == "gpt-4o-mini"


def test_openai_responses_mode(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    fake.push(response_body(SEED_CALLS))

    client = polycall.from_provider("openai/gpt-4.1", mode=Mode.RESPONSES_PARALLEL_TOOLS)

    assert list(seed(client)) == SEED_VALUES
    assert fake.last.path.endswith("/responses")
    assert fake.last.json["model"] == "gpt-4.1"


def test_client_kwargs_go_to_the_sdk_client(fake: FakeProvider) -> None:
    fake.push(chat_completion(SEED_CALLS))
    client = polycall.from_provider("openai/gpt-4o", base_url=fake.url + "/v1", api_key="given")
    assert list(seed(client)) == SEED_VALUES
    assert header(fake, "Authorization") == "Bearer given"


def test_model_given_per_call_wins(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    fake.push(chat_completion(SEED_CALLS))
    polycall.from_provider("openai/gpt-4o-mini").create(
        model="gpt-4o", messages=SEED_MESSAGES, response_model=SEED_MODEL
    )
    assert fake.last.json["model"] == "gpt-4o"


@pytest.mark.parametrize("async_client", [False, True])
async def test_groq_reads_its_address_and_key(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, async_client: bool
) -> None:
    monkeypatch.setenv("GROQ_BASE_URL", fake.url + "/v1")
    monkeypatch.setenv("GROQ_API_KEY", "test-groq")
    monkeypatch.setenv("OPENAI_API_KEY", "not-this-one")
    fake.push(chat_completion(SEED_CALLS))

    client = polycall.from_provider("groq/llama-3.3-70b-versatile", async_client=async_client)

    assert type(client.adapter.client) is (openai.AsyncOpenAI if async_client else openai.OpenAI)
    result = seed(client)
    calls = await result if async_client else result
    assert list(calls) == SEED_VALUES
    assert fake.last.path.endswith("/chat/completions")
    assert fake.last.json["model"] == "llama-3.3-70b-versatile"
    assert header(fake, "Authorization") == "Bearer test-groq"


def test_groq_default_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "test")
    client = polycall.from_provider("groq/llama-3.3-70b-versatile")
    assert str(client.adapter.client.base_url) == "https://api.groq.com/openai/v1/"


def test_groq_without_a_key_says_which_variable() -> None:
    with pytest.raises(polycall.ConfigurationError, match="GROQ_API_KEY"):
        polycall.from_provider("groq/llama-3.3-70b-versatile")


def test_openai_compatible_servers_are_not_sent_openais_organization_and_project(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_BASE_URL", fake.url + "/v1")
    monkeypatch.setenv("GROQ_API_KEY", "test-groq")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-not-for-groq")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_not_for_groq")
    fake.push(chat_completion(SEED_CALLS), chat_completion(SEED_CALLS))

    seed(polycall.from_provider("groq/llama-3.3-70b-versatile"))
    assert not has_header(fake, "OpenAI-Organization") and not has_header(fake, "OpenAI-Project")
    seed(polycall.from_provider("groq/llama-3.3-70b-versatile", organization="org-given"))
    assert header(fake, "OpenAI-Organization") == "org-given"


def test_ollama_needs_no_key(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", fake.url + "/v1")
    fake.push(chat_completion(SEED_CALLS))
    client = polycall.from_provider("ollama/llama3.1")
    assert list(seed(client)) == SEED_VALUES
    assert fake.last.json["model"] == "llama3.1"


def test_ollama_default_address() -> None:
    client = polycall.from_provider("ollama/llama3.1")
    assert str(client.adapter.client.base_url) == "http://localhost:11434/v1/"


@pytest.mark.parametrize(
    ("provider", "address"),
    [
        ("deepseek", "https://api.deepseek.com"),
        ("mistral", "https://api.mistral.ai/v1"),
        ("together", "https://api.together.xyz/v1"),
        ("openrouter", "https://openrouter.ai/api/v1"),
    ],
)
def test_other_openai_compatible_servers(
    monkeypatch: pytest.MonkeyPatch, provider: str, address: str
) -> None:
    monkeypatch.setenv(f"{provider.upper()}_API_KEY", "test")
    client = polycall.from_provider(f"{provider}/some-model")
    assert type(client.adapter.client) is openai.OpenAI
    assert str(client.adapter.client.base_url).rstrip("/") == address
    assert client.adapter.model == "some-model"


def test_azure_builds_an_azure_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "test")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    client = polycall.from_provider("azure/my-deployment", async_client=True)
    assert type(client.adapter.client) is openai.AsyncAzureOpenAI
    assert client.adapter.model == "my-deployment"


def test_sdk_refusal_to_build_is_a_configuration_error_without_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "sk-do-not-print-me")
    with pytest.raises(polycall.ConfigurationError) as info:
        polycall.from_provider("azure/my-deployment")  # no endpoint, no api version
    assert "openai.AzureOpenAI" in str(info.value)
    assert "sk-do-not-print-me" not in str(info.value)


def test_openai_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(polycall.ConfigurationError, match="OPENAI_API_KEY"):
        polycall.from_provider("openai/gpt-4o-mini")


def test_anthropic_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(polycall.ConfigurationError, match="ANTHROPIC_API_KEY"):
        polycall.from_provider("anthropic/claude-sonnet-4-6")


@pytest.mark.parametrize("async_client", [False, True])
async def test_anthropic_reaches_the_server(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, async_client: bool
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic")
    fake.push(message(SEED_CALLS))

    client = polycall.from_provider("anthropic/claude-sonnet-4-6", async_client=async_client)

    assert type(client.adapter.client) is (
        anthropic.AsyncAnthropic if async_client else anthropic.Anthropic
    )
    assert client.mode is Mode.ANTHROPIC_PARALLEL_TOOLS
    result = seed(client)
    calls = await result if async_client else result
    assert list(calls) == SEED_VALUES
    assert fake.last.path.endswith("/messages")
    assert fake.last.json["model"] == "claude-sonnet-4-6"
    sent = {header(fake, name) for name in ("x-api-key", "authorization") if has_header(fake, name)}
    assert sent & {
        "test-anthropic",
        "Bearer test-anthropic",
    }  # the header depends on the SDK version


@pytest.mark.parametrize("provider", ["google", "gemini", "genai"])
@pytest.mark.parametrize("async_client", [False, True])
def test_google_builds_a_genai_client(
    monkeypatch: pytest.MonkeyPatch, provider: str, async_client: bool
) -> None:
    pytest.importorskip("google.genai")
    from google import genai

    monkeypatch.setenv("GOOGLE_API_KEY", "test")
    client = polycall.from_provider(f"{provider}/gemini-2.5-flash", async_client=async_client)
    assert isinstance(client, polycall.AsyncClient if async_client else polycall.Client)
    assert client.mode is Mode.GENAI_PARALLEL_TOOLS
    assert client.adapter.model == "gemini-2.5-flash"
    sdk = client.adapter.client
    assert isinstance(sdk, (genai.Client, genai.client.AsyncClient))


def test_google_without_a_key_is_a_configuration_error() -> None:
    pytest.importorskip("google.genai")
    with pytest.raises(polycall.ConfigurationError, match="google.genai.Client"):
        polycall.from_provider("google/gemini-2.5-flash")


@pytest.mark.filterwarnings("ignore:This feature is deprecated:UserWarning")
def test_vertexai_builds_a_generative_model(fake: FakeProvider) -> None:
    pytest.importorskip("vertexai")
    from polycall.testing.gemini import generate_content

    with vertexai_at(fake):  # the project and location `vertexai.init()` set
        client = polycall.from_provider("vertexai/gemini-1.5-pro")
        assert client.mode is Mode.VERTEXAI_PARALLEL_TOOLS
        fake.push(generate_content(SEED_CALLS))
        assert list(client.create(messages=SEED_MESSAGES, response_model=SEED_MODEL)) == SEED_VALUES
    assert fake.last.path.endswith("/models/gemini-1.5-pro:generateContent")


@pytest.mark.parametrize(
    "spec", ["gpt-4o-mini", "openai/", "/gpt-4o", "nosuch/model", "OpenAI/gpt-4o", ""]
)
def test_malformed_or_unknown_spec(spec: str) -> None:
    with pytest.raises(polycall.ConfigurationError, match="provider/model") as info:
        polycall.from_provider(spec)
    assert "anthropic" in str(info.value) and "groq" in str(info.value)


def test_mode_not_valid_for_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    with pytest.raises(polycall.ConfigurationError, match="from_anthropic"):
        polycall.from_provider("anthropic/claude-sonnet-4-6", mode=Mode.PARALLEL_TOOLS)


@pytest.mark.parametrize(
    ("spec", "module", "extra"),
    [
        ("anthropic/claude-sonnet-4-6", "anthropic", "anthropic"),
        ("openai/gpt-4o-mini", "openai", "openai"),
        ("groq/llama-3.3-70b-versatile", "openai", "openai"),
        ("google/gemini-2.5-flash", "google.genai", "google"),
        ("vertexai/gemini-1.5-pro", "vertexai.generative_models", "vertexai"),
    ],
)
def test_missing_sdk_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, spec: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(polycall.ConfigurationError) as info:
        polycall.from_provider(spec)
    assert f'pip install "polycall[{extra}]"' in str(info.value)


def test_polycall_imports_without_any_sdk() -> None:
    script = textwrap.dedent(
        """
        import sys
        from importlib.abc import MetaPathFinder

        BLOCKED = ("openai", "anthropic", "google.genai", "google.cloud.aiplatform", "vertexai")

        def blocked(name):
            return any(name == b or name.startswith(b + ".") for b in BLOCKED)

        class Blocker(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if blocked(name):
                    raise ImportError(f"blocked: {name}")
                return None

        sys.meta_path.insert(0, Blocker())
        import polycall

        assert not [m for m in sys.modules if blocked(m)], "an SDK was imported"
        for call, hint in [
            (lambda: polycall.from_openai(object()), 'pip install "polycall[openai]"'),
            (lambda: polycall.from_provider("anthropic/claude"), 'pip install "polycall[anthropic]"'),
            (lambda: polycall.from_provider("gemini/flash"), 'pip install "polycall[google]"'),
        ]:
            try:
                call()
            except polycall.ConfigurationError as exc:
                assert hint in str(exc), str(exc)
            else:
                raise AssertionError("no ConfigurationError")
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
