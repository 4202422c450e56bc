"""FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from zvans import __version__
from zvans.app import Zvans
from zvans.errors import ZvansError


def create_app(z: Zvans) -> FastAPI:
    app = FastAPI(title="Zvans", version=__version__)
    app.state.zvans = z

    @app.exception_handler(ZvansError)
    async def _zvans_error(_request: Request, exc: ZvansError) -> JSONResponse:
        return JSONResponse(exc.as_dict(), status_code=exc.status)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        info = z.database_info()
        return {"status": "ok", "version": __version__, "database": info}

    return app
