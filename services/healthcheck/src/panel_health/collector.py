"""Turn check results into Prometheus metric families (one fresh collector per scrape)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from panel_health.checks.base import PREFIX
from panel_health.results import CheckResult, Sample


def _families(samples: Iterable[Sample]) -> Iterator[Metric]:
    grouped: dict[str, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.name, []).append(sample)
    for name, items in grouped.items():
        label_names = sorted(items[0].labels)
        family: GaugeMetricFamily | CounterMetricFamily
        if items[0].kind == "counter":
            family = CounterMetricFamily(name, items[0].documentation, labels=label_names)
        else:
            family = GaugeMetricFamily(name, items[0].documentation, labels=label_names)
        for item in items:
            family.add_metric([item.labels.get(label, "") for label in label_names], item.value)
        yield family


def summary_samples(results: list[CheckResult], deadline_seconds: float) -> list[Sample]:
    samples = [
        Sample(
            f"{PREFIX}_scrape_deadline_seconds", "Time budget this scrape gave the checks.", deadline_seconds
        )
    ]
    for result in results:
        labels = {"check": result.check, "target": result.target}
        samples.append(
            Sample(
                f"{PREFIX}_check_duration_seconds",
                "How long the check took.",
                result.duration_seconds,
                labels,
            )
        )
        samples.append(
            Sample(
                f"{PREFIX}_check_status",
                "Verdict against the configured thresholds: 0 pass, 1 warn, 2 fail, 3 unknown.",
                int(result.status),
                labels,
            )
        )
        if not result.up:
            samples.append(
                Sample(
                    f"{PREFIX}_check_down_reason",
                    "1 for a check that is down; the bounded reason label says why (timeout, ...).",
                    1,
                    {**labels, "reason": result.reason},
                )
            )
    return samples


class ResultsCollector(Collector):
    """Exposes one scrape's results; built per scrape because the checks run at scrape time."""

    def __init__(self, results: list[CheckResult], deadline_seconds: float) -> None:
        self._results = results
        self._deadline_seconds = deadline_seconds

    def collect(self) -> Iterator[Metric]:
        samples = [s for r in self._results for s in r.samples]
        samples += summary_samples(self._results, self._deadline_seconds)
        yield from _families(samples)
