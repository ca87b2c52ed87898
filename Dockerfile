# mailbot as a container: `mailbot run` as a non-root user, data in /data.
FROM python:3.11-slim

RUN useradd --system --home-dir /data --uid 10001 mailbot \
    && mkdir -p /data && chown mailbot /data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY mailbot ./mailbot
COPY migrations ./migrations
RUN pip install --no-cache-dir '.[postgresql]' && rm -rf /src

USER mailbot
WORKDIR /data
VOLUME ["/data"]
ENV MAILBOT_CONFIG=/data/mailbot.toml

HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 \
    CMD ["mailbot", "status"]

ENTRYPOINT ["mailbot"]
CMD ["run"]
