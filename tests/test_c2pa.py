"""Site keys and C2PA Content Credentials: `keys init` makes a chain C2PA validators accept,
signed clips read back Trusted with the site CA, and any changed byte reads back Invalid."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from test_output import FPS, provenance, scene

from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.media.probe import read_metadata
from gapfill.provenance.c2pa_sign import (
    GAPFILL_VERSION,
    SYNTHETIC_ASSERTION,
    C2paSigner,
    read_manifest,
    sign_clip,
)
from gapfill.provenance.facts import DIGITAL_SOURCE_TYPE, METADATA_PREFIX
from gapfill.provenance.keys import certificate_fingerprint, init_keys, site_keys
from gapfill.repair.output import read_cues, write_flagged_clip


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        value = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([value ^ 0x01]))


def test_keys_init_makes_a_c2pa_signing_chain(settings: Settings) -> None:
    keys = init_keys(settings)
    for path in (keys.signing_key, settings.effective_keys_dir / "ca.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.effective_keys_dir.stat().st_mode) == 0o700
    chain = x509.load_pem_x509_certificates(keys.read_signing_cert())
    leaf, ca = chain
    assert leaf.issuer == ca.subject and ca.issuer == ca.subject
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in usages
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert x509.load_pem_x509_certificate(keys.read_ca_cert()) == ca


def test_keys_init_refuses_to_overwrite_without_force(settings: Settings) -> None:
    first = certificate_fingerprint(init_keys(settings).read_signing_cert())
    with pytest.raises(UserError, match=r"already exist.*--force"):
        init_keys(settings)
    assert certificate_fingerprint(site_keys(settings).read_signing_cert()) == first
    second = certificate_fingerprint(init_keys(settings, force=True).read_signing_cert())
    assert second != first


def test_configured_certificate_is_used(settings: Settings, tmp_path: Path) -> None:
    made = init_keys(settings)
    pki = tmp_path / "pki"
    pki.mkdir()
    for name in ("signer.pem", "signer.key", "ca.pem"):
        (pki / name).write_bytes((settings.effective_keys_dir / name).read_bytes())
    configured = Settings(
        data_dir=tmp_path / "elsewhere",
        signing_cert=pki / "signer.pem",
        signing_key=pki / "signer.key",
        ca_cert=pki / "ca.pem",
    )
    keys = site_keys(configured)
    assert keys.configured and keys.signing_cert == pki / "signer.pem"
    with pytest.raises(UserError, match="configured"):
        init_keys(configured)
    written = write_flagged_clip(
        tmp_path / "clip.mp4",
        scene(20),
        FPS,
        provenance([(5, 9)], 20),
        signer=C2paSigner.from_settings(configured),
    )
    assert read_manifest(written.path, made.ca_cert).trusted


def test_missing_keys_are_a_user_error(settings: Settings) -> None:
    with pytest.raises(UserError, match=r"signer\.pem: signing certificate not found"):
        C2paSigner.from_settings(settings)


def test_signed_clip_round_trip(settings: Settings, tmp_path: Path) -> None:
    keys = init_keys(settings)
    prov = provenance([(10, 18), (25, 27)], 40)
    written = write_flagged_clip(
        tmp_path / "clip.mp4", scene(40), FPS, prov, signer=C2paSigner.from_settings(settings)
    )
    assert written.signed
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "work") == ["clip.mp4", "data"]

    reading = read_manifest(written.path, keys.ca_cert)
    assert reading.state == "Trusted", reading.failures
    assert reading.digital_source_types == [DIGITAL_SOURCE_TYPE]
    generator = reading.manifest["claim_generator_info"][0]
    assert (generator["name"], generator["version"]) == ("gapfill", GAPFILL_VERSION)
    facts = reading.synthetic
    assert facts == prov.to_json()
    assert [(r["frame_start"], r["frame_end"]) for r in facts["synthetic_ranges"]] == [
        (10, 18),
        (25, 27),
    ]
    assert facts["inputs"][0]["sha256"] == "cd" * 32
    # Signing kept what the remux wrote.
    assert read_metadata(written.path)[f"{METADATA_PREFIX}provenance_id"] == prov.provenance_id
    assert len(read_cues(written.path)) == 2


@pytest.mark.parametrize("where", [0.5, 0.9])
def test_one_flipped_byte_reads_invalid(settings: Settings, tmp_path: Path, where: float) -> None:
    keys = init_keys(settings)
    written = write_flagged_clip(
        tmp_path / "clip.mp4",
        scene(30),
        FPS,
        provenance([(10, 18)], 30),
        signer=C2paSigner.from_settings(settings),
    )
    flip_byte(written.path, int(written.size_bytes * where))
    reading = read_manifest(written.path, keys.ca_cert)
    assert reading.state == "Invalid"
    assert reading.failures


def test_another_sites_ca_is_not_trusted(settings: Settings, tmp_path: Path) -> None:
    init_keys(settings)
    other = Settings(data_dir=tmp_path / "other-site")
    other_keys = init_keys(other)
    written = write_flagged_clip(
        tmp_path / "clip.mp4",
        scene(20),
        FPS,
        provenance([(5, 9)], 20),
        signer=C2paSigner.from_settings(settings),
    )
    reading = read_manifest(written.path, other_keys.ca_cert)
    assert reading.state == "Valid" and not reading.trusted
    assert any("untrusted" in f for f in reading.failures)


def test_sign_clip_in_place(settings: Settings, tmp_path: Path) -> None:
    keys = init_keys(settings)
    prov = provenance([(5, 9)], 20)
    written = write_flagged_clip(tmp_path / "clip.mp4", scene(20), FPS, prov)
    assert read_manifest(written.path, keys.ca_cert).state == "Missing"
    sha = sign_clip(written.path, prov, C2paSigner.from_settings(settings))
    assert sha != written.sha256
    reading = read_manifest(written.path, keys.ca_cert)
    assert reading.trusted and reading.synthetic["provenance_id"] == prov.provenance_id
    assert any(a["label"] == SYNTHETIC_ASSERTION for a in reading.manifest["assertions"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
