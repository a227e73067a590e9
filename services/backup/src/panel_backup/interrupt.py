"""SIGTERM and SIGINT stop a run cleanly: children stopped, uploads aborted, locks released, scratch
databases dropped, then exit 128 + the signal number (143 for SIGTERM) with one line.

Kubernetes sends SIGTERM at a Job's `activeDeadlineSeconds` and on eviction, then SIGKILL after the
grace period. The first signal terminates the registered child processes (pg_dump, pg_restore) and
raises `Interrupted` in the main thread, so every `finally` and context manager on the way out runs.
Cleanup that must not be cut short runs `shielded()`: a signal arriving inside it is raised when the
shield ends. Later signals are logged and ignored; SIGKILL is the way to stop a cleanup.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from types import FrameType

from .logs import get_logger

log = get_logger("interrupt")

_state_lock = threading.Lock()
_received: int | None = None
_raised = False
_shield_depth = 0
_children: set[subprocess.Popen[bytes]] = set()


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM/SIGINT. A KeyboardInterrupt, so that libraries treat it as a
    user's cancellation (boto3's transfer manager cancels and aborts; psycopg2 cancels the query)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}"


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """For one command: SIGTERM and SIGINT stop it cleanly. The previous handlers come back after it
    (the scheduler runs many commands; tests run the CLI in-process)."""
    global _received, _raised, _shield_depth
    _received, _raised, _shield_depth = None, False, 0
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    for signum in previous:
        signal.signal(signum, _handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def requested() -> int | None:
    """The signal that asked this run to stop, if any."""
    return _received


def _log_later(message: str, signum: int) -> None:
    """Log from a thread: the handler runs between two bytecodes of the main thread, which may be in
    the middle of writing a log line itself (writing from the handler would re-enter that stream)."""
    name = signal.Signals(signum).name
    threading.Thread(target=lambda: log.warning(message, extra={"signal": name}), daemon=True).start()


def _handle(signum: int, frame: FrameType | None) -> None:
    global _received, _raised
    if _received is not None:
        _log_later("already stopping; cleanup continues (SIGKILL stops it)", signum)
        return
    _received = signum
    _log_later("stopping: cleaning up", signum)
    with _state_lock:
        children = list(_children)
    for child in children:
        signal_group(child, signal.SIGTERM)
    if _shield_depth == 0:
        _raised = True
        raise Interrupted(signum)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Run a cleanup to its end; a stop requested meanwhile is raised once the block is done."""
    global _shield_depth, _raised
    _shield_depth += 1
    try:
        yield
    finally:
        _shield_depth -= 1
        if _shield_depth == 0 and _received is not None and not _raised:
            _raised = True
            raise Interrupted(_received)


def register_child(process: subprocess.Popen[bytes]) -> None:
    """Terminate this child (pg_dump, pg_restore) at the first stop signal."""
    with _state_lock:
        _children.add(process)
    if _received is not None:  # the signal came while the child was starting
        signal_group(process, signal.SIGTERM)


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal a child and, when it leads its own process group (`start_new_session=True`), everything
    it started: a wrapper script's pipeline must not keep our end of a pipe open after it is gone."""
    with contextlib.suppress(OSError):
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signum)
            return
    with contextlib.suppress(OSError):
        process.send_signal(signum)


def unregister_child(process: subprocess.Popen[bytes]) -> None:
    with _state_lock:
        _children.discard(process)
