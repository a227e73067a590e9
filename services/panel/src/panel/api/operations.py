"""What a view declares about itself for the OpenAPI document: parameters, body, answers, links.

``@operation(...)`` only attaches an ``Operation`` to the view function and returns the same
function: nothing runs on the request path. Query parameters are declared once, as objects the view
reads them with (``LIMIT.read()``) and the document describes them from, so a limit or a pattern
cannot differ between the two. ``panel.api.openapi`` turns the declarations and the pydantic models
into the document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from panel.api.schemas import Problem
from panel.validation import MAX_DB_INT, query_choice, query_int, query_text

F = TypeVar("F", bound=Callable[..., Any])

# What panel.validation.query_text refuses in any text parameter.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
EMPTY_IS_UNSET = "An empty value is the same as leaving the parameter out."


# ---- parameters ----


@dataclass(frozen=True)
class QueryText:
    """A text query parameter: at most ``max_length`` characters, no control characters, ``pattern``."""

    name: str
    max_length: int
    pattern: str | None = None  # anchored (^...$); matched against the whole value
    description: str = ""

    def read(self) -> str | None:
        return query_text(self.name, self.max_length, self.pattern)

    def openapi(self) -> dict[str, Any]:
        # An empty value means "not set", so the pattern accepts it too.
        pattern = f"^$|{self.pattern}" if self.pattern else NO_CONTROL_CHARACTERS
        schema = {"type": "string", "maxLength": self.max_length, "pattern": pattern}
        return _query(self.name, schema, self.description)


@dataclass(frozen=True)
class QueryChoice:
    name: str
    choices: tuple[str, ...]
    default: str | None = None
    description: str = ""

    def read(self) -> str | None:
        return query_choice(self.name, self.choices, self.default)

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "enum": ["", *self.choices]}  # "": not set
        if self.default is not None:
            schema["default"] = self.default
        return _query(self.name, schema, self.description)


@dataclass(frozen=True)
class QueryInt:
    name: str
    default: int
    minimum: int
    maximum: int
    description: str = ""

    def read(self) -> int:
        return query_int(self.name, self.default, self.minimum, self.maximum)

    def openapi(self) -> dict[str, Any]:
        schema = {
            "type": "integer",
            "minimum": self.minimum,
            "maximum": self.maximum,
            "default": self.default,
        }
        return _query(self.name, schema, self.description)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    text = f"{description} {EMPTY_IS_UNSET}".strip()
    return {"name": name, "in": "query", "required": False, "description": text, "schema": schema}


@dataclass(frozen=True)
class PathParameter:
    """A path segment: the Flask rule's ``<name>`` (an ``int`` converter, or text matching ``pattern``)."""

    name: str
    description: str
    integer: bool = True
    pattern: str | None = None

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 1, "maximum": MAX_DB_INT}
            if self.integer
            else {"type": "string", "pattern": self.pattern or NO_CONTROL_CHARACTERS}
        )
        return {
            "name": self.name,
            "in": "path",
            "required": True,
            "description": self.description,
            "schema": schema,
        }


@dataclass(frozen=True)
class HeaderParameter:
    name: str
    description: str

    def openapi(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": "header",
            "required": False,
            "description": self.description,
            "schema": {"type": "string"},
        }


Parameter = QueryText | QueryChoice | QueryInt | PathParameter | HeaderParameter


def query_names(parameters: Sequence[Parameter]) -> tuple[str, ...]:
    """The query parameters an endpoint takes (for ``only_query_parameters``)."""
    return tuple(p.name for p in parameters if isinstance(p, QueryText | QueryChoice | QueryInt))


# ---- answers ----


@dataclass(frozen=True)
class Header:
    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = True


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: how a value of this answer feeds another operation (a client's next step)."""

    name: str
    operation_id: str
    parameters: Mapping[str, str]  # parameter name -> runtime expression, e.g. "$response.body#/id"
    description: str


@dataclass(frozen=True)
class Reply:
    status: int
    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    headers: tuple[Header, ...] = ()
    links: tuple[Link, ...] = ()


def problem(status: int, description: str, *headers: Header) -> Reply:
    return Reply(status, description, Problem, "application/problem+json", headers)


RETRY_AFTER = Header("Retry-After", "Seconds to wait before trying again", {"type": "integer", "minimum": 1})
ETAG = Header("ETag", "The representation's tag: send it back as If-None-Match to get a 304 while it holds")
X_CACHE = Header(
    "X-Cache",
    "`hit` when served from the cache, `miss` when computed",
    {"type": "string", "enum": ["hit", "miss"]},
)
LOCATION = Header("Location", "The URL of the resource")

NOT_MODIFIED = Reply(
    304, "Not modified: If-None-Match names the current representation (no body)", headers=(ETAG,)
)
NOT_FOUND = problem(404, "No such resource")
BAD_QUERY = problem(400, "A query parameter is invalid or unknown; `detail` names it")
CONFLICT_NAME = problem(409, "Another server has this name")
BODY_ERRORS = (
    problem(400, "The body is not a JSON object (or is nested too deeply)"),
    problem(413, "The body is larger than 1 MiB"),
    problem(415, "The body is not JSON: send Content-Type: application/json"),
    problem(422, "A field is invalid; `errors` lists each one"),
)
REDIS_DOWN = problem(
    503, "Redis (the job queue) is not answering; retry after Retry-After seconds", RETRY_AFTER
)
IF_NONE_MATCH = HeaderParameter("If-None-Match", "An ETag from an earlier answer: 304 while it still holds")


# ---- operations ----


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    tag: str
    replies: tuple[Reply, ...]
    description: str = ""
    parameters: tuple[Parameter, ...] = ()
    body: type[BaseModel] | None = None
    public: bool = False  # no Authorization needed


def declare(
    operation_id: str,
    summary: str,
    *,
    tag: str,
    replies: Sequence[Reply | Sequence[Reply]],
    description: str = "",
    parameters: Sequence[Parameter] = (),
    body: type[BaseModel] | None = None,
    public: bool = False,
) -> Operation:
    """An ``Operation``; ``replies`` may mix single replies and groups such as ``BODY_ERRORS``."""
    flat: list[Reply] = []
    for reply in replies:
        flat.extend([reply] if isinstance(reply, Reply) else reply)
    return Operation(
        operation_id=operation_id,
        summary=summary,
        tag=tag,
        replies=tuple(flat),
        description=description,
        parameters=tuple(parameters),
        body=body,
        public=public,
    )


def operation(operation_id: str, summary: str, **details: Any) -> Callable[[F], F]:
    """Declare a view for the OpenAPI document (below ``@bp.get``, above ``@require_role``).

    Takes the arguments of ``declare``. Returns the view unchanged, with ``openapi_operation`` set.
    """
    declared = declare(operation_id, summary, **details)

    def attach(view: F) -> F:
        view.openapi_operation = declared  # type: ignore[attr-defined]
        return view

    return attach
