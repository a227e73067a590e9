# syntax=docker/dockerfile:1
# panel-loadtest: Locust scenarios for the panel with an SLO verdict as the exit code.
#   master/standalone: panel-loadtest run [--role master --expect-workers N]   (8089 web UI, 5557 workers)
#   worker:            panel-loadtest run --role worker --master-host <master service>
# The locustfile and the scenarios (smoke, load, stress, spike, endurance) ship inside the package;
# mount your own and point LOADTEST_LOCUSTFILE / LOADTEST_SCENARIO at the files to override them.
# Build from the repository root:
#   docker build -f docker/loadtest.Dockerfile -t panel-project/loadtest .
# Runs as uid 10001 and writes only to /tmp (reports go to /tmp/loadtest-reports), so a read-only
# root filesystem works.

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
RUN uv sync --frozen --no-dev --package panel-loadtest --no-install-workspace
COPY libs/service-settings/ libs/service-settings/
COPY loadtest/ loadtest/
RUN uv sync --frozen --no-dev --package panel-loadtest --no-editable

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 panel \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin panel
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOADTEST_REPORT_DIR=/tmp/loadtest-reports
USER 10001:10001
WORKDIR /tmp
EXPOSE 8089 5557
ENTRYPOINT ["panel-loadtest"]
CMD ["run", "--scenario", "smoke"]
