# syntax=docker/dockerfile:1
# panel-backup: streaming, encrypted, verified backups (`panel-backup create database|files|config`, `prune`,
# `drill`, `verify`, `list`, `restore`, `schedule`). Build from the repository root:
#   docker build -f docker/backup.Dockerfile --build-arg PG_MAJOR=18 -t panel-project/backup:pg18 .
# PG_MAJOR selects the PostgreSQL client (pg_dump/pg_restore/psql) and must be at least the newest server
# major the backups meet: pg_dump refuses to dump a newer server, and panel-backup's preflight says so before
# dumping. The default is the chart's bundled PostgreSQL major (17).
# PG_APT_SOURCE says where the client comes from:
#   pgdg           apt.postgresql.org (default): every supported major for this Debian release
#   debian         this image's own Debian release (bookworm carries only 15)
#   debian-trixie  Debian trixie's own client (17), for networks that reach a Debian mirror but not PGDG.
#                  Its binaries need trixie's C library, so they are copied with every library they load
#                  (glibc's loader included) into /opt/postgresql-client and started through that loader
#                  by small wrappers in /usr/lib/postgresql/17/bin: nothing of the image's own libraries is
#                  replaced, and the rest of the image stays on bookworm's Python 3.11.
# Runs as uid 10001 and writes nothing outside /tmp, so a read-only root filesystem works.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG TRIXIE_IMAGE=debian:trixie-slim
ARG PG_MAJOR=17
ARG PG_APT_SOURCE=pgdg

FROM ${UV_IMAGE} AS uv

# Debian trixie's PostgreSQL client with its whole library closure (empty unless PG_APT_SOURCE=debian-trixie).
FROM ${TRIXIE_IMAGE} AS trixie-client
ARG PG_MAJOR
ARG PG_APT_SOURCE
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN mkdir -p /bundle \
    && if [ "${PG_APT_SOURCE}" = debian-trixie ]; then \
         apt-get update \
         && apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" \
         && mkdir -p /bundle/bin /bundle/lib \
         && for tool in pg_dump pg_restore psql; do cp "/usr/lib/postgresql/${PG_MAJOR}/bin/${tool}" /bundle/bin/; done \
         && ldd /bundle/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' \
            | sort -u | xargs cp -L -t /bundle/lib \
         && /bundle/lib/ld-linux-x86-64.so.2 --library-path /bundle/lib /bundle/bin/pg_dump --version; \
       fi

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
RUN uv sync --frozen --no-dev --package panel-backup --no-install-workspace
COPY libs/service-settings/ libs/service-settings/
COPY services/backup/ services/backup/
RUN uv sync --frozen --no-dev --package panel-backup --no-editable

FROM ${PYTHON_IMAGE}
ARG PG_MAJOR
ARG PG_APT_SOURCE
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY --from=trixie-client /bundle /opt/postgresql-client
# The PGDG repository carries every supported PostgreSQL major for this Debian release; age and zstd are
# there so an operator can restore by hand with stock tools from inside the pod.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && client="postgresql-client-${PG_MAJOR}" \
    && case "${PG_APT_SOURCE}" in \
         pgdg) \
           install -d /usr/share/postgresql-common/pgdg \
           && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
              https://www.postgresql.org/media/keys/ACCC4CF8.asc \
           && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
              > /etc/apt/sources.list.d/pgdg.list \
           && apt-get update ;; \
         debian) ;; \
         debian-trixie) \
           client="" \
           && install -d "/usr/lib/postgresql/${PG_MAJOR}/bin" \
           && for tool in pg_dump pg_restore psql; do \
                printf '#!/bin/sh\n# Debian trixie %s, run with the C library it was built for (see the Dockerfile).\nexec /opt/postgresql-client/lib/ld-linux-x86-64.so.2 --library-path /opt/postgresql-client/lib /opt/postgresql-client/bin/%s "$@"\n' \
                  "${tool}" "${tool}" > "/usr/lib/postgresql/${PG_MAJOR}/bin/${tool}" \
                && chmod 0755 "/usr/lib/postgresql/${PG_MAJOR}/bin/${tool}"; \
              done ;; \
         *) echo "PG_APT_SOURCE must be pgdg, debian or debian-trixie, not '${PG_APT_SOURCE}'" >&2; exit 2 ;; \
       esac \
    && apt-get install -y --no-install-recommends ${client} age zstd \
    && apt-get purge -y curl \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* \
    && "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version | grep -q "PostgreSQL) ${PG_MAJOR}\."
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
