# syntax=docker/dockerfile:1
# The test node's stand-in for the chart's bundled Redis (docker.io/library/redis:7.4-alpine): the test
# node has no registry. The chart replaces the entrypoint (`sh -c`: printf a config to /tmp, exec
# redis-server) and probes with redis-cli, so this needs a POSIX sh, redis-server and redis-cli, /data,
# and to run as the chart's uid 10001. Debian bookworm's Redis 7.0. Only for tests: the chart's defaults
# stay the official image. Built by `ci/images.sh node-redis`.
ARG PYTHON_IMAGE=localhost/panel-base:bookworm-py311
FROM ${PYTHON_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && install -d -o 10001 -g 10001 -m 0700 /data \
    && redis-server --version
USER 10001:10001
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
