"""Notifications when a server changes state (up to down, down to up), by email and by webhook.

- ``state.on_result(session, server, up, ...)`` is called by ``panel.checks.history.record_result``
  for every check result. It counts consecutive failures per server (``server_alert_states``) and
  confirms "down" only after ``NOTIFY_FAILURES_BEFORE_DOWN`` failures in a row (flap suppression);
  "up" follows the first success after a confirmed "down". A confirmed change adds one pending
  ``notification_deliveries`` row per enabled channel (global or for that server) to the caller's
  session; after the caller commits, one RQ job per row delivers it (``delivery.deliver``).
  ``init_app`` binds this to the app's session factory (``state.watch``), so it works wherever
  results are written: requests, RQ jobs, the check engine's database thread.
- ``delivery``: the job (SMTP email, JSON webhook signed with ``NOTIFY_WEBHOOK_SECRET``), retried by
  RQ with backoff; each attempt's outcome is stored on the row (shown in the UI).
- ``channels``: create, enable/disable, delete, test and retry, used by the admin pages.

Imports point one way: ``panel.checks.history`` -> ``state`` -> ``delivery`` -> ``panel.queues`` and
models; nothing here imports ``panel.jobs`` (checks) or the app (tests/panel/test_import_graph.py).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from panel.notifications import state

    state.watch(app.extensions["panel"])
