"""`gapfill keys rotate`: a new signing key and certificate from the existing site CA. Clips signed
before and after both read back Trusted with the unchanged ca.pem, the old certificate and key are
kept under dated names, the chain records the rotation; without ca.key it refuses in one line.
Runs on SQLite and PostgreSQL (the `catalog` fixture)."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select
from test_jobs import cli
from test_verify import make_repaired_clip, make_settings
from typer.testing import CliRunner

from gapfill.catalog.db import Catalog
from gapfill.catalog.event_names import ROTATE_KEY_ACTION, SIGNING_CERT_SUBJECT
from gapfill.catalog.models import ProvenanceEvent
from gapfill.cli import app
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.provenance.c2pa_sign import read_manifest
from gapfill.provenance.keys import certificate_fingerprint, rotate_signing_key, site_keys


@pytest.fixture
def env(catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = make_settings(catalog, tmp_path)  # keys made by `keys init`
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    return settings


def signer_serial(path: Path) -> int:
    return x509.load_pem_x509_certificates(path.read_bytes())[0].serial_number


def test_clips_signed_before_and_after_a_rotation_are_both_trusted(
    catalog: Catalog, env: Settings, tmp_path: Path
) -> None:
    settings = env
    keys = site_keys(settings)
    ca_before = keys.ca_cert.read_bytes()
    old_pem, old_key = keys.signing_cert.read_bytes(), keys.signing_key.read_bytes()
    old_clip = make_repaired_clip(catalog, settings, tmp_path, camera_name="press-01")

    result = CliRunner().invoke(app, ["keys", "rotate", "--json"])
    assert result.exit_code == 0, result.output
    rotated = json.loads(result.stdout)
    new_clip = make_repaired_clip(
        catalog,
        settings,
        tmp_path,
        camera_name="press-02",
        start=dt.datetime(2026, 1, 6, tzinfo=dt.UTC),
    )

    # A new key and certificate, from the same CA; the CA itself untouched.
    assert keys.ca_cert.read_bytes() == ca_before
    assert keys.signing_key.read_bytes() != old_key
    assert rotated["previous_cert_sha256"] == certificate_fingerprint(old_pem)
    assert rotated["signing_cert_sha256"] == certificate_fingerprint(keys.read_signing_cert())
    assert rotated["signing_cert_sha256"] != rotated["previous_cert_sha256"]
    leaf, ca = x509.load_pem_x509_certificates(keys.read_signing_cert())
    assert leaf.issuer == ca.subject and x509.load_pem_x509_certificate(ca_before) == ca
    # The old files are kept, never deleted; the old key stays private.
    kept = sorted(settings.effective_keys_dir.glob("signer-*"))
    assert [p.suffix for p in kept] == [".key", ".pem"]
    assert {p.read_bytes() for p in kept} == {old_pem, old_key}
    old_key_file = next(p for p in kept if p.suffix == ".key")
    assert stat.S_IMODE(old_key_file.stat().st_mode) == 0o600

    # Each clip carries the certificate it was signed with, and both chain to the one CA.
    for clip, serial in ((old_clip, signer_serial(kept[1])), (new_clip, leaf.serial_number)):
        reading = read_manifest(clip.clip_path, ca_before)
        assert reading.trusted, reading.failures
        info = (reading.manifest or {}).get("signature_info", {})
        assert int(info["cert_serial_number"]) == serial
    result = CliRunner().invoke(app, ["verify", "--all"])
    assert result.exit_code == 0, result.output
    assert "2 clips" in result.stdout and "all verified" in result.stdout

    with catalog.session() as session:
        event = session.scalar(
            select(ProvenanceEvent).where(ProvenanceEvent.action == ROTATE_KEY_ACTION)
        )
        assert event is not None
        assert event.subject_type == SIGNING_CERT_SUBJECT
        assert event.subject_id == rotated["signing_cert_sha256"]
        assert json.loads(event.payload)["previous_cert_sha256"] == rotated["previous_cert_sha256"]


def test_rotation_without_the_ca_key_fails_cleanly(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = env
    keys_dir = settings.effective_keys_dir
    (keys_dir / "ca.key").unlink()  # kept offline, as install.md advises
    before = {p.name: p.read_bytes() for p in keys_dir.iterdir()}

    message = cli(capsys, "keys", "rotate", code=1).strip()

    assert len(message.splitlines()) == 1 and "ca.key" in message and "Traceback" not in message
    assert {p.name: p.read_bytes() for p in keys_dir.iterdir()} == before  # nothing touched


def test_rotation_refuses_a_site_pki(env: Settings, tmp_path: Path) -> None:
    keys = site_keys(env)
    configured = Settings(
        data_dir=env.data_dir, signing_cert=keys.signing_cert, signing_key=keys.signing_key
    )
    with pytest.raises(UserError, match="site PKI"):
        rotate_signing_key(configured)
