"""Locust load tests for the panel, with SLO gates and machine-readable reports.

Only the modules ``users``, ``shapes``, ``hooks`` and ``locustfile`` import Locust (which
monkey-patches the process with gevent); everything else is plain Python that the CLI and
the unit tests can import safely.
"""

__version__ = "0.1.0"
