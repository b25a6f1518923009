"""The HTTP API and review UI on SQLite and PostgreSQL: roles (401/403), tokens stored only as
hashes, signed session cookies with CSRF protection, login rate limit, video by clip id with
HTTP Range, path safety, reviews that append a provenance event while the chain still verifies,
and an audit CSV identical to `gapfill audit --csv`."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from api_site import WINDOW, Site, client
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from test_c2pa import flip_byte
from test_verify import T0, make_repaired_clip
from typer.testing import CliRunner

from gapfill.api import commands as api_commands
from gapfill.api.app import create_app
from gapfill.api.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from gapfill.catalog.db import Catalog
from gapfill.catalog.models import ApiToken, ProvenanceEvent, SyntheticClip, User
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.provenance import commands as provenance_commands
from gapfill.provenance.verify import verify


def login(http: TestClient, token: str, name: str = "") -> str:
    """Log in through the form; returns the session's CSRF token from the next page."""
    form = http.get("/login")
    assert form.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]  # type: ignore[index]
    response = http.post(
        "/login", data={"token": token, "name": name, "csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    page = http.get(response.headers["location"])
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]


def _replace_cookie(http: TestClient, name: str, value: str) -> None:
    """Swap the value of a cookie the server set, keeping its domain and path; setting it anew
    would add a second cookie of the same name beside the server's."""
    cookie = next(c for c in http.cookies.jar if c.name == name)
    http.cookies.set(name, value, domain=cookie.domain, path=cookie.path)


def test_roles_and_authentication(site: Site) -> None:
    http = client(site)
    clip_id = site.clip.clip_id
    assert http.get("/api/cameras").status_code == 401
    assert http.get("/api/cameras", headers={"Authorization": "Bearer gf_nope"}).status_code == 401
    assert http.get("/api/cameras", headers={"Authorization": "Basic x"}).status_code == 401
    assert http.get("/api/cameras").json()["detail"].startswith("not authenticated")

    expected = {
        # (read, review, audit export, verify, users) per role
        "viewer": (200, 403, 403, 403, 403),
        "engineer": (200, 200, 403, 403, 403),
        "auditor": (200, 403, 200, 200, 403),
        "admin": (200, 409, 200, 200, 200),  # 409: the engineer approved it just before
    }
    for role, codes in expected.items():
        headers = site.auth(role)
        got = (
            http.get("/api/cameras", headers=headers).status_code,
            http.post(f"/api/clips/{clip_id}/approve", headers=headers).status_code,
            http.get("/api/audit.csv", headers=headers, params=WINDOW).status_code,
            http.get(f"/api/clips/{clip_id}/verify", headers=headers).status_code,
            http.get("/api/users", headers=headers).status_code,
        )
        assert got == codes, role
    forbidden = http.get("/api/users", headers=site.auth("viewer")).json()["detail"]
    assert forbidden == "role viewer may not manage users (needs one of admin)"
    me = http.get("/api/me", headers=site.auth("auditor")).json()
    assert me == {
        "name": "auditor-1",
        "role": "auditor",
        "permissions": ["audit", "read", "verify"],
    }


def test_tokens_are_stored_only_as_hashes(site: Site) -> None:
    with site.catalog.session() as session:
        rows = session.execute(select(ApiToken, User.name).join(User)).all()
        dumped = json.dumps(
            [{c.name: str(getattr(t, c.name)) for c in ApiToken.__table__.columns} for t, _ in rows]
        )
    by_user = {name: token for token, name in rows}
    for role, token in site.tokens.items():
        stored = by_user[f"{role}-1"]
        assert stored.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
        assert token not in dumped and token[10:] not in dumped


def test_users_cli(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(site.settings.data_dir))
    monkeypatch.setenv("GAPFILL_DATABASE_URL", site.catalog.url)
    app = typer.Typer()
    app.add_typer(api_commands.users_app, name="users")
    app.command("noop")(lambda: None)
    runner = CliRunner()

    result = runner.invoke(app, ["users", "add", "ana", "--role", "engineer"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert re.fullmatch(r"gf_[A-Za-z0-9_-]{43}", token)  # printed once, alone on stdout
    with site.catalog.session() as session:
        stored = session.scalars(
            select(ApiToken.token_sha256).join(User).where(User.name == "ana")
        ).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]

    listing = runner.invoke(app, ["users", "list", "--json"])
    assert listing.exit_code == 0, listing.output
    users = {u["name"]: u for u in json.loads(listing.stdout)}
    assert users["ana"]["role"] == "engineer" and users["ana"]["live_tokens"] == 1
    assert token not in listing.stdout

    http = client(site)
    assert http.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    result = runner.invoke(app, ["users", "revoke", "ana"])
    assert result.exit_code == 0, result.output
    assert http.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    result = runner.invoke(app, ["users", "add", "bob", "--role", "boss"])
    assert isinstance(result.exception, UserError) and "--role" in str(result.exception)
    result = runner.invoke(app, ["users", "add", "ana"])
    assert isinstance(result.exception, UserError) and "already exists" in str(result.exception)
    with site.catalog.session() as session:
        ops = [
            json.loads(e.payload)["op"]
            for e in session.scalars(
                select(ProvenanceEvent).where(ProvenanceEvent.subject_id == "ana")
            )
        ]
    assert ops == ["add", "revoke"]  # every write attributed in the chain


def test_review_appends_provenance_event_and_chain_verifies(site: Site) -> None:
    http = client(site)
    clip_id = site.clip.clip_id
    response = http.post(
        f"/api/clips/{clip_id}/approve", headers=site.auth("engineer"), json={"comment": "ok"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["review_state"] == "approved" and body["reviewer"] == "engineer-1"

    with site.catalog.session() as session:
        clip = session.get(SyntheticClip, clip_id)
        reviewer = session.get(User, clip.reviewed_by)
        event = session.scalar(select(ProvenanceEvent).order_by(ProvenanceEvent.seq.desc()))
    assert (clip.review_state, reviewer.name, clip.review_comment) == (
        "approved",
        "engineer-1",
        "ok",
    )
    assert clip.reviewed_at is not None
    assert (event.seq, event.action, event.actor) == (
        body["provenance_seq"],
        "review",
        "engineer-1",
    )
    assert event.subject_id == site.clip.provenance_id
    assert json.loads(event.payload)["decision"] == "approved"
    report = verify(site.catalog, site.settings, all_clips=True)
    assert report.ok, [p.line() for p in report.problems]

    again = http.post(f"/api/clips/{clip_id}/approve", headers=site.auth("engineer"))
    assert again.status_code == 409
    no_reason = http.post(
        f"/api/clips/{clip_id}/reject", headers=site.auth("engineer"), json={"comment": " "}
    )
    assert no_reason.status_code == 400 and "comment" in no_reason.json()["detail"]
    rejected = http.post(
        f"/api/clips/{clip_id}/reject",
        headers=site.auth("admin"),
        json={"comment": "smeared press arm"},
    )
    assert rejected.status_code == 200
    with site.catalog.session() as session:
        clip = session.get(SyntheticClip, clip_id)
        actors = session.scalars(
            select(ProvenanceEvent.actor).where(ProvenanceEvent.action == "review")
        ).all()
    assert (clip.review_state, clip.review_comment) == ("rejected", "smeared press arm")
    assert actors == ["engineer-1", "admin-1"]
    assert verify(site.catalog, site.settings, all_clips=True).ok
    missing = http.post("/api/clips/999/approve", headers=site.auth("engineer"))
    assert missing.status_code == 404 and missing.json() == {"detail": "no synthetic clip 999"}


def test_session_cookie_and_csrf(site: Site) -> None:
    http = client(site)
    clip_id = site.clip.clip_id
    # The login form itself is protected: no double-submit token, no login.
    refused = http.post("/login", data={"token": site.tokens["engineer"], "csrf_token": "x"})
    assert refused.status_code == 403

    form = http.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]  # type: ignore[index]
    response = http.post(
        "/login",
        data={"token": site.tokens["engineer"], "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/queue"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
    assert site.tokens["engineer"] not in cookie

    page = http.get("/queue")
    assert page.status_code == 200 and "engineer-1" in page.text
    session_csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]

    # Cookie-authenticated writes need the session's CSRF token.
    url = f"/api/clips/{clip_id}/approve"
    assert http.post(url).status_code == 403
    assert http.post(url, headers={"X-CSRF-Token": "forged"}).status_code == 403
    form_post = http.post(f"/clips/{clip_id}/review", data={"decision": "approved"})
    assert form_post.status_code == 403
    ok = http.post(
        f"/clips/{clip_id}/review",
        data={"decision": "approved", "csrf_token": session_csrf},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert http.get(f"/api/clips/{clip_id}").json()["review_state"] == "approved"

    # A tampered cookie is no session; a revoked token ends the session.
    good = http.cookies[SESSION_COOKIE]
    _replace_cookie(http, SESSION_COOKIE, good[:-2] + ("AA" if not good.endswith("AA") else "BB"))
    assert http.get("/api/me").status_code == 401
    _replace_cookie(http, SESSION_COOKIE, good)
    assert http.get("/api/me").status_code == 200
    with site.catalog.session() as session:
        session.execute(update(ApiToken).values(revoked_at=dt.datetime.now(dt.UTC)))
    assert http.get("/api/me").status_code == 401
    redirect = http.get("/queue", follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"] == "/login?next=%2Fqueue"


def test_login_failures_and_rate_limit(site: Site) -> None:
    http = client(site, login_attempts=3, login_window_s=60)
    form = http.get("/login")
    csrf = http.cookies[LOGIN_CSRF_COOKIE]
    assert csrf in form.text
    wrong_name = http.post(
        "/login",
        data={"token": site.tokens["viewer"], "name": "admin-1", "csrf_token": csrf},
    )
    assert wrong_name.status_code == 401 and "Login failed." in wrong_name.text
    csrf = http.cookies[LOGIN_CSRF_COOKIE]
    assert http.post("/login", data={"token": "gf_x", "csrf_token": csrf}).status_code == 401
    csrf = http.cookies[LOGIN_CSRF_COOKIE]
    named = http.post(
        "/login",
        data={"token": site.tokens["viewer"], "name": "viewer-1", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert named.status_code == 303
    limited = http.post("/login", data={"token": site.tokens["viewer"], "csrf_token": csrf})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_video_range_requests(site: Site) -> None:
    http = client(site)
    url = f"/api/clips/{site.clip.clip_id}/video"
    data = site.clip.clip_path.read_bytes()
    whole = http.get(url, headers=site.auth("viewer"))
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"

    part = http.get(url, headers={**site.auth("viewer"), "Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    assert part.content == data[100:1100]
    tail = http.get(url, headers={**site.auth("viewer"), "Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == data[-500:]
    beyond = http.get(url, headers={**site.auth("viewer"), "Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416
    assert http.get(url, headers={"Range": "bytes=0-10"}).status_code == 401


def test_frames_by_clip_id(site: Site) -> None:
    http = client(site)
    base = f"/api/clips/{site.clip.clip_id}"
    detail = http.get(base, headers=site.auth("viewer")).json()
    assert detail["frame_count"] == 30 and detail["fps"] == pytest.approx(9.6)
    assert [(s["frame_start"], s["frame_end"]) for s in detail["spans"]] == [(10, 18), (22, 25)]
    for index, fmt in ((0, "jpeg"), (12, "png"), (29, "jpeg")):
        response = http.get(
            f"{base}/frames/{index}", params={"format": fmt}, headers=site.auth("viewer")
        )
        assert response.status_code == 200 and response.headers["content-type"] == f"image/{fmt}"
        picture = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (144, 176, 3)
    assert http.get(f"{base}/frames/30", headers=site.auth("viewer")).status_code == 404
    bad = http.get(f"{base}/frames/-1", headers=site.auth("viewer"))
    assert bad.status_code == 422 and bad.json()["detail"].startswith("path.index:")


def test_no_path_outside_the_roots(site: Site, tmp_path: Path) -> None:
    http = client(site)
    viewer = site.auth("viewer")
    clip_id = site.clip.clip_id
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the API")
    link = site.clip.clip_path.parent / "link.mp4"
    link.symlink_to(outside)
    for stored, code in (
        (str(outside), 403),
        (str(link), 403),
        ("/etc/passwd", 403),
        (str(site.clip.clip_path.parent / "gone.mp4"), 404),
    ):
        with site.catalog.session() as session:
            session.execute(
                update(SyntheticClip).where(SyntheticClip.id == clip_id).values(path=stored)
            )
        assert http.get(f"/api/clips/{clip_id}/video", headers=viewer).status_code == code
        assert http.get(f"/api/clips/{clip_id}/frames/0", headers=viewer).status_code == code
        detail = http.get(f"/api/clips/{clip_id}", headers=viewer).json()
        assert detail["media_error"] and detail["frame_count"] == 0
    for probe in (
        "/api/clips/..%2F..%2Fetc%2Fpasswd/video",
        "/static/..%2F..%2Fcli.py",
        "/static/../app.py",
        "/api/clips/1%2F..%2F2/video",
    ):
        response = http.get(probe, headers=viewer)
        assert response.status_code in (404, 422), probe
        assert "not for the API" not in response.text and "import" not in response.text


def test_audit_csv_equals_cli(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A second camera and a later clip, so the window really selects.
    make_repaired_clip(site.catalog, site.settings, tmp_path / "clips", "lathe-02", T0, ((3, 6),))
    make_repaired_clip(
        site.catalog,
        site.settings,
        tmp_path / "clips" / "later",
        "press-01",
        T0 + dt.timedelta(hours=3),
    )
    http = client(site)
    http.post(f"/api/clips/{site.clip.clip_id}/approve", headers=site.auth("engineer"))

    monkeypatch.setenv("GAPFILL_DATA_DIR", str(site.settings.data_dir))
    monkeypatch.setenv("GAPFILL_DATABASE_URL", site.catalog.url)
    app = typer.Typer()
    app.command("audit")(provenance_commands.audit)
    app.command("noop")(lambda: None)
    cli = CliRunner().invoke(
        app,
        [
            "audit",
            "--camera",
            WINDOW["camera"],
            "--from",
            WINDOW["from"],
            "--to",
            WINDOW["to"],
            "--csv",
        ],
    )
    assert cli.exit_code == 0, cli.output

    api = http.get("/api/audit.csv", params=WINDOW, headers=site.auth("auditor"))
    assert api.status_code == 200 and api.headers["content-type"].startswith("text/csv")
    assert "attachment" in api.headers["content-disposition"]
    assert api.text == cli.stdout
    table = list(csv.reader(io.StringIO(api.text)))
    assert len(table) == 3 and {r[0] for r in table[1:]} == {"press-01"}
    column = {name: i for i, name in enumerate(table[0])}
    assert {r[column["review_state"]] for r in table[1:]} == {"approved"}
    assert {r[column["reviewer"]] for r in table[1:]} == {"engineer-1"}

    rows = http.get("/api/audit", params=WINDOW, headers=site.auth("auditor")).json()
    assert [(r["frame_start"], r["frame_end"]) for r in rows] == [(10, 18), (22, 25)]
    assert rows[0]["model_name"] == "malt-default" and len(rows[0]["inputs"]) == 2
    everything = http.get("/api/audit", headers=site.auth("auditor")).json()
    assert len(everything) == 4
    bad = http.get("/api/audit", params={"from": "soon"}, headers=site.auth("auditor"))
    assert bad.status_code == 400 and "not a time" in bad.json()["detail"]
    backwards = {"from": WINDOW["to"], "to": WINDOW["from"]}
    assert http.get("/api/audit", params=backwards, headers=site.auth("auditor")).status_code == 400
    unknown = http.get("/api/audit", params={"camera": "x"}, headers=site.auth("auditor"))
    assert unknown.status_code == 404 and "no camera named 'x'" in unknown.json()["detail"]


def test_verify_endpoint(site: Site) -> None:
    http = client(site)
    url = f"/api/clips/{site.clip.clip_id}/verify"
    report = http.get(url, headers=site.auth("auditor")).json()
    assert report["ok"] and report["clips_checked"] == 1, report
    flip_byte(site.clip.clip_path, site.clip.clip_path.stat().st_size // 2)
    report = http.get(url, headers=site.auth("auditor")).json()
    assert not report["ok"]
    assert any("file changed since it was written" in p["message"] for p in report["problems"])
    assert http.get("/api/clips/999/verify", headers=site.auth("auditor")).status_code == 404


def test_read_endpoints_and_openapi(site: Site) -> None:
    http = client(site)
    viewer = site.auth("viewer")
    cameras = http.get("/api/cameras", headers=viewer).json()
    assert [c["name"] for c in cameras] == ["press-01"]
    recordings = http.get("/api/recordings", headers=viewer, params={"camera": "press-01"}).json()
    assert recordings["total"] == 2 and len(recordings["items"]) == 2
    assert http.get("/api/recordings", headers=viewer, params={"camera": "x"}).status_code == 404
    assert http.get("/api/recordings", headers=viewer, params={"status": "bad"}).status_code == 400
    defects = http.get("/api/defects", headers=viewer).json()
    assert defects["total"] == 1 and defects["items"][0]["kind"] == "missing"
    assert http.get("/api/jobs", headers=viewer).json()["total"] == 0
    assert [m["name"] for m in http.get("/api/models", headers=viewer).json()] == ["malt-default"]
    clips = http.get("/api/clips", headers=viewer, params={"review_state": "pending"}).json()
    assert clips["total"] == 1
    assert clips["items"][0]["video_url"] == f"/api/clips/{site.clip.clip_id}/video"
    assert "path" not in clips["items"][0]  # clients address files by clip id only
    # What the repair cost: null for a clip made before repairs recorded it, else the row's.
    detail_url = f"/api/clips/{site.clip.clip_id}"
    detail = http.get(detail_url, headers=viewer).json()
    assert (detail["fill_seconds"], detail["repair_seconds"]) == (None, None)
    with site.catalog.session() as session:
        session.execute(
            update(SyntheticClip)
            .where(SyntheticClip.id == site.clip.clip_id)
            .values(fill_seconds=0.25, repair_seconds=1.5)
        )
    detail = http.get(detail_url, headers=viewer).json()
    assert (detail["fill_seconds"], detail["repair_seconds"]) == (0.25, 1.5)

    first = http.get("/api/provenance/events", headers=viewer, params={"limit": 3}).json()
    assert [e["seq"] for e in first["items"]] == [1, 2, 3] and first["next_after"] == 3
    rest = http.get(
        "/api/provenance/events", headers=viewer, params={"after": 3, "limit": 1000}
    ).json()
    assert rest["items"][0]["seq"] == 4 and rest["next_after"] is None
    repair = http.get("/api/provenance/events", headers=viewer, params={"action": "repair"}).json()
    assert [e["subject_id"] for e in repair["items"]] == [site.clip.provenance_id]
    bad = http.get("/api/jobs", headers=viewer, params={"limit": 5000})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("query.limit:")

    schema = http.get("/api/openapi.json").json()
    assert {t["name"] for t in schema["tags"]} >= {"catalog", "clips", "review", "audit"}
    assert "ClipDetail" in schema["components"]["schemas"]
    assert "/api/clips/{clip_id}/approve" in schema["paths"]
    assert http.get("/docs").status_code == 404  # Swagger UI would load a CDN


def test_healthz_needs_no_token_and_reports_an_unusable_catalog(site: Site, tmp_path: Path) -> None:
    ok = client(site).get("/healthz")
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    assert "/healthz" not in client(site).get("/api/openapi.json").json()["paths"]

    empty = Catalog(f"sqlite:///{tmp_path / 'never-initialised.sqlite3'}")
    try:
        probe = TestClient(create_app(site.settings, catalog=empty), base_url="https://testserver")
        down = probe.get("/healthz")
    finally:
        empty.dispose()
    assert down.status_code == 503
    assert "not initialised" in down.json()["reason"]


def test_admin_user_endpoints(site: Site) -> None:
    http = client(site)
    admin = site.auth("admin")
    created = http.post("/api/users", headers=admin, json={"name": "eve", "role": "auditor"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert http.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()["role"] == (
        "auditor"
    )
    listed = http.get("/api/users", headers=admin).json()
    assert {u["name"] for u in listed} >= {"eve", "admin-1"} and token not in json.dumps(listed)
    duplicate = http.post("/api/users", headers=admin, json={"name": "eve", "role": "viewer"})
    assert duplicate.status_code == 409
    bad = http.post("/api/users", headers=admin, json={"name": "x y", "role": "viewer"})
    assert bad.status_code == 400
    assert http.post("/api/users/eve/revoke", headers=admin).json()["revoked_tokens"] == 1
    assert http.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert http.post("/api/users/admin-1/revoke", headers=admin).status_code == 400


def test_pages_headers_and_limits(site: Site) -> None:
    http = client(site)
    redirect = http.get("/clips/1", follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"].startswith("/login?next=")
    login_page = http.get("/login")
    headers = login_page.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "http" not in headers["content-security-policy"]  # no external source allowed
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert http.get("/api/cameras").headers["x-frame-options"] == "DENY"
    assert "://" not in login_page.text.replace("http://www.w3.org", "")  # everything local
    assert http.get("/static/app.js").status_code == 200

    login(http, site.tokens["viewer"])
    queue = http.get("/queue")
    assert f'href="/clips/{site.clip.clip_id}"' in queue.text
    page = http.get(f"/clips/{site.clip.clip_id}")
    assert page.status_code == 200 and "data-clip=" in page.text
    assert "frames 10–17 (8)" in page.text and 'id="review-form"' not in page.text  # viewer
    # This clip's parameters predate the context check's verdict: the page says so.
    assert '<dd id="model-change">not recorded' in page.text
    denied = http.get("/audit", headers={"Accept": "text/html"})
    assert denied.status_code == 403 and "may not export audits" in denied.text

    too_big = http.post("/api/users", headers=site.auth("admin"), content=b"x" * (2 << 20))
    assert too_big.status_code == 413
    small = client(site, max_body_bytes=64)
    streamed = small.post(
        f"/api/clips/{site.clip.clip_id}/reject",
        headers={**site.auth("engineer"), "Content-Type": "application/json"},
        content=iter([b'{"comment": "', b"y" * 100, b'"}']),
    )
    assert streamed.status_code == 413


def test_session_secret_is_generated_once(tmp_path: Path) -> None:
    from gapfill.api.auth import SessionSigner, session_secret

    settings = Settings(data_dir=tmp_path / "data")
    first = session_secret(settings)
    assert len(first) == 32 and session_secret(settings) == first
    key_file = tmp_path / "data" / "session.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    signer = SessionSigner(first)
    value = signer.dumps({"uid": 1, "tid": 2, "csrf": "c", "exp": 2**40})
    assert signer.loads(value) == {"uid": 1, "tid": 2, "csrf": "c", "exp": 2**40}
    assert SessionSigner(b"another site").loads(value) is None
    assert signer.loads(signer.dumps({"uid": 1, "tid": 2, "csrf": "c", "exp": 1})) is None
    assert signer.loads("garbage") is None and signer.loads("a.b.c") is None
