# syntax=docker/dockerfile:1
# panel-backup: streaming, encrypted, verified backups (`panel-backup create database|files|config`, `prune`,
# `drill`, `verify`, `list`, `restore`, `schedule`). Build from the repository root:
#   docker build -f docker/backup.Dockerfile --build-arg PG_MAJOR=16 -t panel-project/backup:pg16 .
# PG_MAJOR selects the PostgreSQL client (pg_dump/pg_restore) and must be the server's major or newer:
# pg_dump refuses to dump a newer server, and panel-backup's preflight says so before dumping.
# Majors come from apt.postgresql.org (PGDG), so any supported major works on this Debian base.
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
RUN uv sync --frozen --no-dev --package panel-backup --no-install-workspace
COPY services/backup/ services/backup/
RUN uv sync --frozen --no-dev --package panel-backup --no-editable

FROM ${PYTHON_IMAGE}
ARG PG_MAJOR=15
# PG_APT_SOURCE=debian takes the client from Debian's own archive instead (bookworm carries only
# postgresql-client-15), for networks that reach a Debian mirror but not apt.postgresql.org.
ARG PG_APT_SOURCE=pgdg
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The PGDG repository carries every supported PostgreSQL major for this Debian release; age and zstd are
# there so an operator can restore by hand with stock tools from inside the pod.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && if [ "${PG_APT_SOURCE}" = pgdg ]; then \
         install -d /usr/share/postgresql-common/pgdg \
         && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
            https://www.postgresql.org/media/keys/ACCC4CF8.asc \
         && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
            > /etc/apt/sources.list.d/pgdg.list \
         && apt-get update; \
       elif [ "${PG_APT_SOURCE}" != debian ]; then \
         echo "PG_APT_SOURCE must be pgdg or debian, not '${PG_APT_SOURCE}'" >&2; exit 2; \
       fi \
    && apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" age zstd \
    && apt-get purge -y curl \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* \
    && "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version
RUN groupadd --system --gid 10001 panel \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin panel
COPY --from=build /opt/venv /opt/venv
# BACKUP_PG_BIN_DIR pins the client to the built major instead of Debian's pg_wrapper guess.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    BACKUP_WORK_DIR=/tmp \
    BACKUP_PG_BIN_DIR=/usr/lib/postgresql/${PG_MAJOR}/bin
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["panel-backup"]
CMD ["--help"]
