"""The home page and the pages' stylesheet."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from cowork.community.pages import i18n
from cowork.community.pages.rendering import render
from cowork.shared.http import ApiError

STATIC = Path(__file__).parent.parent / "static"
# Served by name from this fixed set: nothing else under the package is reachable.
STATIC_FILES = {"community.css": "text/css; charset=utf-8"}

router = APIRouter(include_in_schema=False)


@router.get("/", name="pages.home", response_class=HTMLResponse)
async def home(request: Request, lang: str | None = None) -> HTMLResponse:
    return render(request, "home.html", i18n.language(lang))


@router.get("/static/{name}", name="pages.static")
async def static(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise ApiError(404, "not_found", f"static file {name} does not exist")
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "public, max-age=3600"})
