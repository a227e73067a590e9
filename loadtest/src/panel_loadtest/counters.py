"""Behaviour counters that Locust's request statistics do not keep.

How often the Redis cache answered (``X-Cache: hit``), how often ETag revalidation saved a
body (304), how check jobs ended and how long they took. Workers ship their counts to the
master with each stats report; the master merges them into the JSON summary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Counters:
    counts: Counter[str] = field(default_factory=Counter)
    job_wait_max_s: float = 0.0
    job_wait_sum_s: float = 0.0

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount

    def record_cache_header(self, value: str | None) -> None:
        """Count one response's ``X-Cache`` header (absent headers are counted too)."""
        normalised = (value or "").strip().lower()
        self.add(f"cache_{normalised}" if normalised in ("hit", "miss") else "cache_header_missing")

    def record_job(self, status: str, waited_s: float) -> None:
        self.add(f"jobs_{status}")
        self.job_wait_sum_s += waited_s
        self.job_wait_max_s = max(self.job_wait_max_s, waited_s)

    def drain(self) -> dict[str, object]:
        """The counts so far as plain data (for the worker->master report), then start again at zero."""
        data: dict[str, object] = {
            "counts": dict(self.counts),
            "job_wait_max_s": self.job_wait_max_s,
            "job_wait_sum_s": self.job_wait_sum_s,
        }
        self.counts.clear()
        self.job_wait_max_s = 0.0
        self.job_wait_sum_s = 0.0
        return data

    def merge(self, data: dict[str, object]) -> None:
        counts = data.get("counts", {})
        if isinstance(counts, dict):
            for name, amount in counts.items():
                self.counts[str(name)] += int(amount)
        self.job_wait_sum_s += float(data.get("job_wait_sum_s", 0.0))  # type: ignore[arg-type]
        self.job_wait_max_s = max(self.job_wait_max_s, float(data.get("job_wait_max_s", 0.0)))  # type: ignore[arg-type]

    def summary(self) -> dict[str, object]:
        hits, misses = self.counts["cache_hit"], self.counts["cache_miss"]
        revalidated, full = self.counts["etag_not_modified"], self.counts["etag_full_response"]
        jobs_done = sum(self.counts[f"jobs_{status}"] for status in ("finished", "failed", "timed_out"))
        return {
            "counts": dict(sorted(self.counts.items())),
            "cache_hit_ratio": hits / (hits + misses) if hits + misses else None,
            "etag_not_modified_ratio": revalidated / (revalidated + full) if revalidated + full else None,
            "job_wait_avg_s": self.job_wait_sum_s / jobs_done if jobs_done else None,
            "job_wait_max_s": self.job_wait_max_s,
        }
