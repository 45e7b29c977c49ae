"""From the provider's output to one result per request: reading, accounting, validating."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel

from ..calls import ToolCalls
from ..engine import redact
from ..errors import PolycallError, ProviderError
from ..limits import Limits
from ..providers.base import Adapter
from ..session import Session
from ..toolset import ToolSet
from .common import BatchItemError, BatchStatus, Outcome

_CUSTOM_ID_IN_TEXT = re.compile(r'"custom_id"\s*:\s*"([^"\\]{1,200})"')
_SHOWN = 200  # characters of an unreadable line its error quotes
_WORD_CHARACTER = r"[\w\-.+/=]"  # of a word a credential could be
_WORD = re.compile(_WORD_CHARACTER)
_CUT_WORD = re.compile(_WORD_CHARACTER + "+$")


def salvage_id(text: str) -> str | None:
    """The custom id of an unreadable output line, where it can still be seen."""
    match = _CUSTOM_ID_IN_TEXT.search(text)
    return match.group(1) if match else None


def unreadable(line_number: int, text: str, why: str) -> Outcome:
    custom_id = salvage_id(text)
    shown = custom_id or f"<unreadable line {line_number}>"
    error = BatchItemError(
        f"batch request {shown}: output line {line_number} could not be read ({why}): {_excerpt(text)!r}",
        custom_id=shown,
        kind="unreadable",
    )
    return custom_id, error


def _excerpt(text: str) -> str:
    """The start of `text`, without the word it cuts: cut, a credential could not be
    recognised to be redacted."""
    if len(text) <= _SHOWN:
        return text
    shown = text[:_SHOWN]
    if _WORD.match(text[_SHOWN]):
        shown = _CUT_WORD.sub("", shown)
    return shown + "..."


def read_jsonl(text: str, first_line: int = 1) -> Iterator[tuple[int, str, Any]]:
    """(line number, text, parsed JSON or None) for each non-blank line. Lines end at "\n"
    only (a "\r" before it is dropped): JSON text may hold U+2028 or U+0085 unescaped, which
    `str.splitlines` would take for line ends."""
    for number, line in enumerate(text.split("\n"), first_line):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            yield number, line, json.loads(line)
        except ValueError:
            yield number, line, None


def to_sdk(model: type[Any], body: Any) -> Any:
    """A plain JSON dict as the SDK's response type, leniently, as the SDK itself builds it."""
    if not isinstance(body, dict):
        return body
    try:
        return model.model_validate(body)
    except Exception:  # noqa: BLE001 - a lenient build follows, like the SDK's own
        return model.model_construct(**body)


def account(
    outcomes: Iterable[Outcome], custom_ids: list[str] | None, status: BatchStatus
) -> Iterator[tuple[str, Any]]:
    """Every request exactly once: the outcomes in the provider's order, then an error for
    each submitted request the output does not hold."""
    seen: set[str] = set()
    unattributed: list[BatchItemError] = []
    for custom_id, result in outcomes:
        if custom_id is None:
            unattributed.append(result)
            continue
        if custom_id in seen:
            continue
        seen.add(custom_id)
        yield custom_id, result
    missing = [custom_id for custom_id in custom_ids or () if custom_id not in seen]
    for custom_id in missing:
        yield custom_id, _missing(custom_id, status, unattributed)
    if custom_ids is None or not missing:
        for error in unattributed:
            yield error.custom_id, error
    if custom_ids is None and status.total is not None:  # a resumed job: only the count is known
        unnamed = status.total - len(seen) - len(unattributed)
        for k in range(1, unnamed + 1):
            shown = f"<unnamed request {k} of {unnamed}>"
            error = _missing(shown, status, [])
            unknown = "its custom_id is not known (resume(..., custom_ids=job.custom_ids) names it)"
            error.args = (f"{error}; {unknown}",)
            yield shown, error


def _missing(custom_id: str, status: BatchStatus, unattributed: list[BatchItemError]) -> BatchItemError:
    if status.state == "failed":
        reason = "the provider rejected the whole batch"
        detail = f": {status_detail(status)}" if status_detail(status) else ""
        return BatchItemError(
            f"batch request {custom_id}: {reason} (batch {status.id} {status.provider_state}){detail}",
            custom_id=custom_id,
            kind="failed",
        )
    kind = {"expired": "expired", "cancelled": "cancelled"}.get(status.state, "missing")
    message = (
        f"batch request {custom_id} has no result in the provider's output "
        f"(batch {status.id} ended {status.provider_state})"
    )
    if unattributed:
        message += f"; the output also had {len(unattributed)} unreadable line(s)"
    return BatchItemError(message, custom_id=custom_id, kind=kind)


def status_detail(status: BatchStatus) -> str:
    """The provider's own words on why a batch failed, where it gives them."""
    errors = getattr(getattr(status.raw, "errors", None), "data", None) or []
    single = getattr(status.raw, "error", None)
    if single is not None:
        errors = [single]
    return "; ".join(
        f"{getattr(e, 'message', e)}" + (f" (line {e.line})" if getattr(e, "line", None) else "")
        for e in errors
    )


def to_calls(
    adapter: Adapter,
    tools: ToolSet,
    custom_id: str,
    result: Any,
    *,
    context: Any = None,
    strict: bool | None = None,
    limits: Limits | None = None,
) -> ToolCalls[Any] | PolycallError:
    """One batch result through the same parsing and validation as `create` (no retries)."""
    if isinstance(result, PolycallError):  # the provider's error for this request
        return _tagged(_redacted(result, adapter), custom_id)
    session = Session(adapter, tools, {}, context=context, strict=strict, limits=limits)
    session.begin()
    try:
        turn = adapter.parse(result)
        session.complete(turn)
        verdict = session.judge(turn)
    except Exception as exc:  # noqa: BLE001 - an odd response must not end the whole batch
        if isinstance(exc, PolycallError) and type(exc) is not ProviderError:
            return _tagged(exc, custom_id)  # what `create` would raise: a refusal, a bad call
        # The adapter's word that the response holds nothing it can read (no choices, ...).
        why = redact(str(exc) if isinstance(exc, ProviderError) else f"{type(exc).__name__}: {exc}", adapter)
        odd = BatchItemError(
            f"batch request {custom_id}: the response could not be read: {why}",
            custom_id=custom_id,
            kind="unreadable",
        )
        odd.raw = result
        return odd
    return _tagged(verdict, custom_id) if verdict is not None else session.result()


def _redacted(error: PolycallError, adapter: Adapter) -> PolycallError:
    """`error` with the client's credentials taken out of its message and of the provider's
    error it keeps (`body`), should the provider's text for the request have quoted them."""
    message = str(error)
    clean = redact(message, adapter)
    if clean != message:
        error.args = (clean,)
    if isinstance(error, BatchItemError) and error.body is not None:
        error.body = _scrubbed(error.body, adapter)
    return error


def _scrubbed(value: Any, adapter: Adapter) -> Any:
    """`value` (JSON, or the SDK's pydantic model of it) with every string redacted; the
    same object where nothing needed to change."""
    if isinstance(value, str):
        return redact(value, adapter)
    if isinstance(value, dict):
        items = {key: _scrubbed(item, adapter) for key, item in value.items()}
        return value if items == value else items
    if isinstance(value, list):
        listed = [_scrubbed(item, adapter) for item in value]
        return value if listed == value else listed
    if isinstance(value, BaseModel):  # its fields and the extra ones the SDK's models allow
        fields = {name: getattr(value, name) for name in type(value).model_fields}
        fields.update(value.model_extra or {})
        changed = {name: new for name, new in _scrubbed(fields, adapter).items() if new is not fields[name]}
        return value.model_copy(update=changed) if changed else value
    return value


def _tagged(error: PolycallError, custom_id: str) -> PolycallError:
    error.custom_id = custom_id  # type: ignore[attr-defined]
    return error
