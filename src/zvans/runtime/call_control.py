"""Where the ACD's decisions go: telephony in production, a recorder in tests."""

from __future__ import annotations

from typing import Protocol

from zvans.core.acd import Decision


class CallControl(Protocol):
    def execute(self, org_id: int, decision: Decision) -> None:
        """Carry out a decision; must not block (schedule I/O on the event loop)."""


class NullCallControl:
    """No telephony attached: decisions are only visible as events and in the views."""

    def execute(self, org_id: int, decision: Decision) -> None:
        return None


class RecordingCallControl:
    """Keeps every decision, for tests and for the demo-traffic simulator to react to."""

    def __init__(self) -> None:
        self.decisions: list[tuple[int, Decision]] = []

    def execute(self, org_id: int, decision: Decision) -> None:
        self.decisions.append((org_id, decision))

    def take(self) -> list[tuple[int, Decision]]:
        out, self.decisions = self.decisions, []
        return out
