"""age keys: parsing recipients and identities, key generation, and passphrase mode.

Passphrase mode: pyrage encrypts with a passphrase only in memory, so each backup gets a fresh X25519
identity; the data streams to its public key and the identity itself is stored next to the data,
encrypted with the passphrase (age's scrypt recipient). Stock tools restore it in two steps:
`age -d identity.age > id.txt` (asks for the passphrase), then `age -d -i id.txt data...`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pyrage

from .errors import ConfigError
from .settings import Settings


def fingerprint(recipient: str) -> str:
    """A short, stable, non-secret name for a public key, for manifests and messages."""
    return "sha256:" + hashlib.sha256(recipient.encode()).hexdigest()[:16]


@dataclass
class EncryptionPlan:
    mode: str  # "x25519" or "passphrase"
    recipients: list[pyrage.x25519.Recipient]
    recipient_texts: list[str]
    wrapped_identity: bytes | None = None  # passphrase mode: the per-backup identity, passphrase-encrypted


def parse_recipients(texts: list[str]) -> list[pyrage.x25519.Recipient]:
    recipients, problems = [], []
    for text in texts:
        try:
            recipients.append(pyrage.x25519.Recipient.from_str(text))
        except pyrage.RecipientError:
            shown = text[:12] + "..." if len(text) > 12 else text
            problems.append(
                f"BACKUP_AGE_RECIPIENTS: {shown!r} is not an age X25519 public key (age1...); "
                "`panel-backup keygen` prints one"
            )
    if problems:
        raise ConfigError(problems)
    return recipients


def read_identities(path: Path) -> list[pyrage.x25519.Identity]:
    """Identities from an age key file (as written by `age-keygen` or `panel-backup keygen`)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"BACKUP_AGE_IDENTITY_FILE={path}: cannot read it ({exc.strerror})") from None
    identities = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise ConfigError(
                f"BACKUP_AGE_IDENTITY_FILE={path}: a line is not an AGE-SECRET-KEY-1... identity"
            ) from None
    if not identities:
        raise ConfigError(f"BACKUP_AGE_IDENTITY_FILE={path}: holds no AGE-SECRET-KEY-1... identity")
    return identities


def encryption_plan(settings: Settings) -> EncryptionPlan:
    """How the next backup is encrypted; refuses to run without a key (backups are never stored in clear)."""
    texts = settings.recipients_text()
    if not texts and not settings.age_passphrase and settings.age_identity_file:
        # A host that holds the identity (for example `make up`) can derive the public key from it.
        texts = [str(identity.to_public()) for identity in read_identities(settings.age_identity_file)]
    if texts and settings.age_passphrase:
        raise ConfigError(
            "both BACKUP_AGE_RECIPIENTS and BACKUP_AGE_PASSPHRASE are set; choose public keys or a passphrase"
        )
    if texts:
        return EncryptionPlan("x25519", parse_recipients(texts), texts)
    if settings.age_passphrase:
        identity = pyrage.x25519.Identity.generate()
        wrapped = pyrage.passphrase.encrypt(_identity_file_text(identity).encode(), settings.age_passphrase)
        public = str(identity.to_public())
        return EncryptionPlan("passphrase", [identity.to_public()], [public], wrapped)
    raise ConfigError(
        "no encryption key: set BACKUP_AGE_RECIPIENTS to an age public key, or BACKUP_AGE_IDENTITY_FILE to "
        "an age key file (`panel-backup keygen --output FILE` makes one), or BACKUP_AGE_PASSPHRASE(_FILE)"
    )


def restore_identities(settings: Settings, wrapped_identity: bytes | None) -> list[pyrage.x25519.Identity]:
    """The identities that decrypt a backup: the key file, or the passphrase-wrapped per-backup identity."""
    if wrapped_identity is not None:
        if not settings.age_passphrase:
            raise ConfigError(
                "this backup was made in passphrase mode; "
                "set BACKUP_AGE_PASSPHRASE or BACKUP_AGE_PASSPHRASE_FILE"
            )
        try:
            text = pyrage.passphrase.decrypt(wrapped_identity, settings.age_passphrase).decode()
        except pyrage.DecryptError:
            raise ConfigError(
                "BACKUP_AGE_PASSPHRASE does not decrypt this backup's key; "
                "use the passphrase it was made with"
            ) from None
        return [
            pyrage.x25519.Identity.from_str(line) for line in text.splitlines() if line.startswith("AGE-")
        ]
    if not settings.age_identity_file:
        raise ConfigError(
            "BACKUP_AGE_IDENTITY_FILE is not set; it must point to the age identity (private key) file "
            "that matches the backup's recipients"
        )
    return read_identities(settings.age_identity_file)


def _identity_file_text(identity: pyrage.x25519.Identity) -> str:
    return f"# public key: {identity.to_public()}\n{identity}\n"


def generate_key_file(path: Path, *, overwrite: bool = False) -> str:
    """Write a new identity to `path` (mode 0600) and return its public key."""
    identity = pyrage.x25519.Identity.generate()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"{path} already exists; pass --force to replace it (the old key is then lost)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot create {path} ({exc.strerror})") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(_identity_file_text(identity))
    return str(identity.to_public())


def public_key_of(path: Path) -> str:
    return str(read_identities(path)[0].to_public())
