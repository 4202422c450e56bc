"""A tiny client for a running Zvans server (stdlib only), used by ``zvans call simulate``:
signs in through the login form and calls the JSON API with the session's CSRF token."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from zvans.errors import ZvansError

_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


class ApiClient:
    def __init__(self, base_url: str, timeout: float = 20.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""

    def _open(self, req: urllib.request.Request) -> tuple[int, bytes]:
        try:
            with self.opener.open(req, timeout=self.timeout) as res:
                return res.status, res.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except urllib.error.URLError as exc:
            raise ZvansError(f"cannot reach {self.base_url}: {exc.reason}",
                             code="server-unreachable") from None

    def _csrf_from(self, path: str) -> str:
        _status, body = self._open(urllib.request.Request(self.base_url + path))
        match = _CSRF.search(body.decode("utf-8", "replace"))
        if not match:
            raise ZvansError(f"{self.base_url}{path} did not look like Zvans",
                             code="not-zvans")
        return match.group(1)

    def login(self, username: str, password: str) -> None:
        token = self._csrf_from("/login")
        data = urllib.parse.urlencode({"username": username, "password": password,
                                       "csrf_token": token}).encode()
        status, _body = self._open(urllib.request.Request(self.base_url + "/login", data=data))
        self.csrf = self._csrf_from("/settings")
        if status >= 400:
            raise ZvansError("sign-in failed: wrong user name or password, or locked",
                             code="login-failed")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers={
            "Content-Type": "application/json", "Accept": "application/json",
            "X-CSRF-Token": self.csrf})
        status, raw = self._open(req)
        try:
            parsed = json.loads(raw or b"null")
        except json.JSONDecodeError:
            parsed = None
        if status >= 400:
            err = (parsed or {}).get("error", {}) if isinstance(parsed, dict) else {}
            raise ZvansError(err.get("message") or f"HTTP {status}",
                             code=err.get("code") or "http-error")
        return parsed
