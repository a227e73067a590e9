# syntax=docker/dockerfile:1
# panel: the Flask web app (gunicorn) and its RQ worker, one image for every role:
#   panel web | panel worker | panel migrate | panel wait-for-schema | panel create-admin | panel check-config
# Build from the repository root:
#   docker build -f docker/panel.Dockerfile -t panel-project/panel .
# Runs as uid 10001 with a read-only root filesystem: the only writes go to /tmp
# (Prometheus multiprocess files, gunicorn heartbeats when /dev/shm is absent, uploads unless mounted).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_SYSTEM_CERTS=1
WORKDIR /src
# Workspace metadata first: the dependency layer stays cached while only the source changes.
COPY pyproject.toml uv.lock ./
COPY services/panel/pyproject.toml services/panel/pyproject.toml
COPY services/backup/pyproject.toml services/backup/pyproject.toml
COPY services/healthcheck/pyproject.toml services/healthcheck/pyproject.toml
COPY loadtest/pyproject.toml loadtest/pyproject.toml
COPY libs/service-settings/pyproject.toml libs/service-settings/pyproject.toml
RUN uv sync --frozen --no-dev --package panel --no-install-workspace
COPY libs/service-settings/ libs/service-settings/
COPY services/panel/ services/panel/
RUN uv sync --frozen --no-dev --package panel --no-editable

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 panel \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin panel
COPY --from=build /opt/venv /opt/venv
# Bytecode is compiled at build time; nothing may be written next to the code at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PANEL_ENV=production \
    WEB_BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/panel-metrics \
    UPLOADS_DIR=/tmp/uploads
USER 10001:10001
WORKDIR /tmp
# 8000: the app (WEB_BIND); 9102: Prometheus metrics (METRICS_PORT; the app port answers 404 on /metrics).
EXPOSE 8000 9102
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2).status != 200)"]
ENTRYPOINT ["panel"]
CMD ["web"]
