"""The community service's routes: one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from cowork.community.api import erasure, interest, open_data, reports

ROUTERS: list[APIRouter] = [interest.router, erasure.router, open_data.router, reports.router]
