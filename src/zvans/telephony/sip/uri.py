"""SIP URIs, name-addr values (From/To/Contact/Route) and Via values, parsed strictly.

Each parser raises :class:`SipParseError` on bad input, never a bare ``ValueError``.
Escaped characters (``%40``) are kept as written, so that a URI serialises back byte for
byte; :attr:`SipUri.user_unescaped` gives the decoded user part for comparisons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from .errors import SipParseError

#: URI schemes whose syntax we understand; anything else is kept opaque.
SIP_SCHEMES = frozenset({"sip", "sips"})
KNOWN_SCHEMES = frozenset({"sip", "sips", "tel"})

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.S)
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?$")
_IPV6_RE = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
# Characters allowed in the user part (unreserved / escaped / user-unreserved / password).
_USER_RE = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$")
_PARAM_RE = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})+$")
_VIA_RE = re.compile(
    r"^\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*/\s*"
    r"([A-Za-z0-9\-.!%*_+`'~]+)\s+(.+)$",
    re.S,
)


def is_token(value: str) -> bool:
    """True for an RFC 3261 ``token`` (method names, header names, parameter names)."""
    return bool(_TOKEN_RE.match(value))


#: hosts already found valid: the same few addresses recur in every message of every call
_valid_hosts: set[str] = set()


def _check_host(host: str) -> None:
    if host in _valid_hosts:
        return
    _validate_host(host)
    if len(_valid_hosts) >= 4096:  # bounded whatever senders make up
        _valid_hosts.clear()
    _valid_hosts.add(host)


def _validate_host(host: str) -> None:
    if not host:
        raise SipParseError("empty host")
    if host.startswith("["):
        if not _IPV6_RE.match(host):
            raise SipParseError(f"bad IPv6 reference {host!r}")
        return
    if not _HOSTNAME_RE.match(host):
        raise SipParseError(f"bad host {host!r}")


def _parse_port(text: str) -> int:
    if not text.isdigit() or len(text) > 5:
        raise SipParseError(f"bad port {text!r}")
    port = int(text)
    if not 0 < port < 65536:
        raise SipParseError(f"port out of range {port}")
    return port


def split_hostport(text: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 in brackets) and validate both halves."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise SipParseError(f"unterminated IPv6 reference {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        port = None
        if rest:
            if not rest.startswith(":"):
                raise SipParseError(f"garbage after IPv6 reference {text!r}")
            port = _parse_port(rest[1:])
    elif ":" in text:
        host, _, port_text = text.partition(":")
        port = _parse_port(port_text.strip())
        host = host.strip()
    else:
        host, port = text, None
    _check_host(host)
    return host, port


def parse_params(text: str) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` (the leading ``;`` already removed). Names lower-cased."""
    params: dict[str, str | None] = {}
    if not text.strip():
        return params
    for raw in text.split(";"):
        part = raw.strip()
        if not part:
            raise SipParseError("empty parameter")
        name, eq, value = part.partition("=")
        name = name.strip()
        if not is_token(name):
            raise SipParseError(f"bad parameter name {name!r}")
        if eq:
            value = value.strip()
            if not value:
                raise SipParseError(f"empty value for parameter {name!r}")
            if not (value.startswith('"') and value.endswith('"') and len(value) >= 2) and not (
                _PARAM_RE.match(value) or value.startswith("[")
            ):
                raise SipParseError(f"bad value for parameter {name!r}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass(slots=True)
class SipUri:
    """A URI.  For ``sip``/``sips`` every part is parsed; ``tel`` keeps the number in
    ``user``; other schemes keep everything after the colon in ``opaque``."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str | None = None
    opaque: str | None = None

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        m = _SCHEME_RE.match(text)
        if not m:
            raise SipParseError(f"URI without scheme {text[:80]!r}")
        scheme, rest = m.group(1).lower(), m.group(2)
        if any(c in rest for c in ' \t\r\n<>"\x00'):
            raise SipParseError("forbidden character in URI")
        if scheme == "tel":
            number, _, params = rest.partition(";")
            if not number:
                raise SipParseError("empty tel URI")
            return cls(scheme=scheme, user=number, params=parse_params(params))
        if scheme not in SIP_SCHEMES:
            return cls(scheme=scheme, opaque=rest)
        uri = cls(scheme=scheme)
        if "?" in rest:
            rest, _, uri.headers = rest.partition("?")
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            if ":" in userinfo:
                userinfo, _, uri.password = userinfo.partition(":")
            if not userinfo or not _USER_RE.match(userinfo):
                raise SipParseError(f"bad user part {userinfo[:80]!r}")
            uri.user = userinfo
        hostport, _, params = rest.partition(";")
        uri.host, uri.port = split_hostport(hostport)
        uri.params = parse_params(params)
        return uri

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unquote(self.user)

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.upper() if value else None

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        if self.scheme == "tel":
            return f"tel:{self.user}{format_params(self.params)}"
        out = f"{self.scheme}:"
        if self.user is not None:
            out += self.user
            if self.password is not None:
                out += f":{self.password}"
            out += "@"
        out += self.host
        if self.port is not None:
            out += f":{self.port}"
        out += format_params(self.params)
        if self.headers is not None:
            out += f"?{self.headers}"
        return out


def _parse_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted-string starting at ``text[start] == '"'``; return (content, end+1)."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                break
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise SipParseError("unterminated quoted string")


@dataclass(slots=True)
class NameAddr:
    """A From/To/Contact/Route/Record-Route value: display name, URI, header params."""

    uri: SipUri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        if not text:
            raise SipParseError("empty address")
        display: str | None = None
        i = 0
        if text.startswith('"'):
            display, i = _parse_quoted(text, 0)
            rest = text[i:].lstrip()
            if not rest.startswith("<"):
                raise SipParseError("display name without <uri>")
            text = rest
        lt = text.find("<")
        if lt != -1:
            token_display = text[:lt].strip()
            if token_display:
                display = token_display
            gt = text.find(">", lt)
            if gt == -1:
                raise SipParseError("unterminated <uri>")
            uri = SipUri.parse(text[lt + 1 : gt])
            after = text[gt + 1 :].strip()
            if after and not after.startswith(";"):
                raise SipParseError("garbage after >")
            return cls(uri=uri, display=display, params=parse_params(after[1:]))
        # addr-spec: every ';' parameter belongs to the header, not to the URI (§20.10)
        uri_text, _, params = text.partition(";")
        if "?" in uri_text or "," in uri_text:
            raise SipParseError("addr-spec with ? or , must be inside <>")
        return cls(uri=SipUri.parse(uri_text), params=parse_params(params))

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        params = dict(self.params)
        params["tag"] = tag
        return NameAddr(uri=self.uri, display=self.display, params=params)

    def __str__(self) -> str:
        name = ""
        if self.display:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            name = f'"{escaped}" '
        return f"{name}<{self.uri}>{format_params(self.params)}"


@dataclass(slots=True)
class Via:
    """One Via value (RFC 3261 §20.42)."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        m = _VIA_RE.match(text)
        if not m:
            raise SipParseError(f"bad Via {text[:80]!r}")
        name, version, transport, rest = m.groups()
        if name.upper() != "SIP" or version != "2.0":
            raise SipParseError(f"bad Via protocol {name}/{version}")
        sent_by, _, params = rest.partition(";")
        host, port = split_hostport(sent_by)
        return cls(transport=transport.upper(), host=host, port=port, params=parse_params(params))

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"SIP/2.0/{self.transport} {self.sent_by}{format_params(self.params)}"
