# backchannel: the Matrix bot of Safespring's standard-support room.
#   docker build -t backchannel .
#   docker run -v $PWD/config:/config:ro -v backchannel-data:/data -p 8080:8080 backchannel
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY commands ./commands
COPY knowledge ./knowledge
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    BACKCHANNEL_BOT__DATA_DIR=/data \
    BACKCHANNEL_WEB__LISTEN=0.0.0.0:8080
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin backchannel \
    && mkdir -p /data /config && chown backchannel /data
COPY --from=build /install /usr/local
USER backchannel
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["backchannel"]
CMD ["run", "--config", "/config/backchannel.toml"]
