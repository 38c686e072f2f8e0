# syntax=docker/dockerfile:1
#
# One image for every role: the command picks it (`postal web-server`, `postal smtp-server`,
# `postal worker`, `postal scheduler`, or `postal run` for everything in one process).
# See deploy/docker-compose.yml and docs/deployment.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- builder: compile mysqlclient and install the project into a virtualenv -------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libmariadb-dev \
 && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY . .
RUN pip install --upgrade pip setuptools wheel \
 && pip install .

# -- runtime: the virtualenv plus the MariaDB client library, nothing to build with -----------------
FROM ${PYTHON_IMAGE} AS runtime

# A fixed id, so a bind-mounted config directory can be given to it (`chown 1000:1000 config`).
ARG POSTAL_UID=1000
ARG POSTAL_GID=1000

RUN apt-get update \
 && apt-get install -y --no-install-recommends libmariadb3 \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid "${POSTAL_GID}" postal \
 && useradd --no-log-init --uid "${POSTAL_UID}" --gid postal \
        --home-dir /var/lib/postal --shell /usr/sbin/nologin postal \
 && install -d -o postal -g postal -m 0750 /var/lib/postal /config

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    POSTAL_CONFIG_FILE_PATH=/config/postal.yml

# postal.data_dir defaults to ./data: relative to here (only used by the embedded SQLite set-up).
WORKDIR /var/lib/postal
USER postal

# 5000: web server, 25: SMTP server.
EXPOSE 5000 25

ENTRYPOINT ["postal"]
CMD ["run"]
