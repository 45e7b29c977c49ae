"""The parallel tool-calling modes, one per provider API."""

from __future__ import annotations

import enum


class Mode(str, enum.Enum):
    """Which provider API a client speaks. Each `from_*` factory defaults to its parallel mode."""

    PARALLEL_TOOLS = "parallel_tools"
    RESPONSES_PARALLEL_TOOLS = "responses_parallel_tools"
    ANTHROPIC_PARALLEL_TOOLS = "anthropic_parallel_tools"
    GENAI_PARALLEL_TOOLS = "genai_parallel_tools"
    VERTEXAI_PARALLEL_TOOLS = "vertexai_parallel_tools"
    BEDROCK_PARALLEL_TOOLS = "bedrock_parallel_tools"
    #: instructor's name for Bedrock tool calling: the same mode (an alias).
    BEDROCK_TOOLS = "bedrock_parallel_tools"  # noqa: PIE796
