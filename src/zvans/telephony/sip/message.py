"""SIP requests and responses: a hardened parser and a serialiser.

Why our own and not aiosipua's ``SipMessage.parse``: that parser is lenient (it skips
header lines without a colon, trims short bodies with a warning, lets ``int()`` errors
escape) and tells us nothing about how to answer bad input.  Here every defect becomes a
:class:`SipParseError` with the status a request deserves, and the checks that RFC 4475's
torture categories exercise are explicit (see ``parse_message``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from .errors import SipParseError
from .uri import NameAddr, SipUri, Via, is_token

MAX_MESSAGE_BYTES = 65_535
MAX_HEADER_BYTES = 16_384
MAX_HEADERS = 128
MAX_LINE_BYTES = 4_096

COMPACT = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
    "u": "allow-events",
}

PRETTY = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
}

#: Headers whose comma-separated values are split into separate entries.
LIST_HEADERS = frozenset({"via", "route", "record-route", "contact"})
#: Headers that must appear at most once.
SINGLE_HEADERS = frozenset(
    {"call-id", "cseq", "from", "to", "content-length", "max-forwards", "content-type", "expires"}
)
REQUIRED_HEADERS = ("via", "from", "to", "call-id", "cseq")

REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    600: "Busy Everywhere",
    603: "Decline",
}


@lru_cache(maxsize=1024)
def canonical_name(name: str) -> str:
    """Long-form, conventionally cased header name (``i`` -> ``Call-ID``).  Cached: it is
    called for every header access, and a bounded LRU keeps junk names from growing it."""
    lower = name.lower()
    lower = COMPACT.get(lower, lower)
    pretty = PRETTY.get(lower)
    if pretty:
        return pretty
    return "-".join(p.capitalize() for p in lower.split("-"))


def split_list(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets."""
    if "," not in value:
        return [value.strip()]
    parts: list[str] = []
    buf: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and not quoted and depth == 0:
            parts.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf).strip())
    return parts


class Headers:
    """Ordered, case-insensitive multi-map of header values (long-form names)."""

    __slots__ = ("_names", "_values")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._values: dict[str, list[str]] = {}
        self._names: dict[str, str] = {}
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        if "\r" in value or "\n" in value or "\x00" in value:
            raise ValueError(f"header {name} value contains a line break or NUL")
        pretty = canonical_name(name)
        key = pretty.lower()
        if key not in self._values:
            self._values[key] = []
            self._names[key] = pretty
        self._values[key].append(value)

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        key = canonical_name(name).lower()
        self._values.pop(key, None)
        self._names.pop(key, None)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._values.get(canonical_name(name).lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._values.get(canonical_name(name).lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical_name(name).lower() in self._values

    def items(self) -> Iterator[tuple[str, str]]:
        for key, values in self._values.items():
            for value in values:
                yield self._names[key], value

    def copy(self) -> Headers:
        return Headers(self.items())


@dataclass(slots=True, eq=False)
class Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # --- accessors (parse on demand; parse_message has already validated them) ---
    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.headers.get("CSeq") or "")

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        value = self.headers.get("Via")
        if value is None:
            raise SipParseError("no Via")
        return Via.parse(value)

    @property
    def from_(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("From") or "")

    @property
    def to(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("To") or "")

    @property
    def contacts(self) -> list[NameAddr]:
        return [NameAddr.parse(v) for v in self.headers.get_all("Contact") if v.strip() != "*"]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def _head(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        lines = [self._head()]
        for name, value in self.headers.items():
            if name != "Content-Length":
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


@dataclass(slots=True, eq=False)
class Request(Message):
    method: str = ""
    uri: str = ""

    def _head(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"

    @property
    def request_uri(self) -> SipUri:
        return SipUri.parse(self.uri)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} call-id={self.call_id!r}>"


@dataclass(slots=True, eq=False)
class Response(Message):
    status: int = 200
    reason: str = "OK"

    def _head(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} call-id={self.call_id!r}>"


def parse_cseq(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10:
        raise SipParseError(f"bad CSeq {value[:40]!r}")
    number = int(parts[0])
    if number >= 2**31:
        raise SipParseError("CSeq number out of range")
    if not is_token(parts[1]):
        raise SipParseError("bad CSeq method")
    return number, parts[1]


def _parse_int(value: str, name: str, limit: int) -> int:
    value = value.strip()
    if not value.isdigit() or len(value) > 10:
        raise SipParseError(f"bad {name} {value[:20]!r}")
    number = int(value)
    if number > limit:
        raise SipParseError(f"{name} out of range")
    return number


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = data.find(sep)
        if idx != -1:
            return data[:idx], data[idx + len(sep) :]
    return data, b""


def _read_headers(lines: list[str]) -> tuple[Headers, SipParseError | None]:
    """Read header lines; bad lines are skipped and the first problem is returned, so
    that the caller can still build a stub from the good headers and answer 400."""
    headers = Headers()
    error: SipParseError | None = None
    unfolded: list[str] = []
    for line in lines:
        if not line:
            continue
        if line[0] in " \t":
            if not unfolded:
                error = error or SipParseError("continuation line before any header")
                continue
            unfolded[-1] += " " + line.strip()
        else:
            unfolded.append(line)
    if len(unfolded) > MAX_HEADERS:
        error = SipParseError(f"too many headers ({len(unfolded)})", status=413)
        # keep the headers a 413 needs, skip the flood
        unfolded = [u for u in unfolded if u.split(":", 1)[0].strip().lower() in _STUB_NAMES]
    for line in unfolded:
        if len(line) > MAX_LINE_BYTES:
            error = error or SipParseError("header line too long", status=413)
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not is_token(name):
            error = error or SipParseError(f"malformed header line {line[:60]!r}")
            continue
        # NUL was already noted by the caller; keep the header so a 400 can still be sent
        value = value.strip().replace("\x00", "\ufffd")
        if "\r" in value:
            error = error or SipParseError("bare CR in a header")
            continue
        key = canonical_name(name).lower()
        if key in LIST_HEADERS:
            parts = split_list(value)
            if any(not part for part in parts):
                error = error or SipParseError(f"empty {name} list element")
                continue
            for part in parts:
                headers.add(name, part)
        else:
            headers.add(name, value)
    return headers, error


_STUB_NAMES = frozenset({"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"})


def _stub(method: str, uri: str, headers: Headers) -> Request | None:
    """A request good enough to answer with an error, or None (then: drop)."""
    vias = headers.get_all("Via")
    if not vias or not method:
        return None
    try:
        Via.parse(vias[0])
    except SipParseError:
        return None
    return Request(headers=headers, method=method, uri=uri)


def parse_message(data: bytes, *, datagram: bool = True) -> Request | Response:
    """Parse one complete message.

    ``datagram`` selects RFC 3261 §18.3 rules: on UDP a body shorter than Content-Length
    is an error, a longer one is trimmed; on a stream transport the framer has already
    cut the message at Content-Length, which is then mandatory.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError("message too large", status=413)
    data = data.lstrip(b"\r\n")
    if not data:
        raise SipParseError("empty message")
    head_bytes, body = _split_head(data)
    if len(head_bytes) > MAX_HEADER_BYTES:
        raise SipParseError("header section too large", status=413)
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("header section is not UTF-8") from exc
    nul = "\x00" in head
    lines = head.replace("\r\n", "\n").split("\n")
    start = lines[0]
    is_response = start.startswith("SIP/")
    method = uri = ""
    status = 0
    reason = ""
    start_error: SipParseError | None = None
    if is_response:
        parts = start.split(" ", 2)
        if (
            len(parts) < 2
            or parts[0] != "SIP/2.0"
            or not (len(parts[1]) == 3 and parts[1].isdigit())
        ):
            raise SipParseError(f"bad status line {start[:80]!r}")
        status = int(parts[1])
        if not 100 <= status <= 699:
            raise SipParseError("status code out of range")
        reason = parts[2] if len(parts) == 3 else ""
    else:
        parts = start.split(" ")
        if len(parts) == 3 and is_token(parts[0]):
            method, uri, version = parts
            if version.upper() != "SIP/2.0":
                start_error = SipParseError(f"version {version[:20]!r}", status=505)
        else:
            # extra spaces, spaces inside the URI...: answer 400 if the headers allow it
            method = parts[0] if parts and is_token(parts[0]) else ""
            start_error = SipParseError(f"bad request line {start[:80]!r}")
    headers, header_error = _read_headers(lines[1:])
    if is_response:
        if header_error is not None:
            raise header_error
        return _finish_response(headers, body, status, reason, datagram, nul)
    stub = _stub(method, uri, headers)
    if start_error is not None:
        start_error.stub = stub
        raise start_error
    if header_error is not None:
        header_error.stub = stub
        raise header_error
    if nul:
        raise SipParseError("NUL byte in header section", stub=stub)
    try:
        return _finish_request(headers, body, method, uri, datagram)
    except SipParseError as exc:
        exc.stub = stub
        raise


def _check_common(headers: Headers, body: bytes, datagram: bool) -> bytes:
    for name in SINGLE_HEADERS:
        if len(headers.get_all(name)) > 1:
            raise SipParseError(f"{canonical_name(name)} appears more than once")
    for name in REQUIRED_HEADERS:
        if not headers.get(name):
            raise SipParseError(f"missing {canonical_name(name)}")
    for value in headers.get_all("Via"):
        Via.parse(value)
    parse_cseq(headers.get("CSeq") or "")
    NameAddr.parse(headers.get("From") or "")
    NameAddr.parse(headers.get("To") or "")
    for name in ("Contact", "Route", "Record-Route"):
        for value in headers.get_all(name):
            if name == "Contact" and value.strip() == "*":
                continue
            NameAddr.parse(value)
    if "Max-Forwards" in headers:
        _parse_int(headers.get("Max-Forwards") or "", "Max-Forwards", 255)
    if "Expires" in headers:
        _parse_int(headers.get("Expires") or "", "Expires", 2**32 - 1)
    raw_length = headers.get("Content-Length")
    if raw_length is None:
        if not datagram:
            raise SipParseError("Content-Length is mandatory on stream transports")
        return body
    length = _parse_int(raw_length, "Content-Length", MAX_MESSAGE_BYTES)
    if len(body) < length:
        raise SipParseError("body shorter than Content-Length")
    return body[:length]


def _finish_response(
    headers: Headers, body: bytes, status: int, reason: str, datagram: bool, nul: bool
) -> Response:
    if nul:
        raise SipParseError("NUL byte in header section")
    body = _check_common(headers, body, datagram)
    return Response(headers=headers, body=body, status=status, reason=reason)


def _finish_request(
    headers: Headers, body: bytes, method: str, uri: str, datagram: bool
) -> Request:
    body = _check_common(headers, body, datagram)
    _number, cseq_method = parse_cseq(headers.get("CSeq") or "")
    if cseq_method != method:
        raise SipParseError("CSeq method does not match the request method")
    try:
        ruri = SipUri.parse(uri)
    except SipParseError as exc:
        raise SipParseError(f"bad Request-URI: {exc.reason}") from exc
    if ruri.scheme not in ("sip", "sips", "tel"):
        raise SipParseError(f"unsupported URI scheme {ruri.scheme!r}", status=416)
    return Request(headers=headers, body=body, method=method, uri=uri)


def _has_tag(value: str) -> bool:
    try:
        return NameAddr.parse(value).tag is not None
    except SipParseError:
        return ";tag=" in value.replace(" ", "").lower()


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """Build a response per RFC 3261 §8.2.6: copy Via, From, To, Call-ID, CSeq.

    Works on the stubs of unparseable requests too (copies raw values).
    """
    resp = Response(status=status, reason=reason or REASONS.get(status, "Unknown"))
    for value in request.headers.get_all("Via"):
        resp.headers.add("Via", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        raw = request.headers.get(name)
        if raw is None:
            continue
        if name == "To" and to_tag and status != 100 and not _has_tag(raw):
            raw = f"{raw};tag={to_tag}"
        resp.headers.add(name, raw)
    if status == 100 and "Timestamp" in request.headers:
        resp.headers.add("Timestamp", request.headers.get("Timestamp") or "")
    for name, value in headers:
        resp.headers.add(name, value)
    resp.body = body
    return resp
