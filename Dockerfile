FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY handlers ./handlers
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system retention && mkdir /app/.state && chown retention /app/.state
USER retention
CMD ["python", "-m", "streams", "worker"]
