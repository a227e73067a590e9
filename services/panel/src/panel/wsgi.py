"""WSGI entry point for gunicorn: ``panel.wsgi:app`` (``panel web`` runs it for you)."""

from panel.app import create_app

app = create_app()
