"""The OpenAPI document: generated from the code, served as generated, valid, complete, and true.

- what GET /api/v2/openapi.json serves is what ``panel.api.openapi.build`` makes of the app, and
  what is checked in as ``services/panel/openapi-v2.json`` (regenerate it when this fails);
- it validates as OpenAPI 3.1;
- the generator refuses a route it cannot describe (no declaration, unprotected, wrong path
  parameters, a link to nothing) instead of leaving it out;
- every field a view sends is a field of its model, and the other way round (schemathesis checks
  values; an undocumented extra field would pass it, so this compares the names);
- the claims schemathesis found untrue before the document was generated hold now.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, Response
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from panel import jobs
from panel.api import openapi, schemas
from panel.api.operations import Link, PathParameter, Reply, operation
from panel.app import create_app
from panel.auth import require_role
from panel.auth.tokens import issue_token_pair
from panel.extensions import db, resources
from panel.models import AuditEntry, Server, User
from panel_helpers import body, make_settings
from pydantic import BaseModel
from support.servers import free_port

SNAPSHOT = Path(__file__).resolve().parents[2] / "services" / "panel" / "openapi-v2.json"
REGENERATE = "uv run --frozen panel openapi services/panel/openapi-v2.json"


def test_served_document_is_the_generated_one_and_the_checked_in_one(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/v2/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    served = body(response)
    assert served == openapi.build(app)
    assert json.loads(SNAPSHOT.read_text(encoding="utf-8")) == served, (
        f"stale {SNAPSHOT.name}: run {REGENERATE}"
    )
    assert SNAPSHOT.read_text(encoding="utf-8") == openapi.rendered(served), f"run {REGENERATE}"
    # Clients may cache it: the ETag holds until the app changes.
    again = client.get("/api/v2/openapi.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_document_validates_as_openapi_3_1(app: Flask) -> None:
    document = openapi.build(app)
    assert document["openapi"].startswith("3.1.")
    errors = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_every_api_v2_route_is_described(app: Flask) -> None:
    document = openapi.build(app)
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routes = {
        (openapi.openapi_path(rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v2/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert described == routes
    assert len(routes) == 16


def test_links_lead_from_a_created_server_and_from_checks(app: Flask) -> None:
    paths = openapi.build(app)["paths"]
    created = paths["/servers"]["post"]["responses"]["201"]["links"]
    assert {name: (link["operationId"], link["parameters"]) for name, link in created.items()} == {
        "GetServer": ("getServer", {"server_id": "$response.body#/id"}),
        "UpdateServer": ("updateServer", {"server_id": "$response.body#/id"}),
        "DeleteServer": ("deleteServer", {"server_id": "$response.body#/id"}),
        "CheckServer": ("checkServer", {"server_id": "$response.body#/id"}),
    }
    for checked in (paths["/servers/{server_id}/check"]["post"], paths["/checks"]["post"]):
        link = checked["responses"]["202"]["links"]["GetJob"]
        assert (link["operationId"], link["parameters"]) == ("getJob", {"job_id": "$response.body#/job_id"})


def test_errors_retry_after_and_caching_headers_are_documented(app: Flask) -> None:
    paths = openapi.build(app)["paths"]
    servers = paths["/servers"]["get"]["responses"]
    assert set(servers["200"]["headers"]) == {"ETag", "X-Cache"}
    assert "304" in servers and "application/problem+json" in servers["400"]["content"]
    assert "Retry-After" in paths["/auth/token"]["post"]["responses"]["429"]["headers"]
    for path in ("/checks", "/servers/{server_id}/check", "/jobs/{job_id}"):
        operation_ = next(iter(paths[path].values()))
        assert "Retry-After" in operation_["responses"]["503"]["headers"], path
    # 403 only where a role is required; every signed-in user may read servers.
    assert "403" not in servers and "403" in paths["/users"]["get"]["responses"]
    assert paths["/users"]["get"]["description"].endswith("Roles: `admin`.")


# ---- the generator refuses what it cannot describe ----


def _app_with(blueprint: Blueprint) -> Flask:
    app = Flask(__name__)
    app.register_blueprint(blueprint)
    return app


def _ok() -> Response:
    return Response(status=204)


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda view: require_role()(view), "no @operation"),
        (
            lambda view: operation("x", "x", tag="servers", replies=[Reply(204, "ok")])(view),
            "neither @require_role nor public=True",
        ),
        (
            lambda view: operation("x", "x", tag="servers", replies=[Reply(204, "ok")])(require_role()(view)),
            "path parameters ['thing_id'] but declared []",
        ),
        (
            lambda view: operation(
                "x",
                "x",
                tag="servers",
                parameters=[PathParameter("thing_id", "id")],
                replies=[
                    Reply(
                        204,
                        "ok",
                        links=(Link("Nowhere", "missingOperation", {"id": "$response.body#/id"}, ""),),
                    )
                ],
            )(require_role()(view)),
            "link Nowhere to unknown operation missingOperation",
        ),
    ],
)
def test_generator_refuses_a_route_it_cannot_describe(declare: Any, message: str) -> None:
    blueprint = Blueprint("things", __name__, url_prefix="/api/v2")
    blueprint.add_url_rule("/things/<int:thing_id>", view_func=declare(_ok), methods=["DELETE"])
    with pytest.raises(openapi.DeclarationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        openapi.build(_app_with(blueprint))


# ---- the models name exactly the fields the views send ----


def _fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_models_name_the_fields_the_views_send(app: Flask, client: FlaskClient, auth_headers: Any) -> None:
    admin = auth_headers("admin")
    created = body(
        client.post(
            "/api/v2/servers", json={"name": "doc-1", "address": "127.0.0.1", "port": 1}, headers=admin
        )
    )
    assert set(created) == _fields(schemas.Server)
    page = body(client.get("/api/v2/servers", headers=admin))
    assert set(page) == _fields(schemas.ServerPage)
    summary = body(client.get("/api/v2/summary", headers=admin))
    assert set(summary) == _fields(schemas.Summary)
    assert set(summary["by_status"]) == _fields(schemas.StatusCounts)
    accepted = body(client.post(f"/api/v2/servers/{created['id']}/check", headers=admin))
    assert set(accepted) == _fields(schemas.Accepted)
    job = body(client.get(accepted["status_url"], headers=admin))
    assert set(job) == _fields(schemas.Job)
    users = body(client.get("/api/v2/users", headers=admin))
    assert set(users) == _fields(schemas.UserPage)
    assert set(users["items"][0]) == _fields(schemas.User)
    audit = body(client.get("/api/v2/audit", headers=admin))
    assert set(audit) == _fields(schemas.AuditPage)
    # `redacted` appears only in what an operator sees of account entries.
    assert set(audit["items"][0]) == _fields(schemas.AuditEntry) - {"redacted"}
    with app.app_context():
        user = db().query(User).first()
        assert user is not None
        assert set(issue_token_pair(user)) == _fields(schemas.Tokens)
        assert set(user.to_dict()) == _fields(schemas.User)
        entry = db().query(AuditEntry).first()
        assert entry is not None and set(entry.to_dict()) == _fields(schemas.AuditEntry) - {"redacted"}
        server = db().get(Server, created["id"])
        assert server is not None and set(server.to_dict()) == _fields(schemas.Server)
        described = jobs.describe(jobs.fetch(resources().redis, accepted["job_id"]))
        assert set(described) == _fields(schemas.Job)
    problem = body(client.post("/api/v2/servers", json={"name": "doc-2"}, headers=admin))
    assert set(problem) <= _fields(schemas.Problem)
    assert set(problem["errors"][0]) == _fields(schemas.ProblemField)


# ---- what the document says holds (found by schemathesis against the generated document) ----


def test_a_port_written_with_a_zero_fraction_is_that_integer(client: FlaskClient, auth_headers: Any) -> None:
    # JSON has one number type and JSON Schema calls 443.0 an integer; the strict model refused it (422).
    admin = auth_headers("operator")
    created = client.post(
        "/api/v2/servers", json={"name": "float-port", "address": "127.0.0.1", "port": 443.0}, headers=admin
    )
    assert created.status_code == 201, body(created)
    assert body(created)["port"] == 443
    changed = client.patch(f"/api/v2/servers/{body(created)['id']}", json={"port": 8443.0}, headers=admin)
    assert changed.status_code == 200 and body(changed)["port"] == 8443
    for port in (443.5, True, "443"):
        refused = client.post(
            "/api/v2/servers",
            json={"name": "float-port-2", "address": "127.0.0.1", "port": port},
            headers=admin,
        )
        assert refused.status_code == 422, port


def test_patch_bodies_offer_null_only_where_the_view_takes_it(
    app: Flask, client: FlaskClient, auth_headers: Any
) -> None:
    schemas_ = openapi.build(app)["components"]["schemas"]
    for model, nullable in (("ServerPatch", {"owner"}), ("UserPatch", {"email"})):
        offered = {
            name
            for name, field in schemas_[model]["properties"].items()
            if {"type": "null"} in field.get("anyOf", [])
        }
        assert offered == nullable, model
    admin = auth_headers("operator")
    server = body(
        client.post("/api/v2/servers", json={"name": "nulls", "address": "h", "port": 1}, headers=admin)
    )
    assert (
        client.patch(f"/api/v2/servers/{server['id']}", json={"port": None}, headers=admin).status_code == 422
    )
    assert (
        client.patch(f"/api/v2/servers/{server['id']}", json={"owner": None}, headers=admin).status_code
        == 200
    )


def test_empty_query_values_mean_unset_as_documented(
    app: Flask, client: FlaskClient, auth_headers: Any
) -> None:
    parameters = {p["name"]: p for p in openapi.build(app)["paths"]["/servers"]["get"]["parameters"]}
    assert "" in parameters["status"]["schema"]["enum"]
    assert parameters["tag"]["schema"]["pattern"].startswith("^$|")
    response = client.get(
        "/api/v2/servers?status=&owner=&tag=&q=&sort=&cursor=", headers=auth_headers("viewer")
    )
    assert response.status_code == 200


# ---- examples ----


def test_every_example_is_valid_for_its_schema(app: Flask) -> None:
    document = openapi.build(app)
    examples = [
        (name, example)
        for name, schema in document["components"]["schemas"].items()
        for example in schema.get("examples", [])
    ]
    named = {name for name, _ in examples}
    assert named >= {"Server", "User", "Job", "Problem", "ServerCreate", "UserCreate"}
    for name, example in examples:
        validator = Draft202012Validator({**document, "$ref": f"#/components/schemas/{name}"})
        assert [error.message for error in validator.iter_errors(example)] == [], name


def test_request_body_examples_are_accepted(app: Flask, client: FlaskClient, auth_headers: Any) -> None:
    schemas_ = openapi.build(app)["components"]["schemas"]
    admin = auth_headers("admin")
    server = client.post("/api/v2/servers", json=schemas_["ServerCreate"]["examples"][0], headers=admin)
    assert server.status_code == 201, body(server)
    for patch in schemas_["ServerPatch"]["examples"]:
        changed = client.patch(f"/api/v2/servers/{body(server)['id']}", json=patch, headers=admin)
        assert changed.status_code == 200, body(changed)
    user = client.post("/api/v2/users", json=schemas_["UserCreate"]["examples"][0], headers=admin)
    assert user.status_code == 201, body(user)
    for patch in schemas_["UserPatch"]["examples"]:
        changed = client.patch(f"/api/v2/users/{body(user)['id']}", json=patch, headers=admin)
        assert changed.status_code == 200, body(changed)


def _regenerate(target: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "panel.cli", "openapi", str(target)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_regenerating_writes_the_document_or_says_in_one_line_why_not(tmp_path: Path) -> None:
    written = _regenerate(tmp_path / "v2.json")
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "v2.json").read_text(encoding="utf-8") == SNAPSHOT.read_text(encoding="utf-8")
    refused = _regenerate(tmp_path / "missing" / "v2.json")
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "cannot write" in refused.stderr, refused.stderr


# ---- drills ----


def test_document_is_served_with_redis_down_and_to_concurrent_first_callers(migrated_database: str) -> None:
    # Built on first use: eight threads asking at once get the same document; Redis plays no part.
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(make_settings(migrated_database, nothing_listens, redis_timeout_seconds=0.2))
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: app.test_client().get("/api/v2/openapi.json"), range(8)))
        assert {answer.status_code for answer in answers} == {200}
        assert len({answer.data for answer in answers}) == 1
        assert json.loads(answers[0].data) == json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    finally:
        app.extensions["panel"].close()
