"""The errors polycall raises. Every one inherits :class:`PolycallError`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .calls import CallFailure
    from .loop import ToolRun


class PolycallError(Exception):
    """Base class of every error polycall raises."""

    #: The provider's last raw response, where there was one.
    raw: Any = None


class ConfigurationError(PolycallError):
    """Bad `response_model`, a mode the client cannot serve, a missing SDK or handler."""


class ProviderError(PolycallError):
    """The SDK failed while polycall was talking to the provider (e.g. a stream dropped).

    `status_code` is the HTTP status the SDK reported and `original` the SDK's exception
    (also `__cause__`); both are None when the response itself was wrong (no choices, a
    stream cut off before its end).
    """

    status_code: int | None = None
    original: BaseException | None = None


class UserCodeError(PolycallError):
    """Your own code raised while polycall ran it: a validator of a tool model, a hook.

    The exception it raised is `__cause__` (and `original`), so its traceback is shown in
    full. `call_id`, `tool` and `field` name the call, tool and field it was validating
    (None where no call was involved, e.g. a "request" hook); `where` names the code
    (e.g. `Weather.check_location`); `valid` holds the calls that had validated before it.
    """

    def __init__(
        self,
        original: BaseException,
        *,
        where: str,
        call_id: str | None = None,
        tool: str | None = None,
        field: str | None = None,
    ) -> None:
        self.original = original
        self.where = where
        self.call_id = call_id
        self.tool = tool
        self.field = field
        self.valid: list[Any] = []
        about = ", ".join(
            f"{label} {value}" for label, value in
            (("call", call_id), ("tool", tool), ("field", field)) if value is not None
        )
        super().__init__(
            f"{where} raised {type(original).__name__}: {original}"
            + (f" ({about})" if about else "")
            + "; this is an error in your code, not the provider's"
        )


class LimitExceededError(PolycallError):
    """A response holds more calls, or larger arguments, than the configured `Limits` allow."""


class NoToolCallsError(PolycallError):
    """The model answered without calling any tool."""

    def __init__(self, message: str, *, text: str | None = None, raw: Any = None) -> None:
        super().__init__(message)
        self.text = text
        self.raw = raw


class _StopError(PolycallError):
    """The model stopped for a reason no valid call can come from; `reason` is the provider's."""

    def __init__(self, message: str, *, reason: str, raw: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.raw = raw


class IncompleteOutputError(_StopError):
    """The output was cut off (`length`, `max_tokens`, `MAX_TOKENS`, ...)."""


class RefusalError(_StopError):
    """The provider refused or blocked the request; `reason` says why."""


class MalformedOutputError(_StopError):
    """The provider says the model produced a malformed function call (retried like a bad call)."""


class ValidationFailed(PolycallError):
    """Some calls were still invalid after `max_retries`.

    `errors` maps each failing call id to its pydantic-style error dicts, `failures`
    carries the same with the tool name and arguments, `valid` holds the calls that did
    validate (model instances, in call order).
    """

    def __init__(
        self,
        failures: Sequence[CallFailure],
        *,
        valid: Sequence[Any] = (),
        attempts: int = 1,
        raw: Any = None,
    ) -> None:
        self.failures = list(failures)
        self.errors: Mapping[str, list[dict[str, Any]]] = {f.id: f.errors for f in self.failures}
        self.valid = list(valid)
        self.attempts = attempts
        self.raw = raw
        plural = "s" if len(self.failures) != 1 else ""
        lines = [f"{len(self.failures)} tool call{plural} failed after {attempts} attempt(s):"]
        lines += [f"  {f.describe()}" for f in self.failures]
        super().__init__("\n".join(lines))


class UnknownToolError(ValidationFailed):
    """A call names a tool that is not in `response_model` (a kind of `ValidationFailed`)."""


class MaxStepsExceeded(PolycallError):
    """`run_tools` ran `max_steps` steps and the model still calls tools; `run` is the
    `ToolRun` so far (its steps, messages and usage)."""

    def __init__(self, message: str, *, run: ToolRun[Any], raw: Any = None) -> None:
        super().__init__(message)
        self.run = run
        self.raw = raw
