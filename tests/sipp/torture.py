"""Our own torture messages, one or more per RFC 4475 category (not the RFC's texts).

Each case: name, a template (``{host}``/``{port}`` are the server's, ``{cid}`` a fresh
Call-ID, ``{branch}`` a fresh branch, ``{local}`` the client's host:port) and the expected
outcome: a status code the server must answer, or ``None`` when it must drop the message.

Used by the unit tests (parser only) and by the integration tests (real UDP and TCP).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    template: bytes
    expect: int | None
    #: over TCP the framing rules differ (Content-Length mandatory), so some cases differ
    expect_tcp: int | str | None = "same"

    def render(self, host: str, port: int, local: str, cid: str, branch: str) -> bytes:
        out = self.template
        for key, value in (
            (b"{host}", host),
            (b"{port}", str(port)),
            (b"{local}", local),
            (b"{cid}", cid),
            (b"{branch}", branch),
        ):
            out = out.replace(key, value.encode())
        return fix_length(out)

    def tcp_expect(self) -> int | None:
        return self.expect if self.expect_tcp == "same" else self.expect_tcp  # type: ignore[return-value]


def fix_length(data: bytes) -> bytes:
    """Replace ``Content-Length: AUTO`` with the true body length."""
    if b"Content-Length: AUTO" not in data:
        return data
    stripped = data.lstrip(b"\r\n")
    lead = data[: len(data) - len(stripped)]
    sep = b"\r\n\r\n" if b"\r\n\r\n" in stripped else b"\n\n"
    head, _, body = stripped.partition(sep)
    head = head.replace(b"Content-Length: AUTO", b"Content-Length: %d" % len(body))
    return lead + head + sep + body


def _msg(*lines: str, body: str = "") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


BASIC = (
    "Via: SIP/2.0/UDP {local};branch={branch};rport",
    "From: <sip:tester@example.test>;tag=t1",
    "To: <sip:zvans@{host}>",
    "Call-ID: {cid}",
    "CSeq: 7 OPTIONS",
    "Max-Forwards: 70",
)


def options(*extra: str, ruri: str = "sip:zvans@{host}:{port}", body: str = "") -> bytes:
    return _msg(f"OPTIONS {ruri} SIP/2.0", *BASIC, *extra, "Content-Length: AUTO", body=body)


def without(name: str, *extra: str) -> bytes:
    kept = [h for h in BASIC if not h.lower().startswith(name.lower() + ":")]
    return _msg("OPTIONS sip:zvans@{host}:{port} SIP/2.0", *kept, *extra, "Content-Length: AUTO")


CASES: list[Case] = [
    # ---- valid but unusual: must be accepted (OPTIONS -> 200) ----
    Case("plain OPTIONS", options(), 200),
    Case(
        "compact forms, odd case, folding and tabs",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0",
            "v:  SIP / 2.0 / UDP {local}\t;branch={branch}",
            'f: "Tab\tby" <sip:tester@example.test>;TAG=t2',
            "t:",
            "   <sip:zvans@{host}>",
            "i: {cid}",
            "cSeQ:   7\t  OPTIONS",
            "l: 0",
        ),
        200,
    ),
    Case("escaped user in Request-URI", options(ruri="sip:%7Ezvans%40x@{host}:{port}"), 200),
    Case(
        "URI with headers and parameters",
        options(ruri="sip:zvans@{host}:{port};user=phone;lr?subject=hi"),
        200,
    ),
    Case(
        "display name with quotes, comma and backslash",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0",
            "Via: SIP/2.0/UDP {local};branch={branch}",
            'From: "Doe, \\"J\\" \\\\" <sip:doe@example.test>;tag=q1',
            "To: zvans <sip:zvans@{host}>",
            "Call-ID: {cid}",
            "CSeq: 1 OPTIONS",
            "Content-Length: 0",
        ),
        200,
    ),
    Case(
        "several Via values in one line and two lines",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0",
            "Via: SIP/2.0/UDP {local};branch={branch}, SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKa",
            "Via: SIP/2.0/TCP [2001:db8::9]:5080;branch=z9hG4bKb",
            "From: <sip:tester@example.test>;tag=t1",
            "To: <sip:zvans@{host}>",
            "Call-ID: {cid}",
            "CSeq: 7 OPTIONS",
            "Content-Length: 0",
        ),
        200,
    ),
    Case("unknown headers, one very long", options("X-Zz: " + "a" * 3000, "X-Empty:"), 200),
    Case("leading CRLFs", b"\r\n\r\n" + options(), 200),
    Case(
        "Max-Forwards 0 to the UAS itself",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0",
            *[h for h in BASIC if not h.startswith("Max")],
            "Max-Forwards: 0",
            "Content-Length: 0",
        ),
        200,
    ),
    Case("body of an unknown type", options("Content-Type: application/x-zz", body="hello"), 200),
    Case("bare LF line ends", options().replace(b"\r\n", b"\n"), 200),
    # ---- semantically odd: specific answers ----
    Case(
        "unknown method",
        _msg(
            "ZZTOP sip:zvans@{host}:{port} SIP/2.0",
            *BASIC[:4],
            "CSeq: 1 ZZTOP",
            "Content-Length: 0",
        ),
        501,
    ),
    Case("Require of an unknown extension", options("Require: zz-teleport"), 420),
    Case("unknown Request-URI scheme", options(ruri="zz:zvans@{host}"), 416),
    Case(
        "SIP version 7",
        _msg("OPTIONS sip:zvans@{host}:{port} SIP/7.0", *BASIC, "Content-Length: 0"),
        505,
    ),
    Case(
        "in-dialog BYE for no dialog",
        _msg(
            "BYE sip:zvans@{host}:{port} SIP/2.0",
            *BASIC[:2],
            "To: <sip:zvans@{host}>;tag=nope",
            "Call-ID: {cid}",
            "CSeq: 2 BYE",
            "Content-Length: 0",
        ),
        481,
    ),
    Case(
        "CANCEL for no transaction",
        _msg(
            "CANCEL sip:zvans@{host}:{port} SIP/2.0",
            *BASIC[:4],
            "CSeq: 7 CANCEL",
            "Content-Length: 0",
        ),
        481,
    ),
    # ---- malformed: 400 (enough to answer) ----
    Case(
        "CSeq method differs from the method",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0",
            *BASIC[:4],
            "CSeq: 7 INVITE",
            "Content-Length: 0",
        ),
        400,
    ),
    Case("missing Call-ID", without("Call-ID", "Content-Length: 0"), 400),
    Case("missing CSeq", without("CSeq", "Content-Length: 0"), 400),
    Case("missing From", without("From", "Content-Length: 0"), 400),
    Case(
        "Content-Length larger than the body",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0", *BASIC, "Content-Length: 500", body="short"
        ),
        400,
        expect_tcp=None,
    ),
    Case(
        "negative Content-Length",
        _msg("OPTIONS sip:zvans@{host}:{port} SIP/2.0", *BASIC, "Content-Length: -3"),
        400,
    ),
    Case(
        "non-numeric Content-Length",
        _msg("OPTIONS sip:zvans@{host}:{port} SIP/2.0", *BASIC, "Content-Length: ten"),
        400,
    ),
    Case("two Call-IDs", options("Call-ID: second@x"), 400),
    Case(
        "two Content-Lengths",
        _msg("OPTIONS sip:zvans@{host}:{port} SIP/2.0", *BASIC, "Content-Length: 0", "l: 0"),
        400,
    ),
    Case("NUL byte in a header", options("X-Nul: a\x00b"), 400),
    Case("header line without a colon", options("This line has no colon"), 400),
    Case("header name with a space", options("Bad Name: x"), 400),
    Case("port out of range in the Request-URI", options(ruri="sip:zvans@{host}:99999"), 400),
    Case(
        "CSeq number too large",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0",
            *BASIC[:4],
            "CSeq: 99999999999999999999 OPTIONS",
            "Content-Length: 0",
        ),
        400,
    ),
    Case(
        "unterminated To",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0",
            BASIC[0],
            BASIC[1],
            "To: <sip:zvans@{host}",
            *BASIC[3:],
            "Content-Length: 0",
        ),
        400,
    ),
    Case(
        "unterminated quoted display name",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0",
            BASIC[0],
            'From: "Never ends <sip:a@b>;tag=x',
            *BASIC[2:],
            "Content-Length: 0",
        ),
        400,
    ),
    Case("non-numeric Expires", options("Expires: soon"), 400),
    Case(
        "Max-Forwards out of range",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0",
            *[h for h in BASIC if not h.startswith("Max")],
            "Max-Forwards: 300",
            "Content-Length: 0",
        ),
        400,
    ),
    Case("too many headers", options(*[f"X-H{i}: {i}" for i in range(200)]), 413),
    Case("space inside the Request-URI", options(ruri="sip:zvans@exa mple..com"), 400),
    Case(
        "request line with extra spaces",
        _msg("OPTIONS  sip:zvans@{host}:{port}  SIP/2.0", *BASIC, "Content-Length: 0"),
        400,
    ),
    Case("Request-URI in angle brackets", options(ruri="<sip:zvans@{host}:{port}>"), 400),
    Case(
        "addr-spec Contact with a URI header outside <>",
        options("Contact: sip:tester@example.test?Subject=hi"),
        400,
    ),
    Case("space inside an addr-spec", options("Contact: <sip:tes ter@example.test>"), 400),
    # ---- hopeless: drop silently ----
    Case("missing Via", without("Via", "Content-Length: 0"), None),
    Case(
        "Via without protocol",
        _msg(
            "OPTIONS sip:zvans@{host}:{port} SIP/2.0",
            "Via: {local};branch={branch}",
            *BASIC[1:],
            "Content-Length: 0",
        ),
        None,
    ),
    Case("binary garbage", bytes(range(256)) * 4, None),
    Case("only a start line", b"OPTIONS sip:zvans@{host}:{port} SIP/2.0\r\n\r\n", None),
    Case("huge header section", options("X-Huge: " + "b" * 20000), None),
    Case("header section not UTF-8", options().replace(b"tester", b"te\xff\xfeer"), None),
    Case(
        "bad status line of a response",
        b"SIP/2.0 99 Odd\r\n"
        + b"\r\n".join(h.encode() for h in BASIC)
        + b"\r\nContent-Length: 0\r\n\r\n",
        None,
    ),
]
