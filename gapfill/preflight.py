"""Checks run before any job is taken, so a start cannot half-work.

A daemon started without signing keys used to queue repairs whose every attempt failed and went
dead ("signing certificate not found"), visible only in its log after the fact. `gapfill daemon`,
`worker` and `repair` now run these checks first and refuse to start, one line per failure naming
the fix; `gapfill doctor` runs them all and shows a table.

Each check answers (ok, problem, fix). They read and load what a repair would (the catalog's
schema revision, the key pair, the checkpoint's weights, the output folder) and change nothing,
except that the output folder is made if missing, as the first repair would make it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy.exc import DBAPIError

from gapfill.config import Settings
from gapfill.errors import UserError

Status = Literal["ok", "failed", "skipped"]
# What a repair needs; the daemon also needs its recordings source.
REPAIR_CHECKS = ("catalog", "keys", "model", "output")
CHECK_NAMES = (*REPAIR_CHECKS, "source")


@dataclass(frozen=True)
class Check:
    """The outcome of one check: what was looked at, the problem if any, and how to fix it."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """The one line a refused start prints for this failure."""
        return f"{self.name}: {self.detail}; fix: {self.fix}"


class PreflightFailed(UserError):
    """One or more checks failed: the CLI prints one `error:` line per failure and exits 1."""

    def __init__(self, failures: Sequence[Check]) -> None:
        self.lines = [check.line() for check in failures]
        super().__init__("\n".join(self.lines))


def _ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def _failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, "failed", detail, fix)


def check_catalog(settings: Settings) -> Check:
    """The catalog is reachable and at the migration head this gapfill was built with."""
    from gapfill.catalog.db import (
        Catalog,
        _sqlite_file,
        current_revision,
        head_revision,
        refuse_newer_schema,
    )

    url = settings.effective_database_url
    path = _sqlite_file(url)
    head = head_revision()
    if path is not None and not path.exists():
        # Connecting would create an empty file: checked first, so a check leaves nothing behind.
        return _failed("catalog", f"{path}: catalog not initialised", "run `gapfill init`")
    with Catalog(url) as catalog:
        where = catalog.display_url
        try:
            current = current_revision(catalog.engine)
        except DBAPIError as exc:
            reason = " ".join(str(exc.orig).split())
            return _failed(
                "catalog",
                f"{where}: cannot connect: {reason}",
                "check database_url and that the database server is running",
            )
    if current is None:
        return _failed("catalog", f"{where}: catalog not initialised", "run `gapfill init`")
    try:
        refuse_newer_schema(where, current)
    except UserError:
        return _failed(
            "catalog",
            f"{where}: schema {current} is newer than this gapfill's {head}",
            "upgrade gapfill (the catalog was left as it is)",
        )
    if current != head:
        return _failed(
            "catalog",
            f"{where}: schema at {current}, this gapfill needs {head}",
            "run `gapfill init` to upgrade it",
        )
    return _ok("catalog", f"{where} at schema {head}")


def check_keys(settings: Settings, now: dt.datetime | None = None) -> Check:
    """The signing certificate, its private key and the CA certificate exist, parse, belong
    together, and the certificate is in its validity period."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from gapfill.provenance.keys import site_keys

    try:
        keys = site_keys(settings)
    except UserError as exc:
        return _failed("keys", str(exc), "set both signing_cert and signing_key, or neither")
    fix_missing = (
        "point signing_cert, signing_key and ca_cert at the site's PEM files"
        if keys.configured
        else "run `gapfill keys init`"
    )
    paths = (
        (keys.signing_cert, "signing certificate"),
        (keys.signing_key, "signing key"),
        (keys.ca_cert, "CA certificate"),
    )
    for path, what in paths:
        if not path.is_file():
            return _failed("keys", f"{path}: {what} not found", fix_missing)
    try:
        chain = x509.load_pem_x509_certificates(keys.signing_cert.read_bytes())
    except (ValueError, OSError) as exc:
        return _failed("keys", f"{keys.signing_cert}: not a PEM certificate ({exc})", fix_missing)
    try:
        x509.load_pem_x509_certificate(keys.ca_cert.read_bytes())
    except (ValueError, OSError) as exc:
        return _failed("keys", f"{keys.ca_cert}: not a PEM certificate ({exc})", fix_missing)
    try:
        key = serialization.load_pem_private_key(keys.signing_key.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        # TypeError: an encrypted key; gapfill signs unattended and has no passphrase to give.
        return _failed(
            "keys", f"{keys.signing_key}: not an unencrypted PEM private key ({exc})", fix_missing
        )
    certificate = chain[0]
    if key.public_key() != certificate.public_key():
        return _failed(
            "keys",
            f"{keys.signing_key}: does not belong to the certificate {keys.signing_cert}",
            "run `gapfill keys rotate`" if not keys.configured else fix_missing,
        )
    now = now or dt.datetime.now(dt.UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        return _failed(
            "keys",
            f"{keys.signing_cert}: valid {certificate.not_valid_before_utc:%Y-%m-%d} to "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}, not now",
            "run `gapfill keys rotate`" if not keys.configured else fix_missing,
        )
    return _ok(
        "keys",
        f"{keys.signing_cert} valid until {certificate.not_valid_after_utc:%Y-%m-%d}",
    )


def check_model(settings: Settings) -> Check:
    """The configured checkpoint loads: configuration, weights that fit it, finite values."""
    from gapfill.checkpoint_registry import configured_checkpoint
    from gapfill.network.checkpoint import load_model

    fix = "set model_path to a MALT checkpoint folder (or unset it for the shipped one)"
    try:
        folder = configured_checkpoint(settings)
        load_model(folder)
    except UserError as exc:
        return _failed("model", str(exc), fix)
    return _ok("model", f"{folder} loads")


def check_output(settings: Settings) -> Check:
    """The output folder exists (made if missing), takes a file, and has min_free_disk_mb free."""
    folder = settings.effective_output_dir
    fix = "set output_dir to a writable folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(prefix=".gapfill-doctor-", dir=folder)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as exc:
        return _failed("output", f"{folder}: not writable: {exc.strerror or exc}", fix)
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < settings.min_free_disk_mb:
        return _failed(
            "output",
            f"{folder}: {free_mb:,.0f} MiB free, min_free_disk_mb is {settings.min_free_disk_mb:,}",
            "free disk space there, or set output_dir to a larger disk",
        )
    return _ok("output", f"{folder} writable, {free_mb:,.0f} MiB free")


def check_source(settings: Settings) -> Check:
    """With recordings_layout frigate-db, Frigate's database opens read-only and has its
    `recordings` table (no row is read). Other layouts have no database to check."""
    if settings.recordings_layout != "frigate-db" or settings.frigate_db is None:
        return _ok("source", f"recordings_layout {settings.recordings_layout}: folders only")
    from gapfill.catalog.frigate_db import check_readable

    try:
        check_readable(settings.frigate_db)
    except UserError as exc:
        return _failed("source", str(exc), "set frigate_db to Frigate's frigate.db")
    return _ok("source", f"{settings.frigate_db} readable")


CHECKS: dict[str, Callable[[Settings], Check]] = {
    "catalog": check_catalog,
    "keys": check_keys,
    "model": check_model,
    "output": check_output,
    "source": check_source,
}


def run_checks(settings: Settings, names: Sequence[str] = CHECK_NAMES) -> list[Check]:
    """Every check named, in order; one not named is reported as skipped. The others still run
    when the catalog fails, so a first start lists everything to fix at once."""
    return [
        CHECKS[name](settings) if name in names else Check(name, "skipped", "not needed here")
        for name in CHECK_NAMES
    ]


def require(settings: Settings, names: Sequence[str] = CHECK_NAMES) -> None:
    """Refuse to start (PreflightFailed, exit 1) unless every named check passes."""
    failures = [c for c in run_checks(settings, names) if c.status == "failed"]
    if failures:
        raise PreflightFailed(failures)
