"""The public pages citizens use (server-rendered HTML, Italian by default, `?lang=en`): routes
without the /v1 prefix, left out of the OpenAPI description (they are not the API). A page's
form posts to a page route that calls the service's command functions directly."""

from __future__ import annotations

from fastapi import APIRouter

from cowork.community.pages import home, interest, links, meetings, open_data

PAGE_ROUTERS: list[APIRouter] = [home.router, meetings.router, interest.router,
                                 open_data.router, links.router]
