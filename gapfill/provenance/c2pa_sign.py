"""C2PA Content Credentials on every synthetic clip, signed with the site key (c2pa-python).

The manifest of a clip holds
- claim generator `gapfill/<version>`;
- a `c2pa.actions.v2` assertion: `c2pa.created` with digitalSourceType
  compositeWithTrainedAlgorithmicMedia (IPTC: real footage combined with frames a trained model
  made), the model named as the software agent's parameter;
- a `com.gapfill.synthetic` assertion: the ClipProvenance facts (provenance id, camera, synthetic
  frame ranges and times, model name and sha256, input segments with their sha256, parameters,
  seed);
- the hard binding (`c2pa.hash.bmff.v3`) c2pa adds itself: any change to the file's bytes
  makes the manifest read back Invalid.

Signing is offline: no timestamp authority (ta_url unset), no OCSP, no remote manifests. It must
happen after the last remux, because remuxing rewrites the bytes the binding covers.

Reading back trusts exactly the site CA (`trust.user_anchors`), so "Trusted" means "signed by a
certificate this site's CA issued and unchanged since".
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import c2pa

from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.media.probe import sha256_file
from gapfill.provenance.facts import DIGITAL_SOURCE_TYPE, ClipProvenance
from gapfill.provenance.keys import SiteKeys, site_keys

SYNTHETIC_ASSERTION = "com.gapfill.synthetic"
MIME_TYPE = "video/mp4"
# From the installed distribution (one source of truth with pyproject.toml).
GAPFILL_VERSION = version("gapfill")
_OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}


def manifest_definition(provenance: ClipProvenance, title: str) -> dict[str, Any]:
    """The manifest c2pa signs for a clip (c2pa-rs ManifestDefinition JSON)."""
    return {
        "claim_generator_info": [{"name": "gapfill", "version": GAPFILL_VERSION}],
        "title": title,
        "format": MIME_TYPE,
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_SOURCE_TYPE,
                            "softwareAgent": {"name": "gapfill", "version": GAPFILL_VERSION},
                            "description": (
                                "Real recorded footage with missing or damaged spans "
                                f"reconstructed by the model {provenance.model_name}; "
                                "synthetic frames are listed in com.gapfill.synthetic."
                            ),
                            "parameters": {
                                "model": provenance.model_name,
                                "model_sha256": provenance.model_sha256,
                            },
                        }
                    ]
                },
            },
            {"label": SYNTHETIC_ASSERTION, "data": provenance.to_json()},
        ],
    }


class C2paSigner:
    """Signs clips with the site's key (gapfill.repair.output.ClipSigner)."""

    def __init__(self, keys: SiteKeys) -> None:
        self.keys = keys
        self._cert = keys.read_signing_cert()
        self._key = keys.read_signing_key()
        # Used for c2pa's verify-after-sign, so a certificate the site CA does not vouch for is
        # caught when signing, not months later by an auditor.
        self._trust = keys.read_ca_cert().decode()

    @classmethod
    def from_settings(cls, settings: Settings) -> C2paSigner:
        return cls(site_keys(settings))

    def sign_file(self, source: Path, destination: Path, provenance: ClipProvenance) -> None:
        """Write a signed copy of the MP4 `source` to `destination` (not atomic by itself)."""
        context = c2pa.Context.from_dict(
            {
                "verify": _OFFLINE,
                "trust": {"user_anchors": self._trust},
                "builder": {"thumbnail": {"enabled": False}},
            }
        )
        definition = manifest_definition(provenance, title=Path(destination).name)
        try:
            info = c2pa.C2paSignerInfo(
                alg=b"es256", sign_cert=self._cert, private_key=self._key, ta_url=None
            )
            with (
                c2pa.Signer.from_info(info) as signer,
                c2pa.Builder(json.dumps(definition), context=context) as builder,
                open(source, "rb") as src,
                open(destination, "w+b") as dst,
            ):
                builder.sign(signer, MIME_TYPE, src, dst)
                dst.flush()
                os.fsync(dst.fileno())
        except c2pa.C2paError as exc:
            raise UserError(
                f"{self.keys.signing_cert}: C2PA signing of {source} failed: {exc}"
            ) from None
        finally:
            context.close()


def sign_clip(path: str | os.PathLike[str], provenance: ClipProvenance, signer: C2paSigner) -> str:
    """Sign the MP4 at `path` in place, atomically (signed temp copy, fsync, rename).

    Returns the sha256 of the signed file. Use it for a file written unsigned; clips written by
    write_flagged_clip(..., signer=...) are already signed."""
    path = Path(path)
    descriptor, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.signed.", suffix=".part"
    )
    os.close(descriptor)
    temp = Path(temp_name)
    try:
        signer.sign_file(path, temp, provenance)
        os.chmod(temp, path.stat().st_mode & 0o777)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return sha256_file(path)


@dataclass(frozen=True)
class ManifestReading:
    """What a C2PA reader says about a file, with the site CA as the only trust anchor.

    state: "Trusted" (intact, signed by a certificate the CA issued), "Valid" (intact, signer
    not trusted), "Invalid" (changed since signing, or a broken manifest), "Missing" (none).
    """

    path: Path
    state: str
    failures: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None

    @property
    def trusted(self) -> bool:
        return self.state == "Trusted"

    @property
    def synthetic(self) -> dict[str, Any] | None:
        """The com.gapfill.synthetic assertion's data, if present."""
        for assertion in (self.manifest or {}).get("assertions", []):
            if assertion.get("label") == SYNTHETIC_ASSERTION:
                return assertion.get("data")
        return None

    @property
    def digital_source_types(self) -> list[str]:
        types = []
        for assertion in (self.manifest or {}).get("assertions", []):
            if assertion.get("label", "").startswith("c2pa.actions"):
                for action in assertion.get("data", {}).get("actions", []):
                    if "digitalSourceType" in action:
                        types.append(action["digitalSourceType"])
        return types


def read_manifest(path: str | os.PathLike[str], trust_ca: bytes | Path) -> ManifestReading:
    """Read and validate the C2PA manifest of `path`, trusting only `trust_ca` (PEM bytes or a
    PEM file)."""
    path = Path(path)
    anchors = trust_ca.read_bytes() if isinstance(trust_ca, Path) else trust_ca
    context = c2pa.Context.from_dict(
        {"verify": _OFFLINE, "trust": {"user_anchors": anchors.decode()}}
    )
    try:
        with c2pa.Reader(str(path), context=context) as reader:
            state = reader.get_validation_state() or "Invalid"
            results = reader.get_validation_results() or {}
            failures = [
                f"{item.get('code')}: {item.get('explanation', '')}".rstrip(": ")
                for item in results.get("activeManifest", {}).get("failure", [])
            ]
            return ManifestReading(path, state, failures, reader.get_active_manifest())
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "ManifestNotFound" in str(exc):
            return ManifestReading(path, "Missing", ["no C2PA manifest in the file"])
        # A manifest so damaged it cannot be parsed is as bad as a mismatching one.
        return ManifestReading(path, "Invalid", [str(exc)])
    finally:
        context.close()
