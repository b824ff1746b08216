"""docs/api/ and docs/events/ are rendered from the code (`uv run cowork-devstack contract-docs
--write`): each service's OpenAPI and the event catalogue. This fails when a route, a schema or an
event changed without regenerating them, so the contract in the repo is the one the code serves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from cowork.devstack import contract_docs

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"membership", "booking", "vouchers", "notifications", "community"}


@pytest.fixture(scope="module")
def rendered() -> dict[Path, str]:
    return contract_docs.rendered(ROOT)


def test_the_committed_contract_is_what_the_code_renders(rendered: dict[Path, str]) -> None:
    stale = [str(path) for path, text in sorted(rendered.items())
             if not (ROOT / path).exists() or (ROOT / path).read_text() != text]
    left = sorted(str(p) for p in contract_docs._generated_on_disk(ROOT) - set(rendered))
    assert stale == [] and left == [], (
        f"docs/api/ or docs/events/ is stale ({', '.join(stale + left)}): "
        f"run `{contract_docs.COMMAND}`")


def test_every_service_and_every_event_type_has_its_page(rendered: dict[Path, str]) -> None:
    for service in SERVICES:
        assert Path(f"docs/api/{service}.openapi.json") in rendered
        assert Path(f"docs/api/{service}.md") in rendered
    catalogue = contract_docs.event_catalogue()
    page = rendered[Path("docs/events/catalogue.md")]
    for message in catalogue["components"]["messages"].values():
        assert f"### {message['name']}" in page
        assert Path(f"docs/events/schemas/{message['name']}.json") in rendered


def test_every_operation_is_on_its_services_page(rendered: dict[Path, str]) -> None:
    for service, document in contract_docs.openapi_documents(ROOT).items():
        page = rendered[Path(f"docs/api/{service}.md")]
        for path, item in document["paths"].items():
            for method, operation in item.items():
                assert f"### `{method.upper()} {path}`" in page
                assert f"operationId `{operation['operationId']}`" in page


class Desk(BaseModel):
    """A desk somebody may book."""

    name: str
    seats: int = 1


def test_the_page_of_an_operation_names_its_bodies_statuses_and_roles() -> None:
    app = FastAPI(title="Probe", version="9")

    @app.post("/v1/desks", status_code=201, response_model=Desk, operation_id="create_desk",
              responses={409: {"description": "taken"}}, openapi_extra={"x-roles": ["staff"]})
    async def create_desk(body: Desk) -> Desk:
        return body

    page = contract_docs.render_api_markdown("probe", app.openapi())
    assert "### `POST /v1/desks`" in page
    assert "operationId `create_desk` · no token · roles: `staff`" in page
    assert "| request | [Desk](#desk) |" in page
    assert "| 201 | [Desk](#desk) |" in page
    assert "`409`" in page and "`422`" in page
    assert "| `seats` | integer | no | default `1` |" in page


def test_a_hand_edit_and_a_page_left_behind_are_both_stale(tmp_path: Path) -> None:
    (tmp_path / "services").symlink_to(ROOT / "services")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    contract_docs.write(tmp_path)  # whatever the checkout's state, start from a fresh render
    (tmp_path / "docs/api/booking.md").write_text("edited by hand\n")
    (tmp_path / "docs/api/gone.openapi.json").write_text("{}\n")
    assert contract_docs.stale(tmp_path) == [
        "docs/api/booking.md differs from the code",
        "docs/api/gone.openapi.json is left from something the code no longer has"]
    contract_docs.write(tmp_path)
    assert contract_docs.stale(tmp_path) == []
