# evse charger daemon. Default: simulated hardware (config/sim.toml), no JRE.
#   docker build -t evse .                          # simulation / hardware without CCS
#   docker build -t evse:ccs --build-arg WITH_CCS=1 .   # adds a JRE and the CCS stack (ISO 15118 EXI codec)
#   docker run --rm --network host evse             # simulated station (API on the host's 127.0.0.1:8080)
# Real hardware: CAN (socketcan) and the HomePlug modem live in the host's network namespace, so run with
#   docker run --network host --cap-add NET_RAW --cap-add NET_ADMIN --device /dev/ttyUSB0 \
#     -v /etc/evse:/etc/evse:ro -v evse-state:/var/lib/evse evse
# See docs/deployment.md.
FROM python:3.11-slim

ARG WITH_CCS=0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    EVSE_HEALTH_FILE=/tmp/evse.health

# The JRE only where CCS needs it (the EXI codec of the ISO 15118 stack runs on the JVM).
# hadolint ignore=DL3008
RUN if [ "$WITH_CCS" = "1" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
        && rm -rf /var/lib/apt/lists/*; \
    fi

RUN groupadd --system --gid 10001 evse \
    && useradd --system --uid 10001 --gid evse --groups dialout --home-dir /var/lib/evse --create-home --shell /usr/sbin/nologin evse

WORKDIR /opt/evse
COPY pyproject.toml README.md ./
COPY evse ./evse
COPY bench ./bench
COPY config ./config

# pydantic (the CCS stack's message models) as its pure-Python build: its compiled extension modules cost the
# daemon ~5 MiB more resident memory and were no faster at the V2G messages' validation (docs/deployment.md).
# hadolint ignore=DL3013
RUN extras="hardware" \
    && if [ "$WITH_CCS" = "1" ]; then extras="hardware,ccs"; fi \
    && pip install --no-cache-dir --no-binary pydantic ".[$extras]" \
    && mkdir -p /etc/evse \
    && cp config/sim.toml /etc/evse/evse.toml \
    && cp config/example-hardware.toml /etc/evse/example-hardware.toml

# sim.toml keeps its state in ./var/state: relative to the evse user's home, a volume in production.
WORKDIR /var/lib/evse
USER 10001:10001
VOLUME ["/var/lib/evse"]
EXPOSE 8080

# Healthy while the daemon's control loops are alive: the same rule as the systemd watchdog.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["evse", "health", "--max-age", "30"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["evse"]
CMD ["run", "--config", "/etc/evse/evse.toml"]
