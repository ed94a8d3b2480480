# syntax=docker/dockerfile:1
# LiquiFact API: multi-stage (deps -> runtime), non-root, health-checked on /readyz.
# Build: docker build -t liquifact-backend:latest .
# Check: docker run --rm --entrypoint id liquifact-backend:latest
#        -> uid=1001(appuser) gid=1001(appgroup) groups=1001(appgroup)

# ---- deps: install the package and its locked dependencies into a virtualenv --------------
FROM python:3.11-slim AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
RUN python -m venv /opt/venv
# Every version comes from the committed lock: a missing or out-of-sync lock fails the build.
COPY requirements.lock pyproject.toml README.md ./
COPY liquifact_core ./liquifact_core
COPY liquifact_adapters ./liquifact_adapters
COPY liquifact_http ./liquifact_http
RUN /opt/venv/bin/pip install --constraint requirements.lock . \
    && /opt/venv/bin/pip check

# ---- runtime: only the virtualenv, run as appuser (uid/gid 1001) --------------------------
FROM python:3.11-slim AS runtime
RUN groupadd --gid 1001 appgroup \
    && useradd --uid 1001 --gid appgroup --no-create-home --shell /usr/sbin/nologin appuser
WORKDIR /app
COPY --from=deps /opt/venv /opt/venv
# The embedded store's default file lives in /app/var; mount a volume there to keep it.
RUN mkdir -p /app/var && chown -R appuser:appgroup /app
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3001 \
    LOG_FORMAT=json
USER 1001:1001
EXPOSE 3001
# slim has no curl: probe with the interpreter. urlopen raises on any non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3001') + '/readyz', timeout=4)"]
CMD ["liquifact", "serve"]
