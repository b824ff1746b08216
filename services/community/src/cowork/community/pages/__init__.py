"""The public pages citizens use (server-rendered HTML, Italian by default, `?lang=en`): routes
without the /v1 prefix, left out of the OpenAPI description (they are not the API). A page's
form posts to a page route that calls the service's command functions directly."""

from __future__ import annotations

from fastapi import APIRouter

from cowork.community.pages import home

# `links` (the confirm / cancel / erase pages behind the mails' links) joins this list once
# the meetings and erasure commands it calls are merged: see docs/community-pages.md.
PAGE_ROUTERS: list[APIRouter] = [home.router]
