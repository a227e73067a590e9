"""Redis: PING latency, memory used against ``maxmemory``, connected clients."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import redis

from panel_health.checks.base import PREFIX, classify, down, finish, safe_message
from panel_health.results import CheckResult, Observation, Sample, observe
from panel_health.settings import RedisConfig

KIND = "redis"


def connect(url: str, timeout_seconds: float) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry_on_timeout=False,
        health_check_interval=0,
    )


def check_redis(url: str, config: RedisConfig, timeout_seconds: float) -> CheckResult:
    started = time.monotonic()
    secrets = (urlsplit(url).password or "", url)
    client = connect(url, timeout_seconds)
    try:
        ping_started = time.monotonic()
        client.ping()
        latency = time.monotonic() - ping_started
        memory = client.info("memory")
        clients = client.info("clients")
    except (redis.RedisError, OSError) as exc:
        return down(KIND, "", started, classify(exc), safe_message(exc, secrets))
    finally:
        client.close()
    used = float(memory.get("used_memory", 0))
    maximum = float(memory.get("maxmemory", 0))
    connected = float(clients.get("connected_clients", 0))
    samples = [
        Sample(f"{PREFIX}_redis_ping_duration_seconds", "Round trip of PING.", latency),
        Sample(f"{PREFIX}_redis_memory_used_bytes", "Redis used_memory.", used),
        Sample(f"{PREFIX}_redis_memory_max_bytes", "Redis maxmemory (0 means no limit).", maximum),
        Sample(f"{PREFIX}_redis_connected_clients", "Redis connected_clients.", connected),
    ]
    observations = [
        observe(
            "responseTime", latency, "s", config.latency_warning_seconds, config.latency_critical_seconds
        ),
        observe("connectedClients", connected, "clients", config.clients_warning, None),
    ]
    if maximum > 0:
        ratio = used / maximum
        samples.append(Sample(f"{PREFIX}_redis_memory_used_ratio", "used_memory / maxmemory (0-1).", ratio))
        observations.append(
            observe(
                "memoryUsedRatio",
                round(ratio, 4),
                "ratio",
                config.memory_warning_ratio,
                config.memory_critical_ratio,
            )
        )
    else:
        observations.append(Observation("memoryUsedBytes", used, "bytes"))
    return finish(KIND, "", started, observations, samples)
