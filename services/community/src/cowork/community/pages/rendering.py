"""Rendering a public page: the Jinja2 environment, the layout's context (language, navigation,
language switch) and the headers every page carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from starlette.routing import NoMatchFound

from cowork.community.pages import i18n

TEMPLATES = Path(__file__).parent.parent / "templates"

ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"], default=True),
    # A misspelt variable fails the render (and the test) rather than leaving a hole in a page.
    undefined=StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)

# The main navigation: (route name, catalogue key). The feature pages (meetings, expression of
# interest, open data) are separate routers; an entry shows once its route is mounted, so the
# navigation never links to a page this build does not serve.
NAV = (("pages.home", "nav.home"), ("pages.meetings", "nav.meetings"), ("pages.interest", "nav.interest"),
       ("pages.open_data", "nav.open_data"))

# Pages are self-contained: our stylesheet only, no scripts, no frames; forms post only here.
# No referrer: the confirmation and cancellation links carry their token in the address.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def page_url(request: Request, lang: str, **params: str) -> str:
    """This page's path in `lang`, keeping its other query parameters (a link's token)."""
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    query.update(params)
    if lang != i18n.DEFAULT_LANGUAGE:
        query["lang"] = lang
    return request.url.path + ("?" + urlencode(query) if query else "")


def link(request: Request, route: str, lang: str) -> str:
    """The path of a page route in `lang` (raises NoMatchFound for a route not mounted)."""
    path = str(request.app.url_path_for(route))
    return path if lang == i18n.DEFAULT_LANGUAGE else f"{path}?{urlencode({'lang': lang})}"


def navigation(request: Request, lang: str) -> list[dict[str, Any]]:
    entries = []
    for route, key in NAV:
        try:
            href = link(request, route, lang)
        except NoMatchFound:
            continue
        current = request.scope.get("route") is not None and request.scope["route"].name == route
        entries.append({"href": href, "label": i18n.text(key, lang), "current": current})
    return entries


def render(request: Request, template: str | Template, lang: str, *, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """`template` in the layout's context (`t` for the catalogue's texts, `lang`, `nav`,
    `switch`); a name under templates/, or a template built from ENVIRONMENT."""
    other = i18n.other_language(lang)
    if isinstance(template, str):
        template = ENVIRONMENT.get_template(template)
    page = template.render(
        lang=lang, t=lambda key: i18n.text(key, lang),
        home_href=link(request, "pages.home", lang),
        stylesheet=str(request.app.url_path_for("pages.static", name="community.css")),
        nav=navigation(request, lang),
        switch={"href": page_url(request, other), "lang": other,
                "label": i18n.LANGUAGE_NAMES[other]},
        **context)
    return HTMLResponse(page, status_code=status, headers={**HEADERS, **(headers or {})})
