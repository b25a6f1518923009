"""The site's signing keys: a self-signed site CA and a C2PA signing certificate it issued.

A site with its own PKI configures `signing_cert`, `signing_key` and `ca_cert` (PEM files) and
gapfill uses them as they are. A site without one runs `gapfill keys init`, which creates under
`settings.effective_keys_dir`:

    ca.pem       site CA certificate (ECDSA P-256, 10 years): give it to auditors, it is the trust
                 anchor `gapfill verify` and any C2PA reader need to call the clips trusted
    ca.key       site CA private key (0600): only needed to issue a new signing certificate
    signer.pem   signing certificate (ECDSA P-256 / ES256, 2 years) followed by the CA certificate
    signer.key   signing private key (0600)

`gapfill keys rotate` replaces only the signing key and certificate: the new certificate is issued
by the same site CA (ca.key), so clips signed before and after both read back Trusted with the same
ca.pem. The replaced signer.pem and signer.key are kept as signer-<UTC time>.pem / .key.

The signing certificate is shaped the way C2PA validators require of an end-entity certificate:
X.509 v3, not a CA, key usage digitalSignature (critical), extended key usage emailProtection
and documentSigning (C2PA's accepted EKUs), subject and authority key identifiers. A self-signed
end-entity certificate is refused by C2PA validators, hence the two-level chain.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from gapfill.config import Settings
from gapfill.errors import UserError

CA_CERT_NAME = "ca.pem"
CA_KEY_NAME = "ca.key"
SIGNER_CERT_NAME = "signer.pem"
SIGNER_KEY_NAME = "signer.key"
CA_VALIDITY = dt.timedelta(days=3650)
SIGNER_VALIDITY = dt.timedelta(days=730)
# id-kp-documentSigning (RFC 9336), accepted by C2PA next to emailProtection.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")


@dataclass(frozen=True)
class SiteKeys:
    """Where the signing certificate chain, its key and the trust anchor are."""

    signing_cert: Path
    signing_key: Path
    ca_cert: Path
    configured: bool  # True: the site's own PKI from the settings; False: made by `keys init`

    def read_signing_cert(self) -> bytes:
        return _read(self.signing_cert, "signing certificate")

    def read_signing_key(self) -> bytes:
        return _read(self.signing_key, "signing key")

    def read_ca_cert(self) -> bytes:
        return _read(self.ca_cert, "CA certificate")


def site_keys(settings: Settings) -> SiteKeys:
    """The keys this site signs with: the configured ones where set, else those in keys_dir."""
    keys_dir = settings.effective_keys_dir
    configured = settings.signing_cert is not None or settings.signing_key is not None
    if configured and (settings.signing_cert is None or settings.signing_key is None):
        raise UserError("configuration: signing_cert and signing_key must be set together")
    return SiteKeys(
        signing_cert=settings.signing_cert or keys_dir / SIGNER_CERT_NAME,
        signing_key=settings.signing_key or keys_dir / SIGNER_KEY_NAME,
        ca_cert=settings.ca_cert or keys_dir / CA_CERT_NAME,
        configured=configured,
    )


def init_keys(
    settings: Settings, force: bool = False, organization: str = "gapfill site"
) -> SiteKeys:
    """Create the site CA and signing certificate in keys_dir (see the module docstring).

    Refuses to replace existing keys unless `force`, and does nothing when the site's own
    certificate is configured."""
    keys = site_keys(settings)
    if keys.configured:
        raise UserError(
            f"{keys.signing_cert}: a signing certificate is configured (signing_cert); "
            "`keys init` only creates keys for a site without its own PKI"
        )
    keys_dir = settings.effective_keys_dir
    names = (CA_CERT_NAME, CA_KEY_NAME, SIGNER_CERT_NAME, SIGNER_KEY_NAME)
    existing = [keys_dir / n for n in names if (keys_dir / n).exists()]
    if existing and not force:
        raise UserError(
            f"{existing[0]}: signing keys already exist; use --force to replace them "
            "(clips signed with the old keys stay verifiable only with the old ca.pem)"
        )
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, organization, now)
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_cert = _signing_certificate(signer_key, ca_key, ca_cert, organization, now)

    pem = serialization.Encoding.PEM
    # Keys first: a crash between files leaves keys without certificates (init again with
    # --force), never a certificate whose key is missing.
    _write_private(keys_dir / CA_KEY_NAME, _key_pem(ca_key))
    _write_private(keys_dir / SIGNER_KEY_NAME, _key_pem(signer_key))
    _write_public(
        keys_dir / SIGNER_CERT_NAME, signer_cert.public_bytes(pem) + ca_cert.public_bytes(pem)
    )
    _write_public(keys_dir / CA_CERT_NAME, ca_cert.public_bytes(pem))
    return keys


@dataclass(frozen=True)
class Rotation:
    """What `rotate_signing_key` did."""

    keys: SiteKeys
    old_fingerprint: str | None  # None when there was no signing certificate to replace
    new_fingerprint: str
    ca_fingerprint: str
    not_after: dt.datetime
    kept: tuple[Path, ...]  # the replaced files, under their dated names


def rotate_signing_key(settings: Settings, now: dt.datetime | None = None) -> Rotation:
    """A new signing key and certificate issued by the existing site CA (module docstring).

    Refuses without ca.key (it cannot issue), with a site PKI configured (its CA is not ours to
    use), and with a CA that has expired. The old signer files are hard-linked to their dated
    names before the new ones replace them, so nothing is ever deleted. Order as in init_keys:
    key first; a crash before the certificate is written leaves a key that does not match it,
    and running `keys rotate` again repairs that."""
    keys = site_keys(settings)
    if keys.configured:
        raise UserError(
            f"{keys.signing_cert}: a signing certificate is configured (signing_cert); have the "
            "site PKI issue the new one, `keys rotate` only renews keys made by `keys init`"
        )
    keys_dir = settings.effective_keys_dir
    ca_key_path, ca_cert_path = keys_dir / CA_KEY_NAME, keys_dir / CA_CERT_NAME
    if not ca_key_path.exists():
        raise UserError(
            f"{ca_key_path}: no site CA key to issue a new signing certificate with; put the "
            "ca.key kept offline there, or make new keys with `gapfill keys init --force`"
        )
    ca_key = _load_ca_key(ca_key_path)
    ca_cert = _ca_of(ca_key, ca_cert_path)
    now = now or dt.datetime.now(dt.UTC)
    if ca_cert.not_valid_after_utc <= now + dt.timedelta(days=1):
        raise UserError(
            f"{ca_cert_path}: the site CA expires {ca_cert.not_valid_after_utc:%Y-%m-%d}; make "
            "new keys with `gapfill keys init --force` (old clips then need the old ca.pem)"
        )
    organizations = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    organization = str(organizations[0].value) if organizations else "gapfill site"

    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_cert = _signing_certificate(signer_key, ca_key, ca_cert, organization, now)
    old_fingerprint = (
        certificate_fingerprint(keys.signing_cert.read_bytes())
        if keys.signing_cert.exists()
        else None
    )
    kept = _keep_dated(keys_dir, (SIGNER_KEY_NAME, SIGNER_CERT_NAME), now)
    pem = serialization.Encoding.PEM
    _write_private(keys_dir / SIGNER_KEY_NAME, _key_pem(signer_key))
    _write_public(
        keys_dir / SIGNER_CERT_NAME, signer_cert.public_bytes(pem) + ca_cert.public_bytes(pem)
    )
    return Rotation(
        keys=keys,
        old_fingerprint=old_fingerprint,
        new_fingerprint=signer_cert.fingerprint(hashes.SHA256()).hex(),
        ca_fingerprint=ca_cert.fingerprint(hashes.SHA256()).hex(),
        not_after=signer_cert.not_valid_after_utc,
        kept=kept,
    )


def _load_ca_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the CA key: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:  # not PEM, or protected by a passphrase
        raise UserError(f"{path}: not a usable CA key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UserError(f"{path}: not an ECDSA key, so not one `keys init` made")
    return key


def _ca_of(ca_key: ec.EllipticCurvePrivateKey, path: Path) -> x509.Certificate:
    """The certificate of `ca_key` in `path` (which may be a bundle of several CAs)."""
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise UserError(f"{path}: cannot read the CA certificate: {exc.strerror}") from None
    except ValueError as exc:
        raise UserError(f"{path}: not a PEM certificate: {exc}") from None
    wanted = ca_key.public_key().public_numbers()
    for certificate in certificates:
        public = certificate.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey) and public.public_numbers() == wanted:
            return certificate
    raise UserError(f"{path}: no certificate in it belongs to {path.parent / CA_KEY_NAME}")


def _keep_dated(keys_dir: Path, names: tuple[str, ...], now: dt.datetime) -> tuple[Path, ...]:
    """Hard-link each existing file to `<stem>-<UTC time><suffix>`; the original stays in place
    until it is replaced, so a crash in between loses nothing."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = []
    for name in names:
        current = keys_dir / name
        if not current.exists():
            continue
        dated = current.with_name(f"{current.stem}-{stamp}{current.suffix}")
        if dated.exists():
            raise UserError(f"{dated}: already exists (rotated a moment ago?); try again")
        try:
            os.link(current, dated)
        except OSError:  # a file system without hard links: a copy, with the same mode
            _atomic_write(dated, current.read_bytes(), current.stat().st_mode & 0o777)
        kept.append(dated)
    return tuple(kept)


def certificate_fingerprint(pem: bytes) -> str:
    """SHA-256 of the first certificate in a PEM bundle (hex), for logs and provenance."""
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()


def _name(organization: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey, organization: str, now: dt.datetime
) -> x509.Certificate:
    subject = _name(organization, f"{organization} gapfill CA")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A little slack for clocks that are behind.
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _signing_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    organization: str,
    now: dt.datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(organization, f"{organization} gapfill signer"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + SIGNER_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signing=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    _atomic_write(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    _atomic_write(path, data, 0o644)


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    # mkstemp creates the file 0600, so a private key is never readable by others, not even
    # for a moment.
    descriptor, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(
            f"{path}: {what} not found; run `gapfill keys init` or configure one"
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the {what}: {exc.strerror}") from None
