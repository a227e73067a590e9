"""Changes to the server inventory, shared by API v1, API v2 and the dashboard.

Each change commits together with its audit entry, then invalidates the read cache.
"""

from __future__ import annotations

from typing import Any

from rq.job import Job
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panel import audit, cache, jobs
from panel.errors import ApiError
from panel.extensions import redis_client
from panel.models import Server
from panel.validation import MAX_DB_INT, ServerCreate

EDITABLE_FIELDS = ("name", "address", "port", "protocol", "tags", "owner")


def get_server(session: Session, server_id: int) -> Server:
    server = session.get(Server, server_id) if 0 < server_id <= MAX_DB_INT else None
    if server is None:
        raise ApiError(404, "Not Found", f"no server with id {server_id}")
    return server


def _ensure_name_free(session: Session, name: str, server_id: int | None = None) -> None:
    existing = session.scalar(select(Server.id).where(Server.name == name))
    if existing is not None and existing != server_id:
        raise ApiError(409, "Conflict", f"a server named {name!r} already exists; pick another name")


def _commit(session: Session, name: str) -> None:
    try:
        session.commit()
    except IntegrityError:  # lost a race with a concurrent create/rename of the same name
        session.rollback()
        raise ApiError(
            409, "Conflict", f"a server named {name!r} already exists; pick another name"
        ) from None
    cache.invalidate(redis_client())


def create_server(session: Session, data: ServerCreate) -> Server:
    _ensure_name_free(session, data.name)
    server = Server(
        name=data.name, address=data.address, port=data.port, protocol=data.protocol, owner=data.owner
    )
    server.set_tags(data.tags)
    session.add(server)
    session.flush()
    audit.record(session, "server.create", "server", server.id, changes=_snapshot(server))
    _commit(session, data.name)
    return server


def update_server(session: Session, server: Server, changes: dict[str, Any]) -> Server:
    if "name" in changes:
        _ensure_name_free(session, changes["name"], server.id)
    diff: dict[str, Any] = {}
    for field, value in changes.items():
        old = list(server.tags) if field == "tags" else getattr(server, field)
        if field == "tags":
            server.set_tags(value)
            value = list(server.tags)
        else:
            setattr(server, field, value)
        if old != value:
            diff[field] = {"old": old, "new": value}
    if diff:
        audit.record(session, "server.update", "server", server.id, changes=diff)
        _commit(session, server.name)
    return server


def delete_server(session: Session, server: Server) -> None:
    audit.record(session, "server.delete", "server", server.id, changes=_snapshot(server))
    session.delete(server)
    session.commit()
    cache.invalidate(redis_client())


def queue_check(session: Session, server: Server) -> Job:
    """Queue a check of one server and audit who asked for it."""
    job = jobs.enqueue_check(server.id)
    audit.record(session, "server.check", "server", server.id, changes={"job_id": job.id})
    session.commit()
    return job


def queue_check_all(session: Session) -> Job:
    """Queue the fan-out check of every server and audit who asked for it."""
    job = jobs.enqueue_check_all()
    audit.record(session, "server.check_all", "server", None, changes={"job_id": job.id})
    session.commit()
    return job


def _snapshot(server: Server) -> dict[str, Any]:
    return {field: getattr(server, field) for field in EDITABLE_FIELDS}
