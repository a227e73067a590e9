"""Input validation for the API: request bodies (pydantic) and query parameters.

Everything that reaches the database has been checked here, so bad input is a 4xx naming the
field, never a database error (e.g. NUL bytes, which PostgreSQL refuses in text).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from flask import request
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from panel import password_policy
from panel.errors import ApiError

MAX_DB_INT = 2**31 - 1
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# A hostname or an IPv4/IPv6 literal: letters, digits, dots, dashes, colons, brackets.
ADDRESS_PATTERN = r"^[A-Za-z0-9.:\[\]-]{1,255}$"
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"  # stored lower-case
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"

ServerName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Address = Annotated[str, StringConstraints(pattern=ADDRESS_PATTERN)]
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN)]
Owner = Annotated[str, StringConstraints(pattern=OWNER_PATTERN)]


def _whole_number(value: Any) -> Any:
    # JSON has one number type: 443.0 is the integer 443 (JSON Schema agrees), 443.5 is not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Port = Annotated[int, Field(ge=1, le=65535), BeforeValidator(_whole_number)]
ProtocolName = Literal["tcp", "http", "https"]
RoleName = Literal["admin", "operator", "viewer"]
Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]


def _acceptable_password(value: str) -> str:
    found = password_policy.problems(value)
    if found:
        raise ValueError("; ".join(found))
    return value


# The rules that need no username; UserCreate adds the username rule (see panel.auth.password_policy).
# The document shows the length bounds; the rest of the policy (breached, guessable) has no JSON Schema.
Password = Annotated[
    str,
    AfterValidator(_acceptable_password),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": password_policy.MIN_LENGTH,
            "maxLength": password_policy.MAX_LENGTH,
            "description": "Not common, breached or easy to guess; not containing the username",
        }
    ),
]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s\x00-\x1f]{1,128}@[A-Za-z0-9.-]{1,126}$")]


ModelT = TypeVar("ModelT", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _patch_schema(nullable: frozenset[str], examples: list[dict[str, Any]]) -> Any:
    """JSON Schema of a PATCH body: every field optional, only ``nullable`` ones may be null.

    The model types the others ``X | None`` to tell "left out" from "sent"; the views refuse an
    explicit null for them (``non_null_fields``), so the document must not offer null.
    """

    def adjust(schema: dict[str, Any]) -> None:
        for name, field_schema in schema["properties"].items():
            if name in nullable:
                continue
            branches = [branch for branch in field_schema.pop("anyOf", []) if branch != {"type": "null"}]
            if len(branches) == 1:
                field_schema.update(branches[0])
            field_schema.pop("default", None)
        schema["examples"] = examples

    return adjust


class ServerCreate(_Strict):
    """A server to register (POST /api/v2/servers; v1's POST and PUT take the same body)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "web-01", "address": "10.0.3.17", "port": 443, "protocol": "https", "tags": ["prod"]}
            ]
        }
    )

    name: ServerName
    address: Address
    port: Port
    protocol: ProtocolName = "tcp"
    tags: Annotated[list[Tag], Field(max_length=20)] = []
    owner: Owner | None = None


class ServerPatch(_Strict):
    """The fields to change; the others keep their value. Only `owner` may be null."""

    model_config = ConfigDict(
        json_schema_extra=_patch_schema(frozenset({"owner"}), [{"port": 8443, "tags": ["prod", "eu-west"]}])
    )

    name: ServerName | None = None
    address: Address | None = None
    port: Port | None = None
    protocol: ProtocolName | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    owner: Owner | None = None


class UserCreate(_Strict):
    """A new account."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "bob", "password": "pale-violet-kettle-harbour", "role": "operator"}]
        }
    )

    username: Username
    password: Password
    role: RoleName = "viewer"
    email: Email | None = None

    @field_validator("password")
    @classmethod
    def _password_without_username(cls, value: str, info: ValidationInfo) -> str:
        found = password_policy.problems(value, info.data.get("username"))
        if found:
            raise ValueError("; ".join(found))
        return value


class UserPatch(_Strict):
    """The fields to change; the others keep their value. Only `email` may be null."""

    model_config = ConfigDict(
        json_schema_extra=_patch_schema(frozenset({"email"}), [{"role": "viewer"}, {"is_active": False}])
    )

    role: RoleName | None = None
    is_active: bool | None = None
    password: Password | None = None
    email: Email | None = None


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400/415 problem explaining what is wrong with it."""
    if not request.is_json:
        raise ApiError(
            415, "Unsupported Media Type", "send the body as JSON with Content-Type: application/json"
        )
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "Bad Request", "the body must be a JSON object")
    return body


def parse(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in error["loc"]) or "body",
                "message": error["msg"].removeprefix("Value error, "),
            }
            for error in exc.errors(include_url=False, include_input=False)
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ApiError(422, "Unprocessable Content", summary, errors=errors) from None


def non_null_fields(model: BaseModel, nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields a PATCH body set; 422 when one that cannot be empty was sent as null."""
    values = {name: getattr(model, name) for name in model.model_fields_set}
    nulls = sorted(name for name, value in values.items() if value is None and name not in nullable)
    if nulls:
        raise ApiError(
            422,
            "Unprocessable Content",
            f"{', '.join(nulls)}: may not be null (leave the field out to keep its value)",
            errors=[{"field": name, "message": "may not be null"} for name in nulls],
        )
    return values


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def query_text(name: str, max_length: int = 128, pattern: str | None = None) -> str | None:
    """A query parameter as text, or None; 400 when it is too long, has control characters or no match."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if len(value) > max_length or _CONTROL.search(value):
        raise ApiError(
            400, "Bad Request", f"query parameter {name!r}: at most {max_length} printable characters"
        )
    if pattern and not re.fullmatch(pattern, value):
        raise ApiError(400, "Bad Request", f"query parameter {name!r}: {value!r} is not a valid value")
    return value


def only_query_parameters(*allowed: str) -> None:
    """400 naming any query parameter this endpoint does not know (a typo must not be ignored)."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise ApiError(
            400,
            "Bad Request",
            f"unknown query parameter(s): {', '.join(repr(name[:64]) for name in unknown[:5])}; "
            f"this endpoint takes: {known}",
        )


def query_choice(name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if value not in choices:
        raise ApiError(400, "Bad Request", f"query parameter {name!r}: must be one of {', '.join(choices)}")
    return value


def query_int(name: str, default: int, minimum: int, maximum: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if not re.fullmatch(r"[0-9]{1,9}", value) or not minimum <= int(value) <= maximum:
        raise ApiError(
            400, "Bad Request", f"query parameter {name!r}: an integer from {minimum} to {maximum}"
        )
    return int(value)
