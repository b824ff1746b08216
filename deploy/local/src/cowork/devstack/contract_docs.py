"""The contract in the repo: docs/api/ from each service's OpenAPI, docs/events/ from the catalogue.

What partners and front ends build on is what the code serves, so these pages are rendered from
it, never written by hand: `create_app().openapi()` of every service under services/, and the
AsyncAPI catalogue built from the pydantic event contracts. tests/test_contract_docs.py fails
when the committed files differ from what the code renders today:

    uv run cowork-devstack contract-docs --write   # regenerate docs/api/ and docs/events/
    uv run cowork-devstack contract-docs --check   # list what is stale, exit 1 if anything

`--write` also refreshes docs/events/asyncapi.json through `cowork catalogue --write`, which
refuses a breaking change against the last released catalogue (see cowork.shared.events).
The hand-written pages beside them (docs/api/README.md, docs/events.md) say the conventions.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from cowork.devstack.config_reference import repo_root, service_settings

COMMAND = "uv run cowork-devstack contract-docs --write"
GENERATED = (f"<!-- generated from the code by `{COMMAND}`; "
             "edit the code, not this file -->")
METHODS = ("get", "post", "put", "patch", "delete")


# -- what the code serves


def openapi_documents(root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Each service's OpenAPI document, by service name, as its app serves it."""
    documents: dict[str, dict[str, Any]] = {}
    for service, settings in service_settings(root).items():
        module = importlib.import_module(f"cowork.{service}.app")
        # The local environment only so that the settings need no secret; what an app documents
        # does not depend on its settings.
        app = module.create_app(settings(environment="local"))
        documents[service] = app.openapi()
    return documents


def event_catalogue() -> dict[str, Any]:
    from cowork.shared.events.catalogue import build_catalogue

    return build_catalogue()


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# -- JSON Schema as words


def _anchor(name: str) -> str:
    """GitHub's anchor of a heading that is `name`."""
    return re.sub(r"[^a-z0-9_\- ]", "", name.lower()).replace(" ", "-")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


def _type(schema: dict[str, Any], *, link: bool = True) -> str:
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{name}](#{_anchor(name)})" if link else f"`{name}`"
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        return " or ".join(_type(s, link=link) for s in options)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _type(schema["allOf"][0], link=link)
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), link=link)}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type(schema['additionalProperties'], link=link)}"
    if kind is None:
        return "any"
    if isinstance(kind, list):
        kind = " or ".join(kind)
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


_BOUNDS = (("minLength", "length ≥ {}"), ("maxLength", "length ≤ {}"), ("minimum", "≥ {}"),
           ("maximum", "≤ {}"), ("exclusiveMinimum", "> {}"), ("exclusiveMaximum", "< {}"),
           ("minItems", "at least {} items"), ("maxItems", "at most {} items"),
           ("pattern", "pattern `{}`"))


def _constraints(schema: dict[str, Any]) -> list[str]:
    found = [text.format(schema[key]) for key, text in _BOUNDS if key in schema]
    for option in schema.get("anyOf", []):
        found += _constraints(option)
    return found


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _fields_table(schema: dict[str, Any], *, link: bool = True) -> list[str]:
    properties = schema.get("properties", {})
    if not properties:
        return ["No fields." if schema.get("type") == "object" else f"{_type(schema, link=link)}."]
    required = set(schema.get("required", []))
    lines = ["| field | type | required | notes |", "| --- | --- | --- | --- |"]
    for name, field in properties.items():
        notes = _constraints(field)
        if "default" in field:
            notes.append(f"default `{json.dumps(field['default'])}`")
        if field.get("description"):
            notes.append(field["description"])
        lines.append(f"| `{name}` | {_cell(_type(field, link=link))} | "
                     f"{'yes' if name in required else 'no'} | {_cell('; '.join(notes))} |")
    return lines


# -- docs/api/<service>.md


def _access(operation: dict[str, Any]) -> str:
    schemes = [name for requirement in operation.get("security", []) for name in requirement]
    if not schemes:
        return "no token"
    if any(name.startswith("Optional") for name in schemes):
        return "bearer token optional"
    return "bearer token"


def _media_schema(content: dict[str, Any]) -> str:
    parts = []
    for media, body in content.items():
        schema = body.get("schema") or {}
        described = _type(schema) if schema else "any"
        parts.append(described if media == "application/json" else f"{described} as `{media}`")
    return "; ".join(parts)


def _parameters(operation: dict[str, Any]) -> list[str]:
    lines = []
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        notes = _constraints(schema)
        if "default" in schema:
            notes.append(f"default `{json.dumps(schema['default'])}`")
        if parameter.get("description"):
            notes.append(parameter["description"])
        lines.append(f"| `{parameter['name']}` | {parameter['in']} | {_cell(_type(schema))} | "
                     f"{'yes' if parameter.get('required') else 'no'} | {_cell('; '.join(notes))} |")
    return lines


def _error_legend(document: dict[str, Any]) -> dict[str, str]:
    """Each error status with what it means in most of the service's operations."""
    seen: dict[str, Counter[str]] = {}
    for item in document.get("paths", {}).values():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    seen.setdefault(status, Counter())[response.get("description", "")] += 1
    return {status: counts.most_common(1)[0][0] for status, counts in sorted(seen.items())}


def _operation(path: str, method: str, operation: dict[str, Any],
               legend: dict[str, str]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "",
             f"operationId `{operation.get('operationId', '')}` · {_access(operation)}"]
    roles = operation.get("x-roles")
    if roles:
        lines[-1] += " · roles: " + ", ".join(f"`{r}`" for r in roles)
    lines.append("")
    text = operation.get("description") or operation.get("summary")
    if text:
        lines += [" ".join(text.split()), ""]
    rows = ["| | |", "| --- | --- |"]
    body = operation.get("requestBody")
    if body:
        optional = "" if body.get("required") else " (optional)"
        rows.append(f"| request | {_cell(_media_schema(body.get('content', {})))}{optional} |")
    errors = []
    for status, response in operation.get("responses", {}).items():
        if status.startswith(("4", "5")):
            meaning = response.get("description", "")
            errors.append(f"`{status}`" if meaning == legend.get(status) else
                          f"`{status}` ({meaning})")
            continue
        answer = _media_schema(response.get("content", {})) or "no body"
        rows.append(f"| {status} | {_cell(answer)} |")
    if errors:
        rows.append(f"| errors | {_cell(', '.join(errors))} |")
    lines += rows
    parameters = _parameters(operation)
    if parameters:
        lines += ["", "| parameter | in | type | required | notes |",
                  "| --- | --- | --- | --- | --- |", *parameters]
    return [*lines, ""]


def render_api_markdown(service: str, document: dict[str, Any]) -> str:
    info = document.get("info", {})
    lines = [f"# {service} HTTP API", "", GENERATED, "",
             f"{info.get('title', service)} {info.get('version', '')}: "
             f"{' '.join(info.get('description', '').split())}", "",
             f"The machine-readable form is [{service}.openapi.json]({service}.openapi.json) "
             f"(OpenAPI {document.get('openapi', '')}); the conventions every service follows "
             "(tokens, the error body, pages) are in [README.md](README.md).", ""]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                tag = (item[method].get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append((path, method, item[method]))
    legend = _error_legend(document)
    if legend:
        lines += ["Error statuses the operations below list, answered with "
                  "[ErrorBody](#errorbody) unless an operation says otherwise:", "",
                  *(f"- `{status}`: {meaning}" for status, meaning in legend.items()), ""]
    lines += ["| method | path | operationId | access |", "| --- | --- | --- | --- |"]
    for operations in by_tag.values():
        for path, method, operation in operations:
            heading = f"{method.upper()} {path}"
            lines.append(f"| {method.upper()} | [`{path}`](#{_anchor(heading)}) | "
                         f"`{operation.get('operationId', '')}` | {_access(operation)} |")
    lines.append("")
    for tag, operations in by_tag.items():
        lines += [f"## {tag}", ""]
        for path, method, operation in operations:
            lines += _operation(path, method, operation, legend)
    schemas = document.get("components", {}).get("schemas", {})
    if schemas:
        lines += ["## Schemas", ""]
        for name, schema in schemas.items():
            lines += [f"### {name}", ""]
            if schema.get("description"):
                lines += [" ".join(schema["description"].split()), ""]
            lines += [*_fields_table(schema), ""]
    return "\n".join(lines).rstrip() + "\n"


# -- docs/events/


def _messages_by_topic(catalogue: dict[str, Any]) -> list[tuple[dict[str, Any], list[str]]]:
    return [(channel, [_ref_name(m["$ref"]) for m in channel["messages"].values()])
            for channel in catalogue["channels"].values()]


def render_events_markdown(catalogue: dict[str, Any]) -> str:
    components = catalogue["components"]
    lines = ["# Event catalogue", "", GENERATED, "",
             f"{catalogue['info']['title']} {catalogue['info']['version']}: "
             f"{catalogue['info']['description']}", "",
             "Envelope, keys, ordering and what counts as a compatible change: "
             "[docs/events.md](../events.md). Machine-readable: "
             "[asyncapi.json](asyncapi.json) (AsyncAPI 3.0), and one JSON Schema per event in "
             "[schemas/](schemas/).", ""]
    topics = _messages_by_topic(catalogue)
    lines += ["| topic | event types |", "| --- | --- |"]
    for channel, names in topics:
        types = ", ".join(f"[`{components['messages'][n]['name']}`]"
                          f"(#{_anchor(components['messages'][n]['name'])})" for n in names)
        lines.append(f"| [`{channel['address']}`](#{_anchor(channel['address'])}) | {types} |")
    lines.append("")
    for channel, names in topics:
        lines += [f"## {channel['address']}", "", f"{channel['description'].capitalize()}.", ""]
        for name in names:
            message = components["messages"][name]
            schema = components["schemas"][name]
            key = message["bindings"]["kafka"]["key"]["description"]
            lines += [f"### {message['name']}", "",
                      f"`{message['title']}` · key `{key}` · schema "
                      f"[schemas/{message['name']}.json](schemas/{message['name']}.json)", ""]
            description = message.get("summary") or schema.get("description")
            if description:
                lines += [" ".join(description.split()), ""]
            lines += [*_fields_table(schema, link=False), ""]
            for nested, definition in schema.get("$defs", {}).items():
                lines += [f"`{nested}`:", "", *_fields_table(definition, link=False), ""]
    return "\n".join(lines).rstrip() + "\n"


def event_schemas(catalogue: dict[str, Any]) -> dict[str, str]:
    """One JSON Schema file per event type, named after the type."""
    components = catalogue["components"]
    return {f"{message['name']}.json": _json(components["schemas"][name])
            for name, message in components["messages"].items()}


# -- the files, and their drift


def rendered(root: Path | None = None) -> dict[Path, str]:
    """Every generated file (relative to the repository) with the text the code gives today."""
    files: dict[Path, str] = {}
    for service, document in openapi_documents(root).items():
        files[Path("docs/api") / f"{service}.openapi.json"] = _json(document)
        files[Path("docs/api") / f"{service}.md"] = render_api_markdown(service, document)
    catalogue = event_catalogue()
    files[Path("docs/events/catalogue.md")] = render_events_markdown(catalogue)
    for name, text in event_schemas(catalogue).items():
        files[Path("docs/events/schemas") / name] = text
    return files


def _generated_on_disk(root: Path) -> set[Path]:
    """The files of earlier runs: a service or event that is gone leaves no page behind."""
    found = {p for p in (root / "docs/api").glob("*.openapi.json")}
    found |= {p for p in (root / "docs/api").glob("*.md") if GENERATED in p.read_text()}
    found |= set((root / "docs/events/schemas").glob("*.json"))
    return {p.relative_to(root) for p in found}


def stale(root: Path | None = None) -> list[str]:
    """What differs between the committed files and what the code renders, one line each."""
    root = root or repo_root()
    files = rendered(root)
    problems = [f"{path} is missing" for path in sorted(files) if not (root / path).exists()]
    problems += [f"{path} differs from the code" for path in sorted(files)
                 if (root / path).exists() and (root / path).read_text() != files[path]]
    problems += [f"{path} is left from something the code no longer has"
                 for path in sorted(_generated_on_disk(root) - set(files))]
    return problems


def write(root: Path | None = None) -> list[Path]:
    """Write every generated file that changed and remove those of things gone; the changed."""
    root = root or repo_root()
    files = rendered(root)
    changed = []
    for path in sorted(_generated_on_disk(root) - set(files)):
        (root / path).unlink()
        changed.append(path)
    for path, text in sorted(files.items()):
        target = root / path
        if target.exists() and target.read_text() == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cowork-devstack contract-docs",
                                     description="docs/api/ and docs/events/ from the code")
    parser.add_argument("--write", action="store_true", help="regenerate the files")
    parser.add_argument("--check", action="store_true", help="exit 1 when a file is stale")
    args = parser.parse_args(argv)
    if args.write:
        from cowork.shared import cli as shared_cli

        if shared_cli.main(["catalogue", "--write"]) != 0:
            return 1
        changed = write()
        for path in changed:
            print(f"wrote {path}")
        print(f"{len(changed)} file(s) changed")
        return 0
    problems = stale()
    for problem in problems:
        print(problem)
    if problems:
        print(f"stale: run `{COMMAND}`", file=sys.stderr)
        return 1
    print("docs/api/ and docs/events/ match the code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
