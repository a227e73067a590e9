"""HTML form fields to the API's pydantic models, with one readable message per invalid field.

The UI validates with exactly the models API v2 uses, so a form accepts what the API accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)

# pydantic's messages name regexes; people filling in a form need the rule in words.
FIELD_RULES = {
    "name": "1-128 letters, digits, dots, dashes or underscores, starting with a letter or digit",
    "address": "a hostname or an IP address (letters, digits, dots, dashes, colons)",
    "port": "a whole number from 1 to 65535",
    "protocol": "one of tcp, http, https",
    "tags": "up to 20 tags of 1-32 letters, digits, dots, dashes or underscores",
    "owner": "1-64 letters, digits, dots, dashes, underscores or @",
    "username": "1-64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit",
    "email": "an email address such as name@example.com",
    "role": "one of admin, operator, viewer",
    "password": "12 to 256 characters",
    "target": "an email address or an http(s) URL",
}


@dataclass
class FormResult(Generic[ModelT]):
    values: dict[str, Any]
    model: ModelT | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.model is not None and not self.errors


def split_tags(raw: str) -> list[str]:
    return [tag.strip() for tag in raw.replace(";", ",").split(",") if tag.strip()]


def to_int(raw: str) -> int | str:
    stripped = raw.strip()
    return int(stripped) if stripped.isascii() and stripped.isdigit() and len(stripped) < 10 else stripped


def validate(model: type[ModelT], values: dict[str, Any]) -> FormResult[ModelT]:
    """Validate ``values`` (already converted from text) against ``model``; errors keyed by field."""
    try:
        return FormResult(values, model.model_validate(values))
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors(include_url=False, include_input=False):
            name = str(error["loc"][0]) if error["loc"] else "form"
            if name in errors:
                continue
            rule = FIELD_RULES.get(name)
            if error["type"] == "value_error" or not rule:
                # A validator's own message (e.g. the password policy's) says more than the rule.
                message = str(error["msg"]).removeprefix("Value error, ")
                errors[name] = message[:1].upper() + message[1:].rstrip(".") + "."
            else:
                errors[name] = f"Enter {rule}."
        return FormResult(values, None, errors)


def optional(raw: str | None) -> str | None:
    stripped = (raw or "").strip()
    return stripped or None
