"""The ContactCenter's transactions: one per command, or one for a group of commands.

A command alone gets its own transaction (as before). :meth:`Transactions.group` runs
several commands in ONE transaction and commits once (group commit): each command inside
runs in a SAVEPOINT, so a command that fails rolls back only its own writes, its captured
events and its post-commit actions; the others commit. Nothing a command promises is
visible before the commit: events are published and the decisions handed to call control
(``after`` actions) only once the group's transaction has committed, in command order.
See docs/decisions/0017-group-commit.md.

SQLite: pysqlite starts its transaction lazily at the first INSERT/UPDATE, so a SAVEPOINT
issued first would open (and its RELEASE commit) a transaction of its own; the outer
transaction therefore starts with an explicit ``BEGIN IMMEDIATE``, which also takes the
write lock up front instead of upgrading a read lock half-way (no SQLITE_BUSY deadlock).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from zvans.runtime import call_rows
from zvans.store.db import pending_events

log = logging.getLogger("zvans.runtime")

#: the most commands one group commit takes (bounds the lock hold and the latency)
MAX_GROUP = 64


class OpenTx:
    """The transaction commands run in now, and what to do once it commits."""

    __slots__ = ("after", "session")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.after: list[Callable[[], None]] = []


class Transactions:
    def __init__(self, sessions: sessionmaker[Session], lock: threading.RLock) -> None:
        self.sessions = sessions
        self.lock = lock
        self.open: OpenTx | None = None
        bind = sessions.kw.get("bind")
        self._sqlite = bind is not None and bind.dialect.name == "sqlite"
        self.commits = 0

    @contextlib.contextmanager
    def tx(self) -> Iterator[Session]:
        """A command's transaction: a SAVEPOINT in the open one (a group, or a command
        calling another), else a transaction of its own, committed on exit."""
        with self.lock:
            open_tx = self.open
            if open_tx is not None:
                with self._savepoint(open_tx):
                    yield open_tx.session
                return
            with self._transaction() as tx:
                yield tx.session

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the open transaction has committed (dropped on rollback)."""
        assert self.open is not None, "after_commit outside a transaction"
        self.open.after.append(action)

    def group(self, commands: Sequence[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        """Run ``commands`` in order in one transaction; ``(True, result)`` or
        ``(False, exception)`` per command, known only after the commit. If the commit
        itself fails, every command gets that exception (nothing of the group is saved)."""
        with self.lock:
            if len(commands) == 1:
                try:
                    return [(True, commands[0]())]
                except Exception as exc:
                    return [(False, exc)]
            results: list[tuple[bool, Any]] = []
            try:
                with self._transaction():
                    for command in commands:
                        try:
                            results.append((True, command()))
                        except Exception as exc:  # its SAVEPOINT rolled it back
                            results.append((False, exc))
            except Exception as exc:
                log.exception("group commit of %d commands failed", len(commands))
                return [(False, exc)] * len(commands)
            return results

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[OpenTx]:
        # the caller holds the lock
        with self.sessions.begin() as session:
            if self._sqlite:
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            tx = self.open = OpenTx(session)
            try:
                yield tx
            finally:
                self.open = None
        self.commits += 1
        for action in tx.after:
            try:
                action()
            except Exception:  # one command's hand-over must not stop the others'
                log.exception("post-commit action failed")

    @contextlib.contextmanager
    def _savepoint(self, tx: OpenTx) -> Iterator[None]:
        session = tx.session
        nested = session.begin_nested()  # flushes what came before: not this command's
        captured = pending_events(session)
        marks = len(captured), len(tx.after)
        try:
            yield
            nested.commit()
        except BaseException:
            nested.rollback()  # also after a failed flush (the savepoint is then deactive)
            del captured[marks[0]:]
            call_rows.forget(session)  # cached rows may hold what was just undone
            del tx.after[marks[1]:]
            raise
