"""Background tasks that are tracked (so they can be cancelled at close) and whose crashes are logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any


class TrackedTasks(set[asyncio.Task[Any]]):
    """A set of live tasks; a task that dies with an exception is reported, never silently lost."""

    def __init__(self, prefix: str, log: logging.Logger, on_error: Callable[[BaseException], None] | None = None):
        super().__init__()
        self.prefix = prefix
        self.log = log
        self.on_error = on_error

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{self.prefix}-{name}")
        self.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            if self.on_error is not None:
                self.on_error(exc)
            self.log.error("task %s failed: %r", task.get_name(), exc)
