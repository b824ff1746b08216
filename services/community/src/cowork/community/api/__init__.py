"""The community service's routes: one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from cowork.community.api import open_data, reports

ROUTERS: list[APIRouter] = [open_data.router, reports.router]
