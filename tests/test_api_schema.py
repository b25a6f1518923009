"""Schemathesis against the API's own OpenAPI document: every operation, reads and writes, with
generated requests (valid and invalid) under an admin's bearer token, on a catalog holding a
real repaired clip. No request may get a server error, and every response must be one the
schema documents (status code, content type, body). The same run without a token must get 401
from every operation.

Bounded and seeded: a fixed number of examples per operation and mode, Hypothesis derandomised
and without shrinking, so the run takes seconds and is the same on every machine. For a longer
hunt, raise GAPFILL_SCHEMA_EXAMPLES.

The operations are driven here rather than through `schemathesis.pytest.from_fixture`, whose
pytest plugin does not work with the pytest this project uses (it reads `Function._nodeid`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import schemathesis
from api_site import Site, client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gapfill.api.app import create_app

EXAMPLES = int(os.environ.get("GAPFILL_SCHEMA_EXAMPLES", "15"))
# Valid requests, and requests that break the schema (wrong types, missing fields, bad JSON).
BOTH_MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
MALFORMED_BODY = ("There was an error parsing the body", "body: JSON decode error")
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _schema(site: Site) -> schemathesis.BaseSchema:
    app = create_app(site.settings, catalog=site.catalog)
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


def _run_every_operation(
    schema: schemathesis.BaseSchema,
    modes: tuple[GenerationMode, ...],
    exercise: Callable[[schemathesis.Case], None],
    examples: int = EXAMPLES,
) -> list[str]:
    """Run `exercise` on generated cases of every operation; returns one report per failing
    operation and mode, so a single run names every broken endpoint, not only the first."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                exercise(case)

            try:
                run()
            except Unsatisfiable:
                # No invalid request exists for an operation without parameters or body.
                assert mode is GenerationMode.NEGATIVE, operation.label
            # FailureGroup (failed checks) is a BaseExceptionGroup; anything else is the app
            # raising through the ASGI transport, which is a server error too.
            except (Exception, FailureGroup) as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_no_server_errors_and_schema_conformance(site: Site) -> None:
    schema = _schema(site)
    admin = site.auth("admin")

    def exercise(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=admin, checks=CONFORMANCE)

    failures = _run_every_operation(schema, BOTH_MODES, exercise)
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_every_operation_needs_authentication(site: Site) -> None:
    schema = _schema(site)

    def exercise(case: schemathesis.Case) -> None:
        # Whatever schemathesis puts in the declared bearer header or session cookie is a
        # made-up credential: never a way in.
        response = case.call()
        refused = response.status_code == 401 or (
            # FastAPI parses a body before any dependency runs, so a body that is not even
            # JSON is refused as malformed first; that says nothing about the catalog.
            response.status_code in (400, 422) and response.json()["detail"] in MALFORMED_BODY
        )
        assert refused, f"{case.operation.label}: {response.status_code} {response.text[:200]}"
        case.validate_response(response, checks=CONFORMANCE)

    # Authentication is decided before anything else, so fewer examples cover it.
    failures = _run_every_operation(schema, BOTH_MODES, exercise, examples=max(5, EXAMPLES // 2))
    assert not failures, "\n\n".join(failures)


# --- regressions for what the runs above found ---------------------------------------------


def test_numbers_past_the_database_range_are_422(site: Site) -> None:
    """Found by schemathesis: an id, seq or offset past 2**63 - 1 reached SQLite, which cannot
    bind it (OverflowError, a 500). Ids are 32-bit on PostgreSQL, so the API bounds them there."""
    http = client(site)
    admin = site.auth("admin")
    for huge in (2**31, 2**63):
        for method, url in (
            ("GET", f"/api/clips/{huge}"),
            ("GET", f"/api/clips/{huge}/video"),
            ("GET", f"/api/clips/{site.clip.clip_id}/frames/{huge}"),
            ("GET", f"/api/clips/{huge}/verify"),
            ("POST", f"/api/clips/{huge}/approve"),
            ("GET", f"/api/provenance/events?after={huge}"),
            ("GET", f"/api/recordings?offset={huge}"),
            ("GET", f"/api/clips?offset={huge}"),
        ):
            response = http.request(method, url, headers=admin)
            assert response.status_code == 422, (url, response.text)
            assert response.json()["detail"].startswith(("path.", "query.")), url
    largest = http.get(f"/api/clips/{2**31 - 1}", headers=admin)
    assert largest.status_code == 404


def test_validation_errors_match_the_documented_body(site: Site) -> None:
    """Found by schemathesis: a 422 answers `{"detail": "<one line>"}`, but the OpenAPI
    document promised FastAPI's list of error objects."""
    http = client(site)
    document = http.get("/api/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    invalid = document["paths"]["/api/clips/{clip_id}/reject"]["post"]["responses"]["422"]
    assert invalid["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    response = http.post(
        f"/api/clips/{site.clip.clip_id}/reject",
        headers={**site.auth("engineer"), "Content-Type": "application/json"},
        content=b"{not json",
    )
    # The loc of a JSON error is a character position: the detail names the body instead.
    assert response.status_code == 422 and response.json() == {"detail": "body: JSON decode error"}


def test_error_statuses_and_authentication_are_documented(site: Site) -> None:
    """Found by schemathesis: 400, 401, 403, 404 and 409 were answered but not documented."""
    document = client(site).get("/api/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": "An API token."}
    paths = document["paths"]
    assert {"400", "401", "403", "404", "422"} <= set(paths["/api/recordings"]["get"]["responses"])
    approve = paths["/api/clips/{clip_id}/approve"]["post"]
    assert {"400", "401", "403", "404", "409", "413"} <= set(approve["responses"])
    assert approve["security"] == [{"bearer": []}, {"session": []}]
    revoke = paths["/api/users/{name}/revoke"]["post"]["responses"]
    assert revoke["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Revoked"
    }


def test_a_non_ascii_session_cookie_is_no_session(site: Site) -> None:
    """Found while reading the authentication path the runs exercise: a session cookie with a
    non-ASCII character crashed the HMAC check (UnicodeEncodeError, a 500) on every request."""
    http = client(site)
    cookie = {"Cookie": b"gapfill_session=\xe9.AAAA"}
    assert http.get("/api/me", headers=cookie).status_code == 401
    page = http.get("/queue", headers=cookie, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_times_past_the_datetime_range_are_400(site: Site) -> None:
    """Found while checking the time parameters schemathesis fills: 0001-01-01 in a zone east
    of UTC, or an age of millions of weeks, has no datetime in UTC (OverflowError, a 500)."""
    http = client(site)
    admin = site.auth("admin")
    for url, params in (
        ("/api/recordings", {"since": "0001-01-01T00:00:00+01:00"}),
        ("/api/recordings", {"until": "9999-12-31T23:59:59-01:00"}),
        ("/api/audit", {"from": "0001-01-01T00:00:00+01:00"}),
        ("/api/audit", {"to": "99999999999w"}),
        ("/api/audit.csv", {"from": "9000000d"}),
    ):
        response = http.get(url, headers=admin, params=params)
        assert response.status_code == 400, (url, params, response.text)
        assert "out of range" in response.json()["detail"], response.text
