"""Alembic migration scripts (applied by ``panel migrate``, never by the web process)."""
