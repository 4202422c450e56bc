"""An executor with one thread that runs what is waiting as one group commit.

A drop-in for ``ThreadPoolExecutor(1)`` in front of a :class:`ContactCenter`: ``submit``
queues a closure (FIFO, so a call's commands keep their order); the thread takes everything
waiting when it wakes (up to ``MAX_GROUP``) and runs it with ``ContactCenter.group``: one
transaction, one commit, a SAVEPOINT per command. Each future is settled only after that
commit and after the decisions were handed to call control (docs/decisions/0017).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any

from zvans.runtime.transactions import MAX_GROUP

if TYPE_CHECKING:
    from zvans.runtime.contact_center import ContactCenter


class GroupExecutor(Executor):
    def __init__(self, cc: ContactCenter, *, name: str = "zvans-cc",
                 initializer: Callable[[], None] | None = None) -> None:
        self.cc = cc
        self._items: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = \
            queue.SimpleQueue()
        self._initializer = initializer
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._lock = threading.Lock()
        self._shutdown = False
        #: transactions committed and commands run (the bench's commands per commit)
        self.groups = 0
        self.commands = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new commands after shutdown")
            if not self._thread.is_alive():
                self._thread.start()
            future: Future[Any] = Future()
            self._items.put(((lambda: fn(*args, **kwargs)) if args or kwargs else fn,
                             future))
            return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
            started = self._thread.is_alive()
            self._items.put(None)
        if wait and started:
            self._thread.join()

    def _work(self) -> None:
        if self._initializer is not None:
            self._initializer()
        items = self._items
        while True:
            first = items.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_GROUP:
                try:
                    item = items.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            runnable = [(fn, future) for fn, future in batch
                        if future.set_running_or_notify_cancel()]
            if not runnable:
                continue
            results = self.cc.group([fn for fn, _ in runnable])
            self.groups += 1
            self.commands += len(runnable)
            for (_, future), (ok, value) in zip(runnable, results, strict=True):
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            if stop:
                return
