"""Authentication and authorisation: JWT for the API, sessions for the dashboard, OIDC login.

Public interface used by the rest of the panel:
- ``init_app(app)``: registers the auth blueprints and the per-request user loader
  (sets ``flask.g.current_user`` to a ``User`` or ``None``).
- ``require_role(*roles)``: view decorator; 401 problem+json without credentials, 403 with the wrong role.
  ``require_role()`` with no roles means any authenticated user.
- ``current_user()``: the authenticated ``User`` or ``None``.
- ``panel.auth.passwords.hash_password`` / ``verify_password``.
"""
