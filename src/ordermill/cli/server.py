"""`ordermill serve`: migrate, then serve the API."""

from __future__ import annotations

import copy
from typing import Annotated, Any

import typer

from ordermill import __version__
from ordermill.cli.common import console, database_errors, settings
from ordermill.migrate import upgrade


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [ORDERMILL_HOST]")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port [ORDERMILL_PORT]")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker processes [ORDERMILL_WORKERS]")
    ] = None,
) -> None:
    """Migrate the database, then serve the storefront (/), the back office (/admin) and
    the API (Swagger UI at /docs)."""
    import uvicorn

    config = settings()
    with database_errors(config.database_url):
        upgrade(config.database_url)
    bind_host = host or config.host
    bind_port = port or config.port
    base = f"http://{bind_host}:{bind_port}"
    console.print(
        f"ordermill {__version__} on {base}\n"
        f"  storefront:  {base}/  (customers sign up and shop there)\n"
        f"  back office: {base}/admin  (staff and admins log in there)\n"
        f"  API docs:    {base}/docs",
        highlight=False,
    )
    uvicorn.run(
        "ordermill.web.app:serve_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers or config.workers,
        log_level=config.log_level,
        log_config=log_config(config.log_level),
        proxy_headers=True,
        forwarded_allow_ips=config.forwarded_allow_ips,
    )


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with ordermill's own loggers (the worker's deliveries, outages)
    on its default handler at the server's level."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["ordermill"] = {
        "handlers": ["default"],
        "level": "DEBUG" if level == "trace" else level.upper(),
        "propagate": False,
    }
    return config
