"""The page `triage serve` serves at `/` for colleagues who do not live in a terminal: plain
files (static/), no build step. marked and DOMPurify are shipped in static/vendor, so a support
desk that cannot reach a CDN still gets the page. The page itself needs no token: every route it
calls does, and it asks for the token once (kept in the tab's sessionStorage)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

STATIC = Path(__file__).resolve().parent / "static"

# The page runs only its own scripts and talks only to its own server: even a reply that slipped
# past DOMPurify could run nothing, load nothing from elsewhere and send nothing away.
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def add_page(app: FastAPI) -> None:
    """`/` (the page) and `/static/…` (its script, style and the vendored libraries)."""
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)
