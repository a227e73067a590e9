# syntax=docker/dockerfile:1
# The test node's stand-in for the chart's bundled PostgreSQL (docker.io/library/postgres:17.6-bookworm):
# the test node has no registry. Same major (Debian trixie's PostgreSQL 17) and the same contract the chart
# relies on: POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD_FILE, PGDATA, pg_isready, port 5432, SIGINT
# for a fast shutdown. It runs as the chart's uid 10001 (named `postgres` here, so initdb knows its user).
# Only for tests: the chart's defaults stay the official image. Built by `ci/images.sh node-postgres`.
ARG TRIXIE_IMAGE=localhost/panel-base:trixie
FROM ${TRIXIE_IMAGE}
ARG PG_MAJOR=17
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# create_main_cluster=false: the package must not initialise a cluster of its own at install time.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-common \
    && sed -ri 's/#?(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}" \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && groupmod --gid 10001 postgres && usermod --uid 10001 --gid 10001 postgres \
    && install -d -o 10001 -g 10001 -m 3777 /var/run/postgresql \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/postgresql/data
COPY --chmod=0755 docker/node-postgres/entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
USER 10001:10001
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["postgres-entrypoint"]
CMD ["postgres"]
