"""A progress bar for long batch waits, with `tqdm` or `rich` when one is installed (else none)."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any

from .common import BatchStatus


class Progress:
    """Shows a job's processed requests; the bar appears once a poll finds the job still running."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: _Bar | None = None

    def update(self, status: BatchStatus) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            if status.done:
                return
            self._bar = _open_bar(f"batch {status.id}")
            if self._bar is None:
                self.enabled = False
                return
        self._bar.show(status.processed, status.total, status.state)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Bar(ABC):
    @abstractmethod
    def show(self, done: int, total: int | None, state: str) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


class _Tqdm(_Bar):
    def __init__(self, tqdm: Any, title: str) -> None:
        self.bar = tqdm.tqdm(total=None, desc=title, unit="req")

    def show(self, done: int, total: int | None, state: str) -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(state, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


class _Rich(_Bar):
    def __init__(self, progress: Any, title: str) -> None:
        self.progress = progress.Progress(transient=False)
        self.progress.start()
        self.task = self.progress.add_task(title, total=None)

    def show(self, done: int, total: int | None, state: str) -> None:
        self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        self.progress.stop()


def _open_bar(title: str) -> _Bar | None:
    """A bar from the first progress library installed: tqdm, then rich."""
    for module, bar in (("tqdm", _Tqdm), ("rich.progress", _Rich)):
        try:
            library = importlib.import_module(module)
        except ImportError:
            continue
        return bar(library, title)
    return None
