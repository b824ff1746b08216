"""A service declared once: the definition builds the runtime, the app and its authenticator
from settings, so no service copies the wiring (and none can forget OpenID Connect)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter

from cowork.shared.auth import Authenticator
from cowork.shared.definition import ServiceDefinition
from cowork.shared.service import ServiceRuntime
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET, ServiceSettings

router = APIRouter(prefix="/v1")


@router.get("/things", operation_id="things")
async def things() -> dict[str, Any]:
    return {}


async def load_demo(runtime: ServiceRuntime) -> None:
    pass


async def a_job(conn: Any, job: Any) -> None:
    pass


def definition(**parts: Any) -> ServiceDefinition[ServiceSettings]:
    return ServiceDefinition(title="Things", description="things", settings=ServiceSettings,
                             migrations=Path("."), routers=[router], demo=load_demo, **parts)


def settings(**values: Any) -> ServiceSettings:
    return ServiceSettings(environment="production", jwt_secret=LOCAL_DEV_JWT_SECRET,
                           service_name="things", **values)


def test_demo_data_is_loaded_only_when_the_settings_ask_for_it() -> None:
    assert definition().runtime(settings()).on_started is None
    assert definition().runtime(settings(demo_data=True)).on_started is load_demo


def test_jobs_are_a_mapping_or_a_function_of_the_settings() -> None:
    assert definition(jobs={"a": a_job}).runtime(settings()).jobs == {"a": a_job}
    by_settings = definition(jobs=lambda s: {s.service_name: a_job})
    assert by_settings.runtime(settings()).jobs == {"things": a_job}


def test_the_app_has_the_routes_health_probes_and_one_authenticator_from_settings() -> None:
    app = definition().app(settings(oidc_issuer="https://login.example.org/realms/town"))
    paths = set(app.openapi()["paths"])
    assert {"/v1/things", "/healthz/kafka"} <= paths
    assert isinstance(app.state.authenticator, Authenticator)
    assert app.state.authenticator._oidc is not None, "OIDC configured, so OIDC verified"
    assert definition().app(settings()).state.authenticator._oidc is None
