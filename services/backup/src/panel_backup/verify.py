"""`verify`: the stored object matches its manifest; `--full` also decrypts and decompresses it."""

from __future__ import annotations

import contextlib
import subprocess
import tarfile
import threading
from typing import Any

from .archive import check_stream
from .errors import IntegrityError
from .manifest import Manifest, check_stored_size
from .pipeline import DecodeThread, decode, sha256_of_stream
from .restore import decode_checks, preflight
from .settings import Settings
from .sources.postgres import ProcessReader, find_tool
from .storage import Storage


class _Discard:
    def write(self, data: Any) -> int:
        return len(data)


class _UntilClosed:
    """Feeds a reader that may stop early (`pg_restore --list` needs only the table of contents)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.open = True

    def write(self, data: Any) -> int:
        if self.open:
            try:
                self.sink.write(data)
            except BrokenPipeError:
                self.open = False
        return len(data)


def verify_backup(settings: Settings, storage: Storage, manifest: Manifest, *, full: bool) -> dict[str, Any]:
    size = check_stored_size(storage, manifest)
    result: dict[str, Any] = {"id": manifest.id, "type": manifest.type, "stored_size": size, "full": full}
    if not full:
        with storage.open_read(manifest.artifact_key) as body:
            _, digest = sha256_of_stream(body)
        if digest != manifest.stored_sha256:
            raise IntegrityError(
                f"{manifest.id}: stored SHA-256 {digest} differs from the manifest's; the object is damaged"
            )
        result["stored_sha256"] = "ok"
        result["manifest_seal"] = "not checked (needs the identity: --full)"
        return result
    identities, result["manifest_seal"] = preflight(settings, storage, manifest)
    checks = decode_checks(settings, manifest)
    with storage.open_read(manifest.artifact_key) as body:
        if manifest.artifact_format == "pg_dump-custom":
            pg_restore = find_tool(settings.pg_bin_dir, "pg_restore")
            process = subprocess.Popen(
                [pg_restore, "--list"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            listing = ProcessReader(process, "pg_restore --list")
            assert process.stdin is not None
            entries: list[int] = [0]

            def count() -> None:
                for line in iter(lambda: listing.read(1 << 16), b""):
                    entries[0] += line.count(b"\n")

            errors: list[BaseException] = []

            def run_count() -> None:
                try:
                    count()
                except BaseException as exc:
                    errors.append(exc)

            counter = threading.Thread(target=run_count, daemon=True)
            counter.start()
            try:
                decode(
                    body,
                    _UntilClosed(process.stdin),
                    identities,
                    **checks,
                )
            finally:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
                counter.join()
            if errors:
                raise IntegrityError(f"{manifest.id}: {errors[0]}")
            result["pg_restore_list_lines"] = entries[0]
        elif manifest.artifact_format == "tar":
            # Exactly the checks restore applies to each member (archive.MemberChecks).
            with DecodeThread(
                body,
                identities,
                **checks,
            ) as decoder:
                try:
                    members = check_stream(decoder.pipe)
                except tarfile.TarError as exc:
                    cause = decoder.stop()  # a damaged object or a wrong key explains more than tar can
                    if cause is not None:
                        raise cause from None
                    raise IntegrityError(f"{manifest.id}: not a readable tar archive ({exc})") from None
                decoder.finish()
            result["tar_members"] = members
        else:
            decode(
                body,
                _Discard(),
                identities,
                **checks,
            )
    result["stored_sha256"] = "ok"
    if manifest.plain_sha256:
        result["plain_sha256"] = "ok"
    if manifest.compression.content_checksum:
        result["content_checksum"] = "ok"
    return result
