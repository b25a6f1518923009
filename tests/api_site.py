"""A small installation for the HTTP API tests: one repaired clip with real files (signed clip,
originals, model), a user with a token per role, and a TestClient over the app. Shared by
test_api.py, test_api_schema.py and test_ui_browser.py (the `site` fixture in conftest.py builds
it with every role)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from test_verify import Repaired, make_repaired_clip, make_settings

from gapfill.api.app import create_app
from gapfill.api.tokens import create_user
from gapfill.catalog.db import Catalog
from gapfill.config import Settings

ROLES = ("viewer", "engineer", "auditor", "admin")
WINDOW = {"camera": "press-01", "from": "2026-01-05T06:00:00Z", "to": "2026-01-05T08:00:00Z"}


@dataclass
class Site:
    catalog: Catalog
    settings: Settings
    clip: Repaired
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def site_settings(catalog: Catalog, tmp_path: Path) -> Settings:
    """Clips are written under tmp_path/clips, which is the configured output directory."""
    keyed = make_settings(catalog, tmp_path)
    return Settings(
        data_dir=keyed.data_dir,
        database_url=catalog.url,
        output_dir=tmp_path / "clips",
        secret_key="test-session-secret",
    )


def make_site(catalog: Catalog, tmp_path: Path, roles: tuple[str, ...] = ROLES) -> Site:
    """One repaired clip (synthetic frames 10-17 and 22-24) and a user `<role>-1` per role."""
    settings = site_settings(catalog, tmp_path)
    clip = make_repaired_clip(catalog, settings, tmp_path / "clips", ranges=((10, 18), (22, 25)))
    tokens = {}
    with catalog.session() as session:
        for role in roles:
            _user, tokens[role] = create_user(session, f"{role}-1", role, "system:test")
    return Site(catalog, settings, clip, tokens)


def client(site: Site, **kwargs: object) -> TestClient:
    # https base URL: the session cookie is Secure by default and the client honours that.
    app = create_app(site.settings, catalog=site.catalog, **kwargs)  # type: ignore[arg-type]
    return TestClient(app, base_url="https://testserver")
