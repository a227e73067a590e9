"""Server reachability checks: probes, the check-all round, and the stored history (``history``)."""
