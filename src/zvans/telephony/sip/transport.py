"""UDP and TCP transports (RFC 3261 §18) with rport/received stamping (RFC 3581).

The transport layer only moves bytes: it frames TCP streams by Content-Length, parses
each message, stamps ``received``/``rport`` on the top Via of requests, and hands
``(message, peer)`` to the layer above.  Bad input is reported as a
:class:`SipParseError` to ``on_error`` (which may answer 400); it never raises.

Responses go back to the packet's source address and port (Asterisk's ``force_rport``
behaviour), whatever the Via says: phones behind NAT then work without configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from .errors import SipParseError
from .message import MAX_HEADER_BYTES, MAX_MESSAGE_BYTES, Request, Response, parse_message
from .uri import Via

log = logging.getLogger(__name__)

UDP_BUFFER_BYTES = 4 * 1024 * 1024  # capped by net.core.rmem_max / wmem_max

_CONTENT_LENGTH_RE = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\S*)", re.I | re.M)


@dataclass(frozen=True, slots=True)
class Peer:
    """The far end of a message: transport name and socket address."""

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"


MessageHandler = Callable[[Request | Response, Peer], None]
ErrorHandler = Callable[[SipParseError, Peer], None]
SendErrorHandler = Callable[[Peer, Exception], None]


def stamp_via(request: Request, peer: Peer) -> None:
    """Add ``received`` (and fill ``rport``) on the top Via, RFC 3261 §18.2.1 / RFC 3581."""
    values = request.headers.get_all("Via")
    if not values:
        return
    try:
        top = Via.parse(values[0])
    except SipParseError:
        return
    changed = False
    if top.host.strip("[]") != peer.host:
        top.params["received"] = peer.host
        changed = True
    if "rport" in top.params and top.params["rport"] is None:
        top.params["received"] = peer.host
        top.params["rport"] = str(peer.port)
        changed = True
    if changed:
        request.headers.remove("Via")
        request.headers.add("Via", str(top))
        for value in values[1:]:
            request.headers.add("Via", value)


class _Dispatcher:
    def __init__(self, on_message: MessageHandler, on_error: ErrorHandler) -> None:
        self.on_message = on_message
        self.on_error = on_error

    def feed(self, data: bytes, peer: Peer, *, datagram: bool) -> None:
        try:
            msg = parse_message(data, datagram=datagram)
        except SipParseError as exc:
            self.on_error(exc, peer)
            return
        except Exception as exc:  # defence in depth: a parser bug must not kill the loop
            log.exception("parser bug on input from %s", peer)
            self.on_error(SipParseError(f"internal parser error: {exc!r}"), peer)
            return
        if isinstance(msg, Request):
            stamp_via(msg, peer)
        try:
            self.on_message(msg, peer)
        except Exception:
            log.exception("handler failed for %r from %s", msg, peer)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, dispatcher: _Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if not data.strip(b"\r\n\x00 "):
            return  # keep-alive ping (RFC 5626 CRLF) or junk
        host, port = str(addr[0]), int(addr[1])
        self.dispatcher.feed(data, Peer("UDP", host, port), datagram=True)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class _TcpConnection(asyncio.Protocol):
    def __init__(self, manager: TransportManager, outbound_peer: Peer | None = None) -> None:
        self.manager = manager
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer = outbound_peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.peer is None:
            host, port = self.transport.get_extra_info("peername")[:2]
            self.peer = Peer("TCP", str(host), int(port))
        manager = self.manager
        per_host = manager.per_host.get(self.peer.host, 0)
        if (
            len(manager.connections) >= manager.max_connections
            or per_host >= manager.max_connections_per_host
        ):
            log.warning("too many TCP connections, refusing %s", self.peer)
            self.transport.close()
            self.peer = None
            return
        manager.connections[(self.peer.host, self.peer.port)] = self
        manager.per_host[self.peer.host] = per_host + 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            key = (self.peer.host, self.peer.port)
            if self.manager.connections.get(key) is self:
                del self.manager.connections[key]
                left = self.manager.per_host.get(self.peer.host, 1) - 1
                if left > 0:
                    self.manager.per_host[self.peer.host] = left
                else:
                    self.manager.per_host.pop(self.peer.host, None)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:  # refused connection
            return
        self.buffer += data
        try:
            self._drain()
        except Exception:
            log.exception("TCP framing bug, closing %s", self.peer)
            self._close()

    def _close(self) -> None:
        self.buffer.clear()
        if self.transport is not None:
            self.transport.close()

    def _drain(self) -> None:
        assert self.peer is not None
        dispatcher = self.manager.dispatcher
        while self.buffer:
            # CRLFs between messages are keep-alives (RFC 5626 §3.5.1): skip them
            stripped = self.buffer.lstrip(b"\r\n")
            if len(stripped) != len(self.buffer):
                self.buffer = bytearray(stripped)
                continue
            end, sep = self.buffer.find(b"\r\n\r\n"), 4
            lf_end = self.buffer.find(b"\n\n")
            if lf_end != -1 and (end == -1 or lf_end < end):
                end, sep = lf_end, 2  # bare-LF sender: tolerate, as the UDP parser does
            if end == -1:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    dispatcher.on_error(SipParseError("header section too large"), self.peer)
                    self._close()
                return
            head = bytes(self.buffer[:end])
            m = _CONTENT_LENGTH_RE.search(head)
            raw = m.group(1) if m else b""
            if not raw.isdigit() or len(raw) > 6 or int(raw) > MAX_MESSAGE_BYTES:
                # framing is lost: answer if we can, then drop the connection
                dispatcher.feed(bytes(self.buffer[: end + sep]), self.peer, datagram=False)
                self._close()
                return
            total = end + sep + int(raw)
            if len(self.buffer) < total:
                return
            message = bytes(self.buffer[:total])
            del self.buffer[:total]
            dispatcher.feed(message, self.peer, datagram=False)


class TransportManager:
    """Owns the listening sockets and outbound TCP connections of one SIP stack."""

    def __init__(
        self,
        on_message: MessageHandler,
        on_error: ErrorHandler,
        on_send_error: SendErrorHandler | None = None,
        *,
        max_connections: int = 4096,
        max_connections_per_host: int = 64,
    ) -> None:
        self.dispatcher = _Dispatcher(on_message, on_error)
        self.on_send_error = on_send_error
        self.max_connections = max_connections
        #: one address cannot take every connection slot (phones need one each)
        self.max_connections_per_host = max_connections_per_host
        self.per_host: dict[str, int] = {}
        self.udp: _UdpProtocol | None = None
        self.tcp_server: asyncio.Server | None = None
        self.connections: dict[tuple[str, int], _TcpConnection] = {}
        self.addresses: dict[str, tuple[str, int]] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen_udp(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self.dispatcher), local_addr=(host, port)
        )
        self.udp = protocol
        sock = transport.get_extra_info("socket")
        if sock is not None:  # bursts of INVITEs must not overflow the kernel's default buffer
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER_BYTES)
        bound = transport.get_extra_info("sockname")
        self.addresses["UDP"] = (str(bound[0]), int(bound[1]))
        return self.addresses["UDP"]

    async def listen_tcp(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self.tcp_server = await loop.create_server(lambda: _TcpConnection(self), host, port)
        bound = self.tcp_server.sockets[0].getsockname()
        self.addresses["TCP"] = (str(bound[0]), int(bound[1]))
        return self.addresses["TCP"]

    def send(self, data: bytes, peer: Peer) -> None:
        """Queue bytes for ``peer``; failures go to ``on_send_error`` (never raise)."""
        if peer.transport == "UDP":
            if self.udp is None or self.udp.transport is None:
                self._send_failed(peer, OSError("no UDP transport"))
                return
            try:
                self.udp.transport.sendto(data, (peer.host, peer.port))
            except OSError as exc:
                self._send_failed(peer, exc)
            return
        key = (peer.host, peer.port)
        conn = self.connections.get(key)
        if conn is not None:
            conn.write(data)
            return
        queue = self._pending.get(key)
        if queue is not None:
            queue.append(data)
            return
        self._pending[key] = [data]
        task = asyncio.get_running_loop().create_task(self._connect(peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, peer: Peer) -> None:
        key = (peer.host, peer.port)
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _TcpConnection(self, peer), peer.host, peer.port),
                timeout=10,
            )
        except (OSError, TimeoutError) as exc:
            self._pending.pop(key, None)
            self._send_failed(peer, exc)
            return
        for data in self._pending.pop(key, []):
            conn.write(data)

    def _send_failed(self, peer: Peer, exc: Exception) -> None:
        log.info("cannot send to %s: %s", peer, exc)
        if self.on_send_error is not None:
            self.on_send_error(peer, exc)

    async def close(self) -> None:
        if self.udp is not None and self.udp.transport is not None:
            self.udp.transport.close()
        if self.tcp_server is not None:
            self.tcp_server.close()
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        for task in list(self._tasks):
            task.cancel()
        if self.tcp_server is not None:
            await self.tcp_server.wait_closed()
