"""One function run in a daemon thread, its result or its error taken later: how drift
reads files while it does other work (polars and hashlib leave the GIL while they read).

A daemon thread, not a `concurrent.futures` pool: a command that fails before it takes
the result exits at once instead of waiting at exit for a read nobody needs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """`function()` started in a daemon thread; `result()` waits, then returns or raises."""

    def __init__(self, function: Callable[[], T]):
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function,), daemon=True)
        self._thread.start()

    def _run(self, function: Callable[[], T]) -> None:
        try:
            self._value = function()
        except BaseException as error:  # raised again in the thread that takes the result
            self._error = error

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
