"""Security headers on every response (contract C5), built once with the ``secure`` library.

- Content-Security-Policy: scripts, styles, fonts and images from the panel itself only; no inline
  script or style (no 'unsafe-inline', no nonces), no plugins, no <base>, forms post only here, and
  no framing (``frame-ancestors 'none'``, plus ``X-Frame-Options: DENY`` for old browsers).
- X-Content-Type-Options, Referrer-Policy, Permissions-Policy (every powerful feature off),
  Cross-Origin-Opener-Policy and Cross-Origin-Resource-Policy.
- Strict-Transport-Security when the request arrived over HTTPS (directly, or through a trusted TLS
  proxy: see ``panel.proxies``) or PANEL_URL is https.
- ``Cache-Control: no-store`` on HTML pages (they may show what only the signed-in user may see),
  unless the view set its own; the API sets its own (``private, no-cache`` with ETags; ``no-store``
  for tokens).

The header values are computed once per process: a request only copies a prepared list.
"""

from __future__ import annotations

from flask import Flask, Response, request
from secure import (
    ContentSecurityPolicy,
    CrossOriginOpenerPolicy,
    CrossOriginResourcePolicy,
    PermissionsPolicy,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)

HSTS_MAX_AGE_SECONDS = 2 * 365 * 24 * 3600

CSP = (
    ContentSecurityPolicy()
    .default_src("'self'")
    .script_src("'self'")
    .style_src("'self'")
    .img_src("'self'", "data:")
    .font_src("'self'")
    .connect_src("'self'")
    .object_src("'none'")
    .base_uri("'none'")
    .form_action("'self'")
    .frame_ancestors("'none'")
)

_SECURE = Secure(
    csp=CSP,
    xfo=XFrameOptions().deny(),
    xcto=XContentTypeOptions(),
    referrer=ReferrerPolicy().strict_origin_when_cross_origin(),
    permissions=PermissionsPolicy()
    .accelerometer()
    .camera()
    .geolocation()
    .gyroscope()
    .magnetometer()
    .microphone()
    .payment()
    .usb(),
    coop=CrossOriginOpenerPolicy().same_origin(),
    corp=CrossOriginResourcePolicy().same_origin(),
)
HEADERS: tuple[tuple[str, str], ...] = tuple(_SECURE.headers.items())
_HSTS = StrictTransportSecurity().max_age(HSTS_MAX_AGE_SECONDS).include_subdomains()
HSTS: tuple[str, str] = (_HSTS.header_name, _HSTS.header_value)


def init_app(app: Flask, public_url: str) -> None:
    always_https = public_url.startswith("https://")

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        for name, value in HEADERS:
            headers[name] = value
        if always_https or request.is_secure:
            headers[HSTS[0]] = HSTS[1]
        if response.mimetype == "text/html" and "Cache-Control" not in headers:
            headers["Cache-Control"] = "no-store"
        if response.status_code in (204, 304):
            # No body, so no type (Flask would otherwise label an empty 204 as text/html).
            headers.pop("Content-Type", None)
        return response
