"""Tell the ACD that an agent is on a call it did not route, and that the call ended.

Click-to-call and campaign calls (outbound.py), the agent a call is transferred to, the
person consulted, a conference member and a supervisor who is also an agent (controls.py)
are on the phone without the ACD having rung them. :class:`AgentBusy` turns the start and
end of such a leg into ``cc.external_call_started`` / ``cc.external_call_ended`` so that the
ACD offers them nothing meanwhile (docs/decisions/0014).

A busy mark that is never cleared would keep an agent from queue calls for good, so the
end is tied to the leg itself: :meth:`watch` ends it from the SIP leg's ``ended`` future
(BYE either way, CANCEL, no ACK, our own hang-up), :meth:`end` is called from ``finally``
blocks, every end is idempotent, and :meth:`close` ends whatever is still open when the
telephony stops. The engine lives in memory, so a restart starts with nobody busy.

Both commands go through the B2BUA's one command thread, in the order they happen, so an
end never overtakes its start; a user who takes no calls (a supervisor without an agent
profile) is simply not tracked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zvans.errors import ZvansError

if TYPE_CHECKING:
    from zvans.telephony.b2bua import B2bua
    from zvans.telephony.sip import OutgoingCall

log = logging.getLogger(__name__)

#: refusals that only mean "not an agent the ACD routes to": nothing to track
NOT_TRACKED = frozenset({"not-an-agent", "no-such-agent"})


@dataclass
class _Busy:
    org_id: int
    agent_id: int
    ref: str
    tracked: bool = False


class AgentBusy:
    def __init__(self, b2bua: B2bua) -> None:
        self.b = b2bua
        #: open marks by reference (started and not yet ended)
        self.open: dict[str, _Busy] = {}
        self._seq = 0

    def new_ref(self, kind: str) -> str:
        self._seq += 1
        return f"{kind}:{id(self):x}:{self._seq}"

    def start(self, org_id: int, agent_id: int, ref: str, *, kind: str,
              interaction_id: int | None = None) -> None:
        """The agent is on the call ``ref`` (call on the event loop)."""
        if ref in self.open:
            return
        mark = self.open[ref] = _Busy(org_id, agent_id, ref)

        def run() -> None:
            try:
                self.b.cc.external_call_started(org_id, agent_id, ref, kind=kind,
                                                interaction_id=interaction_id)
            except ZvansError as exc:
                if exc.code not in NOT_TRACKED:
                    log.warning("agent %s busy on %s not recorded: %s", agent_id, ref,
                                exc.message)
                return
            mark.tracked = True

        self._submit(run)

    def end(self, ref: str, *, wrapup_queue_id: int | None = None) -> None:
        """The call ``ref`` is over (any number of times; call on the event loop)."""
        mark = self.open.pop(ref, None)
        if mark is None:
            return

        def run() -> None:
            if not mark.tracked:  # its start was refused (not an agent) or never ran
                return
            try:
                self.b.cc.external_call_ended(mark.org_id, mark.agent_id, ref,
                                              wrapup_queue_id=wrapup_queue_id)
            except ZvansError as exc:
                log.warning("end of agent %s's call %s not recorded: %s", mark.agent_id, ref,
                            exc.message)

        self._submit(run)

    def watch(self, org_id: int, agent_id: int, sip: OutgoingCall, *, kind: str,
              interaction_id: int | None = None) -> str:
        """Busy from now until the leg ends, whichever way it ends."""
        ref = self.new_ref(kind)
        self.start(org_id, agent_id, ref, kind=kind, interaction_id=interaction_id)
        sip.ended.add_done_callback(lambda _f: self.end(ref))
        return ref

    def close(self) -> None:
        """Telephony stops: end every mark still open (the legs are gone)."""
        for ref in list(self.open):
            self.end(ref)

    def _submit(self, fn: Callable[[], Any]) -> None:
        """On the B2BUA's command thread, after the commands already queued; inline once
        that thread has stopped (shutdown), so an end is never lost."""
        try:
            future: Future[Any] = self.b._executor.submit(fn)
        except RuntimeError:
            fn()
            return
        future.add_done_callback(_log_failure)


def _log_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("agent busy command failed", exc_info=exc)
