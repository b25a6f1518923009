"""The review UI in a real browser (Debian's chromium driven by Playwright) against a uvicorn
server on 127.0.0.1: an engineer opens a reconstruction, sees the synthetic frames flagged and
approves it (a provenance event); an auditor queries a window and exports a CSV identical to
`gapfill audit --csv`. Screenshots of both pages go to artifacts/screenshots/ (and to
$GAPFILL_TEST_ARTIFACTS when set)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import uvicorn
from api_site import WINDOW, Site, make_site
from sqlalchemy import select
from test_verify import make_repaired_clip
from typer.testing import CliRunner

from gapfill.api.app import create_app
from gapfill.catalog.db import Catalog
from gapfill.catalog.models import ProvenanceEvent, SyntheticClip
from gapfill.provenance import commands as provenance_commands

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
# Read at import: the isolated_env fixture removes every GAPFILL_* variable before each test.
EXTRA_ARTIFACTS = os.environ.get("GAPFILL_TEST_ARTIFACTS")

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed (/usr/bin/chromium); "
        "`make test` installs it via tests/ensure_system_packages.sh",
    ),
    # The browser run needs one database; the API suite covers both backends.
    pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def site(catalog: Catalog, tmp_path: Path) -> Site:
    return make_site(catalog, tmp_path, roles=("engineer", "auditor"))


@pytest.fixture
def server(site: Site) -> Iterator[str]:
    """uvicorn in a thread on a free 127.0.0.1 port; plain http, so no Secure cookie flag."""
    app = create_app(site.settings, catalog=site.catalog, cookie_secure=False)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _screenshot(page: object, name: str, tmp_path: Path) -> None:
    targets = [SCREENSHOTS, tmp_path]
    if EXTRA_ARTIFACTS:
        targets.append(Path(EXTRA_ARTIFACTS))
    first = targets[0] / name
    first.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(first), full_page=True)  # type: ignore[attr-defined]
    for target in targets[1:]:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(first, target / name)


def _log_in(page: object, base: str, token: str) -> None:
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.fill("#token", token)  # type: ignore[attr-defined]
    page.click("#login-form button[type=submit]")  # type: ignore[attr-defined]


def test_engineer_reviews_a_reconstruction(
    site: Site, server: str, browser: object, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    _log_in(page, server, site.tokens["engineer"])
    expect(page).to_have_url(f"{server}/queue")
    page.click(f'a[href="/clips/{site.clip.clip_id}"]')
    expect(page.locator("h1")).to_contain_text(f"Reconstruction {site.clip.clip_id}")

    stage, badge = page.locator("#stage"), page.locator("#badge")
    # The player opens on the last real frame before the first span.
    expect(stage).to_have_attribute("data-frame", "9")
    expect(stage).to_have_attribute("data-kind", "real")
    # The frame's box is sized before the frame arrives, so the controls below it stay put
    # under the pointer (a click that raced the first frame once landed on empty page).
    reserved = [int(page.locator("#frame").get_attribute(a) or 0) for a in ("width", "height")]
    expect(page.locator("#frame")).to_have_js_property("complete", True)
    assert reserved == page.locator("#frame").evaluate("i => [i.naturalWidth, i.naturalHeight]")
    expect(badge).to_be_hidden()
    expect(page.locator("#timeline .segment.synthetic")).to_have_count(2)

    page.click("#btn-span-next")
    expect(stage).to_have_attribute("data-frame", "10")
    expect(stage).to_have_class("stage synthetic")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("SYNTHETIC")
    expect(page.locator("#frame-label")).to_contain_text("SYNTHETIC")
    expect(page.locator("#sbs-before figcaption")).to_contain_text("REAL frame 9")
    expect(page.locator("#sbs-current figcaption")).to_contain_text("SYNTHETIC frame 10")
    expect(page.locator("#sbs-after figcaption")).to_contain_text("REAL frame 18")
    for _ in range(7):
        page.click("#btn-next")
    expect(stage).to_have_attribute("data-frame", "17")
    expect(badge).to_be_visible()
    page.click("#btn-next")
    expect(stage).to_have_attribute("data-kind", "real")
    expect(badge).to_be_hidden()
    page.click("#btn-span-prev")
    expect(stage).to_have_attribute("data-frame", "10")
    # The decoded frames really arrived (served by clip id, as JPEG).
    page.wait_for_function(
        "() => [...document.querySelectorAll('#stage img, .sbs img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    _screenshot(page, "clip-review.png", tmp_path)

    page.fill("#comment", "press arm motion plausible")
    page.click("#btn-approve")
    expect(page.locator("#review-state")).to_have_text("approved")
    assert not errors, errors  # no CSP violations or script errors

    with site.catalog.session() as session:
        clip = session.get(SyntheticClip, site.clip.clip_id)
        event = session.scalar(select(ProvenanceEvent).order_by(ProvenanceEvent.seq.desc()))
    assert clip.review_state == "approved"
    assert (event.action, event.actor, event.subject_id) == (
        "review",
        "engineer-1",
        site.clip.provenance_id,
    )
    assert json.loads(event.payload)["comment"] == "press arm motion plausible"
    context.close()


def test_auditor_exports_the_window(
    site: Site,
    server: str,
    browser: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import expect

    make_repaired_clip(
        site.catalog, site.settings, tmp_path / "clips", "lathe-02", ranges=((3, 6),)
    )
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)  # type: ignore[attr-defined]
    page = context.new_page()
    _log_in(page, server, site.tokens["auditor"])
    expect(page).to_have_url(f"{server}/audit")
    page.select_option("#camera", WINDOW["camera"])
    page.fill("#from", WINDOW["from"])
    page.fill("#to", WINDOW["to"])
    page.click("#btn-query")
    expect(page.locator("#audit-rows tbody tr")).to_have_count(2)
    expect(page.locator("#audit-summary")).to_contain_text("2 synthetic ranges")
    page.locator("button.verify").first.click()
    expect(page.locator(".verify-result").first).to_have_text(" verified")
    _screenshot(page, "audit.png", tmp_path)

    with page.expect_download() as info:
        page.click("#export-csv")
    exported = Path(info.value.path()).read_text()
    context.close()

    monkeypatch.setenv("GAPFILL_DATA_DIR", str(site.settings.data_dir))
    monkeypatch.setenv("GAPFILL_DATABASE_URL", site.catalog.url)
    app = typer.Typer()
    app.command("audit")(provenance_commands.audit)
    app.command("noop")(lambda: None)
    window = ["--camera", WINDOW["camera"], "--from", WINDOW["from"], "--to", WINDOW["to"]]
    cli = CliRunner().invoke(app, ["audit", *window, "--csv"])
    assert cli.exit_code == 0, cli.output
    assert exported == cli.stdout
    assert exported.count("\n") == 3  # header + the two ranges of press-01
