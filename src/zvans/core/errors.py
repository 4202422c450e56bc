"""Typed errors of the core, shaped like the API's error body
``{"error": {"code": ..., "message": ..., "details": {...}}}``."""

from __future__ import annotations


class CoreError(Exception):
    """A command the core refuses; the engine state is unchanged when one is raised."""

    code: str = "core-error"

    def __init__(
        self, code: str | None = None, message: str = "", details: dict[str, object] | None = None
    ) -> None:
        if code is not None:
            self.code = code
        self.message = message or self.code
        self.details: dict[str, object] = dict(details or {})
        super().__init__(self.message)

    def as_dict(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidTransition(CoreError):
    """An illegal move of a state machine (agent or call)."""

    code = "invalid-transition"

    def __init__(
        self,
        machine: str,
        current: str,
        target: str,
        details: dict[str, object] | None = None,
    ) -> None:
        info: dict[str, object] = {"machine": machine, "from": current, "to": target}
        info.update(details or {})
        super().__init__(
            "invalid-transition", f"{machine}: cannot go from {current} to {target}", info
        )
