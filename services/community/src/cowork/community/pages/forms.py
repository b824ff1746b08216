"""A page's form, checked by the same schema and command functions as the API, and its errors
shown where the citizen typed: `FormErrors` maps the field (dotted, as the API's `field`:
`consents.privacy`) to the message the template puts next to that field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from cowork.community.pages import i18n
from cowork.shared.http import ApiError

M = TypeVar("M", bound=BaseModel)

# The key for an error that belongs to no one field (shown at the top of the form).
FORM = "_form"

# pydantic's error types that have a plain wording in both languages; the others keep the
# schema's own message, which names the rule (a length, a date order).
_WORDED = {"missing": "error.missing", "string_too_long": "error.too_long",
           "string_pattern_mismatch": "error.invalid", "literal_error": "error.invalid",
           "enum": "error.invalid", "too_short": "error.choose", "string_too_short": "error.missing",
           "bool_type": "error.invalid", "bool_parsing": "error.invalid"}
# Rules whose schema message is English prose, worded by field instead.
_FIELD_WORDED = {"consents.privacy": "error.privacy", "email": "error.email"}

# The hidden housekeeping fields of every page form, never part of a command's input.
_NOT_INPUT = frozenset({"lang"})


class FormErrors(dict[str, str]):
    """Field → message; empty when the form was accepted."""

    @classmethod
    def from_validation(cls, exc: ValidationError, lang: str) -> FormErrors:
        errors = cls()
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or FORM
            worded = _WORDED.get(error["type"])
            if worded is None and error["type"] == "value_error":
                worded = _FIELD_WORDED.get(field)
            message = i18n.text(worded, lang) if worded else _plain(str(error["msg"]))
            errors.setdefault(field, message)  # the first problem of a field is the one to fix
        return errors

    @classmethod
    def from_api_error(cls, exc: ApiError) -> FormErrors:
        return cls({exc.field or FORM: exc.message})

    def dom_id(self, field: str) -> str:
        """The id of the element holding the field's message, for aria-describedby."""
        return "error-" + field.replace(".", "-")


def _plain(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message[:1].upper() + message[1:]


def form_input(form: FormData, lists: Iterable[str] = (), checkboxes: Iterable[str] = ()
               ) -> dict[str, Any]:
    """The submitted fields as a command's input: `a.b` names nest (`consents.privacy`), the
    fields in `lists` (checkbox groups) are lists, those in `checkboxes` booleans. A browser
    sends nothing for an unticked box or group: they are given as false and empty, so the
    schema's error names the box itself, where the template shows it."""
    many, boxes = set(lists), set(checkboxes)
    data: dict[str, Any] = {}
    for name in {key for key in form if key not in _NOT_INPUT} | many | boxes:
        value: Any
        if name in many:
            value = form.getlist(name)
        elif name in boxes:
            value = name in form
        else:
            value = _scalar(form[name])
        target = data
        *parents, leaf = name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return data


def _scalar(value: Any) -> Any:
    if not isinstance(value, str):
        return None  # an uploaded file where text was expected: let the schema refuse it
    return value


def parse(model: type[M], form: FormData, lang: str, lists: Iterable[str] = (),
          checkboxes: Iterable[str] = ()) -> tuple[M | None, FormErrors]:
    """The form as `model`, or None and the errors to show next to the fields."""
    return validate(model, form_input(form, lists, checkboxes), lang)


def validate(model: type[M], data: dict[str, Any], lang: str) -> tuple[M | None, FormErrors]:
    """`data` (a form's input, adjusted by the page) as `model`, or None and the errors."""
    try:
        return model.model_validate(data), FormErrors()
    except ValidationError as exc:
        return None, FormErrors.from_validation(exc, lang)


def redisplay(form: FormData, lists: Iterable[str] = ()) -> dict[str, Any]:
    """What the citizen submitted, by field name as the templates name fields (`values`), to
    put back in the fields when the form comes back with errors."""
    many = set(lists)
    return {name: form.getlist(name) if name in many else form[name] for name in form}
