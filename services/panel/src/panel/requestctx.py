"""Request identity: accept or generate ``X-Request-ID``, accept W3C ``traceparent``.

The ids live in a context variable so that log lines from requests, jobs and CLI commands all
carry them without passing them around.
"""

from __future__ import annotations

import os
import random
import re
from contextvars import ContextVar
from dataclasses import dataclass

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# version-traceid-parentid-flags, https://www.w3.org/TR/trace-context/#traceparent-header
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceIds:
    request_id: str
    trace_id: str | None = None
    parent_span_id: str | None = None


_ids = random.Random()  # seeded from os.urandom, and again in every forked child (gunicorn workers)
os.register_at_fork(after_in_child=_ids.seed)
current: ContextVar[TraceIds | None] = ContextVar("panel_trace_ids", default=None)


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """(trace_id, parent_id) of a valid traceparent header, else None (invalid ones are ignored)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match:
        return None
    version, trace_id, parent_id, _flags = match.groups()
    if version == "ff" or set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    return trace_id, parent_id


def new_request_id() -> str:
    """32 random hex digits. Not a secret, so no system call: uuid4() reads os.urandom on every request,
    which showed as 6% of a cached request's time."""
    return f"{_ids.getrandbits(128):032x}"


def from_headers(request_id: str | None, traceparent: str | None) -> TraceIds:
    """The caller's request id if well-formed; else the trace id of ``traceparent``; else a new id."""
    trace = parse_traceparent(traceparent)
    trace_id, parent_id = trace if trace else (None, None)
    chosen = request_id if request_id and _REQUEST_ID.match(request_id) else trace_id or new_request_id()
    return TraceIds(request_id=chosen, trace_id=trace_id, parent_span_id=parent_id)


def current_request_id() -> str | None:
    ids = current.get()
    return ids.request_id if ids else None
