FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY handlers ./handlers
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system retention && mkdir -p /app/.state /var/lib/retention && chown retention /app/.state /var/lib/retention
USER retention
CMD ["python", "-m", "streams", "worker"]
