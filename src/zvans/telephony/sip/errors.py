"""Errors of the SIP layer.

Parsing never lets a stray ``ValueError``/``IndexError`` escape: every problem with wire
input becomes a :class:`SipParseError` that says which status (400, 416, 505, ...) a
request deserves and carries enough of the request to build that answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .message import Request


class SipError(Exception):
    """Base class of every error raised by ``zvans.telephony.sip``."""


class SipParseError(SipError):
    """Wire input that is not a valid SIP message.

    ``status`` is the response a request deserves (400 by default).  ``stub`` is a
    best-effort request holding the headers needed to send that response (Via, From, To,
    Call-ID, CSeq); it is ``None`` when there is not enough to answer, and the message
    must then be dropped silently.
    """

    def __init__(self, reason: str, *, status: int = 400, stub: Request | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.stub = stub


class InvalidTransition(SipError):
    """A protocol state machine was asked for a move its table does not allow."""

    def __init__(self, machine: str, current: object, target: object) -> None:
        super().__init__(f"{machine}: illegal transition {current} -> {target}")
        self.machine = machine
        self.current = current
        self.target = target


class TransportError(SipError):
    """A message could not be handed to the network (no route, connection refused...)."""


class TransactionTimeout(SipError):
    """A client transaction got no final response (timer B or F fired)."""
