# syntax=docker/dockerfile:1
# The CRM image: one image for every process (`crm serve`, `crm projections run`,
# `crm worker`, `crm migrate`); compose.yaml picks the command.
FROM python:3.11-slim

COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /uvx /usr/local/bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PYTHONUNBUFFERED=1

WORKDIR /app

# The locked dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself. It stays an editable install on purpose: the settings
# find `event_store/migrations` beside `src/`, as in a checkout.
COPY README.md ./
COPY event_store ./event_store
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin crm \
    && mkdir -p /app/.crm-data \
    && chown crm /app/.crm-data
USER crm

ENV PATH="/app/.venv/bin:${PATH}" \
    CRM_DATA_DIR=/app/.crm-data \
    CRM_MIGRATIONS_DIR=/app/event_store/migrations

EXPOSE 8000
# `crm` itself is PID 1's program (no shell in between), so it receives SIGTERM.
ENTRYPOINT ["crm"]
CMD ["serve", "--host", "0.0.0.0", "--no-projections"]
