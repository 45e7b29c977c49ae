"""One `create()` from first request to final result, without any I/O.

The drivers in `client.py` send the requests and feed the responses (whole or streamed) in;
the session validates each call, keeps the valid ones, and builds the retry request that
re-asks only the failed calls.
"""

from __future__ import annotations

import functools
from bisect import insort
from dataclasses import replace
from operator import is_
from typing import TYPE_CHECKING, Any

from .calls import CallFailure, RawCall, Reply, Runner, Stop, ToolCall, ToolCalls, Turn, Usage
from .errors import (
    ConfigurationError,
    IncompleteOutputError,
    MalformedOutputError,
    NoToolCallsError,
    PolycallError,
    RefusalError,
    UnknownToolError,
    UserCodeError,
    ValidationFailed,
)
from .hooks import Hooks
from .limits import Limits
from .providers.base import Adapter
from .retries import RETRYABLE

if TYPE_CHECKING:
    from .toolset import ToolSet

Slot = ToolCall[Any] | CallFailure


def check_strict(strict: Any) -> bool | None:
    """`strict=` as given: pydantic's strict mode for every call (None: as each model says)."""
    if strict is not None and type(strict) is not bool:
        raise ConfigurationError(f"strict= takes True, False or None, got {strict!r}")
    return strict


def pick_context(validation_context: Any, context: Any) -> Any:
    """The validation context given as `context=` or, as older instructor code names it,
    `validation_context=`: one of them."""
    if validation_context is None:
        return context
    if context is not None:
        raise ConfigurationError(
            "give the validation context once: context= (validation_context= is its older name)"
        )
    return validation_context


class Session:
    """The attempts of one `create()`: the calls kept so far and what to ask next."""

    def __init__(
        self,
        adapter: Adapter,
        tools: ToolSet,
        request: dict[str, Any],
        *,
        context: Any = None,
        strict: bool | None = None,
        hooks: Hooks | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.adapter = adapter
        self.tools = tools
        self.request = request
        self.context = context
        self.strict = strict if strict is None else check_strict(strict)
        self.hooks = hooks or Hooks()
        self.limits = limits or Limits()
        self.slots: list[Slot] = []
        self.attempt = 0
        self.usage = Usage()
        self.trace_parent: Any = None  # the tracing context its spans go under (run_tools)
        self.raw: Any = None
        self.text: str | None = None
        self._open: list[int] = []  # failed slots this attempt may correct
        # This attempt's calls as sent, and as judged (two lists: no pair object per call).
        self._sent: list[RawCall] = []
        self._judged: list[Slot] = []
        self._ids: set[str] = set()  # the ids sent this attempt, and those of the result so far
        self._given: list[RawCall] = []  # this attempt's calls as the assembler gave them
        self._base = 0  # where this attempt's new slots start
        self._failure: PolycallError | None = None  # what the next attempt retries
        self._carried: list[ToolCall[Any]] = []  # handed out before a malformed turn (`_carry`)
        # The provider's data (`RawCall.extra`, e.g. Claude's thinking blocks) of failed calls,
        # by the failure's id (the failure kept alive with it, so the id stays its own): the
        # call that corrects one keeps it, unless it brings its own.
        self._extras: dict[int, tuple[CallFailure, Any]] = {}

    def begin(self) -> dict[str, Any]:
        """Start the next attempt; return the request to send."""
        if self._failure is not None:
            self.hooks.emit("retry", attempt=self.attempt, error=self._failure)
            self._failure = None
        self.attempt += 1
        slots = self.slots
        self._open = [i for i, slot in enumerate(slots) if isinstance(slot, CallFailure)] if slots else []
        self._sent, self._judged, self._given = [], [], []
        self._ids = {slot.id for slot in slots} if slots else set()  # a retry's: none of these
        self._base = len(self.slots)
        if self.hooks.watched:
            self.hooks.emit("request", attempt=self.attempt, request=self.request)
        return self.request

    def take(self, raw: RawCall) -> Slot | None:
        """Validate one call of the current response as soon as it is complete; None when
        it repeats a call already handed out (`_carry`)."""
        position, limits, arguments, given = len(self._sent), self.limits, raw.arguments, raw.id
        # JSON text within both limits, the usual call, needs no closer look.
        if (
            position >= limits.max_calls
            or type(arguments) is not str
            or len(arguments) > limits.max_argument_bytes
        ):
            limits.check_call(raw, position)
        if type(given) is str and given and given not in self._ids:
            sent, sent_id = raw, given  # the provider's own id, the usual case
        else:
            sent, sent_id = self._sent_as(raw, position if raw.place is None else raw.place)
        index = self._slot_for(raw.name) if self._open else None
        call_id = sent_id if index is None else self.slots[index].id
        try:
            slot = self.tools.validate(raw, call_id, self.context, self.strict)
        except UserCodeError as error:
            error.valid = self.valid()
            raise
        if isinstance(slot, CallFailure):
            if raw.extra is not None:
                self._extras[id(slot)] = (slot, raw.extra)
        elif index is not None and slot.extra is None:
            slot.extra = self._extras.get(id(self.slots[index]), (None, None))[1]
        repeat = type(slot) is ToolCall and (
            (bool(self._carried) and self._repeats(slot)) or (self._base > 0 and self._held(slot))
        )
        if repeat:
            if index is not None:
                insort(self._open, index)  # still open: a repeat corrects nothing
        elif index is None:
            self.slots.append(slot)
        else:
            self.slots[index] = slot
        self._sent.append(sent)
        self._judged.append(slot)
        self._given.append(raw)
        self._ids.add(sent_id)
        if isinstance(slot, CallFailure):
            self.hooks.emit("parse_error", attempt=self.attempt, failure=slot)
        return None if repeat else slot

    def complete(self, turn: Turn) -> list[ToolCall[Any]]:
        """Take the calls of `turn` not yet taken; return those that validated."""
        self.raw = turn.raw
        usage = self.usage
        self.usage = usage + turn.usage if usage.input_tokens or usage.output_tokens else turn.usage
        self.text = turn.text if turn.text is not None else self.text
        if self.hooks.watched:
            self.hooks.emit("response", attempt=self.attempt, response=turn.raw)
        if turn.stop is not Stop.DONE:
            return []
        calls, given = turn.calls, self._given
        if all(map(is_, calls, given)):  # taken so far in the model's order
            valid = []
            for raw in calls[len(given) :]:
                if isinstance(slot := self.take(raw), ToolCall):
                    valid.append(slot)
            return valid
        known = {id(raw) for raw in given}
        taken = [self.take(raw) for raw in calls if id(raw) not in known]
        self._model_order(calls)
        return [slot for slot in taken if isinstance(slot, ToolCall)]

    def _model_order(self, calls: list[RawCall]) -> None:
        """Put this attempt's calls, taken as they completed, in the model's order (`calls`);
        their ids stay as handed out. A retried call keeps the slot it corrects."""
        where = {id(raw): k for k, raw in enumerate(self._given)}
        order = [where[id(raw)] for raw in calls if id(raw) in where]
        if len(order) != len(self._given):
            return  # not the calls handed out: leave them as they came
        appended = {id(slot) for slot in self.slots[self._base :]}
        self._given = [self._given[k] for k in order]
        self._sent = [self._sent[k] for k in order]
        self._judged = [self._judged[k] for k in order]
        self.slots[self._base :] = [slot for slot in self._judged if id(slot) in appended]

    @property
    def sent(self) -> list[RawCall]:
        """This attempt's calls as they go back to the provider (each with its id), in the
        model's order once the turn is complete."""
        return self._sent

    def conclude(self, turn: Turn) -> PolycallError | None:
        """Raise what no retry can mend; return the error a retry may mend, or None when done
        (`judge`, then `plan`)."""
        return self.plan(self.judge(turn), turn.text)

    def judge(self, turn: Turn) -> PolycallError | None:
        """What `turn`, whose calls are all taken, amounts to: None when every call is valid,
        else the error, retryable or not. Changes nothing."""
        if turn.stop is not Stop.DONE:
            if turn.stop is Stop.REFUSAL:
                return RefusalError(f"the provider refused: {turn.reason}", reason=turn.reason, raw=turn.raw)
            if turn.stop is Stop.LENGTH:
                cut = "the tool calls were complete" if turn.calls else "the answer was complete"
                return IncompleteOutputError(
                    f"the output was cut off ({turn.reason}) before {cut}; raise max_tokens"
                    + (" or ask for fewer calls" if turn.calls else ""),
                    reason=turn.reason,
                    raw=turn.raw,
                )
            if turn.stop is Stop.MALFORMED:
                return MalformedOutputError(
                    f"the provider reports a malformed function call ({turn.reason})",
                    reason=turn.reason,
                    raw=turn.raw,
                )
        if not self._sent and not self._open:
            return NoToolCallsError(
                "the model answered without calling a tool"
                + (f": {turn.text[:200]!r}" if turn.text else ""),
                text=turn.text,
                raw=turn.raw,
            )
        failures = [slot for slot in self.slots if isinstance(slot, CallFailure)]
        if not failures:
            return None  # every call valid, the usual turn
        kind = UnknownToolError if any(f.unknown_tool for f in failures) else ValidationFailed
        return kind(failures, valid=self.valid(), attempts=self.attempt, raw=turn.raw)

    def plan(self, verdict: PolycallError | None, text: str | None = None) -> PolycallError | None:
        """Raise `verdict` if no retry can mend it; else set up the next attempt (after a
        `ValidationFailed`, the follow-up re-asking the failed calls, with the model's `text`)
        and return it."""
        if verdict is None:
            return None
        if not isinstance(verdict, RETRYABLE):
            raise verdict
        if isinstance(verdict, ValidationFailed):
            self.request = self.adapter.extend(self.request, self._followup(text))
        elif isinstance(verdict, MalformedOutputError):
            self._carry()
        self._failure = verdict
        return verdict

    def _carry(self) -> None:
        """After a malformed turn, asked again whole: the calls it handed out (a stream's)
        stay, and a call of the retry that repeats one (same tool, equal value) is taken as
        that one, not handed out twice; its failed calls go, for the retry to make again."""
        kept = [slot for slot in self.slots[self._base :] if isinstance(slot, ToolCall)]
        self.slots[self._base :] = kept
        self._carried += kept

    def _repeats(self, call: ToolCall[Any]) -> bool:
        """Whether `call` repeats one handed out before a malformed turn (then no longer
        waiting for its repeat)."""
        for k, carried in enumerate(self._carried):
            if carried.name == call.name and carried.value == call.value:
                del self._carried[k]
                return True
        return False

    def _held(self, call: ToolCall[Any]) -> bool:
        """Whether a retry's `call` repeats a call that had validated before it (the model
        answering the whole turn again, though told "ok" for it): kept once, in its place."""
        return any(
            type(slot) is ToolCall and slot.name == call.name and slot.value == call.value
            for slot in self.slots[: self._base]
        )

    def failed(self, error: PolycallError) -> None:
        """The request ends with `error`: the "error" hook is told; a `UserCodeError` first
        gets the calls validated before it."""
        if isinstance(error, UserCodeError):
            error.valid = self.valid()
        self.hooks.emit("error", attempt=self.attempt, error=error)

    def valid(self) -> list[Any]:
        return [slot.value for slot in self.slots if isinstance(slot, ToolCall)]

    def result(self) -> ToolCalls[Any]:
        calls = [slot for slot in self.slots if isinstance(slot, ToolCall)]
        return ToolCalls(
            calls, adapter=self.adapter, runner=_runner(), raw=self.raw, usage=self.usage, text=self.text
        )

    def _slot_for(self, name: str) -> int | None:
        """The failed slot a retried call corrects: same tool first, else the oldest open one."""
        if not self._open:
            return None
        for i in self._open:
            if self.slots[i].name == name:
                self._open.remove(i)
                return i
        return self._open.pop(0)

    def _sent_as(self, raw: RawCall, position: int) -> tuple[RawCall, str]:
        """The call as it goes back to the provider, and its id: the provider's own when it
        is text not seen yet this attempt (the usual case), else a fresh one."""
        given = raw.id
        if isinstance(given, str) and given and given not in self._ids:
            return raw, given
        sent_id = self._fresh_id(given, position)
        return RawCall(sent_id, raw.name, raw.arguments, raw.extra), sent_id

    def _fresh_id(self, given: Any, position: int) -> str:
        """An id for a call whose own is missing, not text, or repeated: its text if unseen,
        else a stable generated one (`_sent_as` keeps an unseen text id as it is)."""
        if given is not None and not isinstance(given, str):
            given = str(given)  # a malformed id (a number, an object) still names the call
        seen = self._ids
        base = given or f"call_{self.attempt}_{position}"
        candidate, n = base, 1
        while candidate in seen:
            candidate, n = f"{base}_{n}", n + 1
        return candidate

    def _followup(self, text: str | None) -> list[Any]:
        """This attempt's assistant turn, then one result per call: "ok" or its errors."""
        if not self._sent:
            return []
        replies = [
            Reply(sent.id or "", sent.name, _retry_text(replace(slot, id=sent.id or "")), is_error=True)
            if isinstance(slot, CallFailure)
            else Reply(sent.id or "", sent.name, "ok")
            for sent, slot in zip(self._sent, self._judged)
        ]
        return [self.adapter.assistant_message(self._sent, text), *self.adapter.reply_messages(replies)]


@functools.cache
def _runner() -> Runner:
    """The handler runner; asyncio and threads load with the first result, not on import."""
    from .running import RUNNER

    return RUNNER


def _retry_text(failure: CallFailure) -> str:
    return (
        f"Validation failed for {failure.describe()}. "
        f"Call {failure.name if not failure.unknown_tool else 'one of the offered tools'} "
        "again with corrected arguments."
    )

