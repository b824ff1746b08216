"""docs/deploy.md's configuration reference is generated from the services' settings classes
(`uv run cowork-devstack config-reference --write`); this fails when a setting was added,
renamed or given a new default without regenerating it, so operators never read a stale list."""

from __future__ import annotations

from pathlib import Path

from cowork.devstack import config_reference
from cowork.shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "deploy.md"


def test_the_configuration_reference_matches_the_settings_classes() -> None:
    assert config_reference.committed(DOC) == config_reference.render(ROOT), (
        "docs/deploy.md is stale: run `uv run cowork-devstack config-reference --write`")


def test_every_variable_of_every_service_is_in_the_reference() -> None:
    text = config_reference.committed(DOC)
    classes = config_reference.service_settings(ROOT)
    assert set(classes) >= {"membership", "booking"}
    for service, settings in classes.items():
        for name, field in settings.model_fields.items():
            if name == "service_name":
                continue
            variable = config_reference.variable(settings, name, field)
            generic = variable.replace(f"{service.upper()}_", "<SERVICE>_", 1)
            assert f"`{variable}`" in text or f"`{generic}`" in text, variable


def test_a_new_setting_shows_up_in_the_generated_reference() -> None:
    """The generator reads the classes, not a list of its own: a field it never heard of appears."""

    class Probe(ServiceSettings):
        brand_new_knob: int = 7

    row = config_reference._row(Probe, "brand_new_knob", Probe.model_fields["brand_new_knob"])
    assert row.startswith("| `COWORK_BRAND_NEW_KNOB` | int | `7` |")
