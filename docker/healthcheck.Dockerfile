# syntax=docker/dockerfile:1
# panel-health: the Prometheus health exporter (`panel-health serve`, port 9117: /metrics, /healthz) and the
# one-shot CLI (`panel-health check health|perf|all`). Build from the repository root:
#   docker build -f docker/healthcheck.Dockerfile -t panel-project/healthcheck .
# Runs as uid 10001 and writes nothing outside /tmp, so a read-only root filesystem works.

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
# The workspace's metadata first: the dependency layer stays cached while only source changes.
COPY pyproject.toml uv.lock ./
COPY services/panel/pyproject.toml services/panel/pyproject.toml
COPY services/backup/pyproject.toml services/backup/pyproject.toml
COPY services/healthcheck/pyproject.toml services/healthcheck/pyproject.toml
COPY loadtest/pyproject.toml loadtest/pyproject.toml
COPY libs/service-settings/pyproject.toml libs/service-settings/pyproject.toml
RUN uv sync --frozen --no-dev --package panel-health --no-install-workspace
COPY libs/service-settings/ libs/service-settings/
COPY services/healthcheck/ services/healthcheck/
RUN uv sync --frozen --no-dev --package panel-health --no-editable

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 panel \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin panel
COPY --from=build /opt/venv /opt/venv
# Bytecode is compiled at build time; nothing may be written next to the code at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 10001:10001
WORKDIR /tmp
EXPOSE 9117
# For plain `docker run` of the exporter; Kubernetes uses the chart's probes on /healthz instead.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:9117/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["panel-health"]
CMD ["serve"]
