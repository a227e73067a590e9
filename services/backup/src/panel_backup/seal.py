"""Manifest seals: a change to any fact a manifest records (sizes, checksums, row counts, fingerprints,
recipients, dates) is detected by anyone holding the identity.

At `create`, the SHA-256 of the manifest's canonical JSON (every field but `seal`, sorted keys, no
spaces) is encrypted with age to the backup's own recipients and stored in `seal`. `verify --full`,
`restore` and `drill` decrypt it with the identity they already need and compare it with the manifest
as stored. Editing the manifest without a recipient's key cannot produce a matching seal; since age
encrypts to public keys, someone who knows a recipient's public key *and* can write the store could
forge a whole backup, seal included: the seal makes tampering evident to anyone without the keys
(the store holds only key fingerprints), it is not a signature. Manifests written before seals
existed (format_version 1) are reported as unsealed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

import pyrage

from .errors import IntegrityError
from .manifest import Manifest

CONTEXT = b"panel-backup manifest seal v1\n"


def _digest(document: dict[str, Any]) -> bytes:
    facts = {key: value for key, value in document.items() if key != "seal"}
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return CONTEXT + hashlib.sha256(canonical.encode()).hexdigest().encode()


def seal(manifest: Manifest, recipients: list[pyrage.x25519.Recipient]) -> str:
    """The seal of `manifest` as it will be stored (its `seal` field is ignored)."""
    return base64.b64encode(pyrage.encrypt(_digest(manifest.document()), recipients)).decode()


def check_seal(manifest: Manifest, identities: list[pyrage.x25519.Identity]) -> str:
    """ "ok", or "unsealed (...)" for manifests older than seals; raises IntegrityError on a mismatch."""
    if not manifest.seal:
        if manifest.format_version < 2:
            return "unsealed (written before manifests were sealed)"
        raise IntegrityError(
            f"{manifest.id}: the manifest has no seal; it was changed after the backup was made"
        )
    try:
        opened = pyrage.decrypt(base64.b64decode(manifest.seal, validate=True), identities)
    except (pyrage.DecryptError, binascii.Error, ValueError):
        raise IntegrityError(
            f"{manifest.id}: the manifest's seal does not open with the backup's key; the manifest was "
            "replaced or damaged, do not trust its facts"
        ) from None
    if opened != _digest(manifest.document()):
        raise IntegrityError(
            f"{manifest.id}: the manifest was changed after the backup was made (its seal does not match); "
            "do not trust its facts"
        )
    return "ok"
