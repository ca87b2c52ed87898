# mailbot as a container: `mailbot run` as a non-root user, data in /data.
# The extraction is compiled by mypyc (setup.py) in a build stage that has a
# C compiler; the image itself holds only the wheel's install.
FROM python:3.11-slim AS build

RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml setup.py README.md config.example.toml ./
COPY mailbot ./mailbot
COPY migrations ./migrations
RUN MAILBOT_MYPYC=1 pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

RUN useradd --system --home-dir /data --uid 10001 mailbot \
    && mkdir -p /data && chown mailbot /data

COPY --from=build /wheels /wheels
# The wheel's name holds its version and platform; "$1[postgresql]" adds the
# PostgreSQL driver (a bracket in a glob would be a character class).
RUN set -- /wheels/mailbot-*.whl \
    && pip install --no-cache-dir "$1[postgresql]" \
    && rm -rf /wheels \
    && mailbot --version

USER mailbot
WORKDIR /data
VOLUME ["/data"]
ENV MAILBOT_CONFIG=/data/mailbot.toml

HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 \
    CMD ["mailbot", "status", "--alive"]

ENTRYPOINT ["mailbot"]
CMD ["run"]
