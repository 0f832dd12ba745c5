# ordermill API image: `docker build -t ordermill .`, then see compose.yaml and
# docs/DEPLOYMENT.md. Configuration comes from ORDERMILL_* environment variables.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ORDERMILL_HOST=0.0.0.0 \
    ORDERMILL_PORT=8000
# Pango: WeasyPrint draws invoices and delivery notes as PDF with it.
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 --user-group ordermill
USER ordermill
WORKDIR /home/ordermill
EXPOSE 8000
# The image has no curl: Python asks /health (which also pings the database).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('ORDERMILL_PORT', '8000'), timeout=4)"]
CMD ["ordermill", "serve"]
