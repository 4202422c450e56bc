"""FastAPI application factory: sessions, error pages, static files and the route registry.

Every module in ``zvans.web.routes`` that defines ``router`` is included (see
``include_routes``), so a new page is a new file there. Errors are JSON
(``{"error": {"code", "message", "details"}}``) under /api and HTML pages elsewhere.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import pkgutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from zvans import __version__
from zvans.app import Zvans
from zvans.errors import ZvansError
from zvans.web import i18n

log = logging.getLogger("zvans.web")

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "zvans_session"
SESSION_MAX_AGE_S = 12 * 3600
#: Defence in depth behind autoescaping: scripts only from our own /static (no inline code,
#: no event-handler attributes), no framing, no MIME sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/ws", "/openapi", "/healthz")):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def attach_runtime(z: Zvans) -> None:
    """Create the contact-center runtime (``z.services["cc"]``) if nobody did yet."""
    if "cc" in z.services:
        return
    try:
        from zvans import runtime
    except ImportError:  # the runtime package lands in parallel; the web still serves pages
        log.warning("zvans.runtime is not available: agent and call commands are disabled")
        return
    runtime.attach(z)


def include_routes(app: FastAPI) -> list[str]:
    """Include ``router`` of every module in zvans.web.routes, in name order."""
    from zvans.web import routes

    included = []
    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"zvans.web.routes.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
            included.append(info.name)
    return included


def create_app(z: Zvans) -> FastAPI:
    attach_runtime(z)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        cc = z.services.get("cc")
        if cc is not None and hasattr(cc, "start"):
            cc.start()  # ring timeouts, wrap-up ends (idempotent)
        stopper = None
        if z.services.get("demo_traffic"):
            from zvans.web import demo_traffic

            stopper = demo_traffic.start(z)
        try:
            yield
        finally:
            if stopper is not None:
                await stopper()
            if cc is not None and hasattr(cc, "stop"):
                await cc.stop()

    app = FastAPI(title="Zvans", version=__version__, lifespan=lifespan,
                  description="Zvans contact center: JSON API (/api/v1) and pages.")
    app.state.zvans = z
    app.add_middleware(
        SessionMiddleware, secret_key=z.settings.session_secret(), session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S, same_site="lax", https_only=False,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            if name == "Content-Security-Policy" and request.url.path in ("/docs", "/redoc"):
                continue  # FastAPI's API browser loads its own scripts
            response.headers.setdefault(name, value)
        return response
    for language in i18n.LANGUAGES:  # compile catalogs now: a broken .po fails at start
        i18n.translations(language)

    @app.exception_handler(ZvansError)
    async def _zvans_error(request: Request, exc: ZvansError) -> Response:
        from zvans.web.deps import LoginRequired

        if wants_json(request):
            body = exc.as_dict()
            body["error"]["message"] = translate(request, exc.message)
            many = body["error"]["details"].get("errors")
            if isinstance(many, dict):
                body["error"]["details"]["errors"] = {
                    k: translate(request, str(v)) for k, v in many.items()}
            return JSONResponse(body, status_code=exc.status)
        if isinstance(exc, LoginRequired):
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            from urllib.parse import quote

            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return error_page(request, exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        names = [p for p in first.get("loc", ())
                 if isinstance(p, str) and p not in ("body", "query", "path", "header")]
        field = names[0] if names else ""
        message = f"{field}: {first.get('msg', 'invalid input')}" if field else "Invalid input."
        body = {"error": {"code": "invalid-input", "message": message,
                          "details": {"field": field,
                                      "errors": [{"loc": list(e.get("loc", ())),
                                                  "msg": e.get("msg", "")} for e in errors]}}}
        if wants_json(request):
            return JSONResponse(body, status_code=422)
        return error_page(request, 422, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        message = str(exc.detail)
        if wants_json(request):
            return JSONResponse({"error": {"code": code, "message": message, "details": {}}},
                                status_code=exc.status_code, headers=exc.headers)
        return error_page(request, exc.status_code, message)

    @app.get("/healthz", tags=["system"])
    def healthz() -> dict[str, Any]:
        info = z.database_info()
        return {"status": "ok", "version": __version__, "database": info}

    app.state.route_modules = include_routes(app)
    return app


def translate(request: Request, message: str) -> str:
    """A user-facing message in the asking user's language (the msgid if not translated)."""
    from zvans.web.deps import optional_user
    from zvans.web.render import language_of

    try:
        language = language_of(request, optional_user(request))
    except Exception:  # no session middleware on this path, or the database is down
        return message
    return i18n.gettext_for(language).gettext(message)


def error_page(request: Request, status: int, message: str) -> Response:
    from zvans.web.deps import optional_user
    from zvans.web.render import language_of, render

    tr = i18n.gettext_for(language_of(request, optional_user(request)))
    headings = {
        403: tr.gettext("Access denied"),
        404: tr.gettext("Not found"),
    }
    heading = headings.get(status, tr.gettext("Something went wrong"))
    return render(request, "error.html", {"heading": heading, "message": tr.gettext(message)},
                  status_code=status)
