"""``perf.export``: the exporter runs the performance probe in the background and exports its last result.

The probe sends ``perf.requests`` requests; running it at scrape time would multiply the load by every
Prometheus replica and make the scrape as slow as the probe. So it runs every ``perf.interval_seconds``
on one thread, and each scrape reports the latest result with the time it was taken
(``panel_health_perf_last_run_timestamp_seconds``), as the exporter guidelines advise for slow checks.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from panel_health.checks.base import PREFIX
from panel_health.perf import run_perf
from panel_health.results import CheckResult, Sample
from panel_health.settings import ConfigError, HealthSettings

log = logging.getLogger(__name__)


class PerfPoller:
    def __init__(self, settings: HealthSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._last: tuple[CheckResult, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="perf-probe", daemon=True)

    def start(self) -> PerfPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self._settings.perf.interval_seconds)

    def run_once(self) -> None:
        try:
            result = run_perf(self._settings)
        except ConfigError as exc:  # validated at start; kept so a bug cannot kill the thread silently
            log.error("perf probe misconfigured", extra={"problems": exc.problems})
            return
        except Exception:
            log.exception("perf probe crashed")
            return
        with self._lock:
            self._last = (result, time.time())
        log.info(
            "perf probe",
            extra={"status": result.status.label, "duration_s": round(result.duration_seconds, 3)},
        )

    def latest(self) -> CheckResult | None:
        """The last probe's result with its timestamp sample, or None before the first one finished."""
        with self._lock:
            if self._last is None:
                return None
            result, finished_at = self._last
        timestamp = Sample(
            f"{PREFIX}_perf_last_run_timestamp_seconds",
            "When the last perf probe finished (Unix time).",
            finished_at,
        )
        return replace(result, samples=[*result.samples, timestamp])
