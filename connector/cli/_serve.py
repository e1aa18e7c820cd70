"""`connector serve`: the webhook endpoint, the trigger, health, metrics and status, under uvicorn.

SIGTERM stops it gracefully: no new connections, requests in flight answered, the batch in hand recorded.
"""

from __future__ import annotations

import signal

import click
import uvicorn

from connector.cli._main import EXIT_FAILED, AppContext, fail, handle_errors, root
from connector.log import get_logger, uvicorn_log_config
from connector.web import BATCH_MAX, DEFAULT_TOLERANCE_S, MAX_BODY_BYTES, WebSettings, create_app

log = get_logger(__name__)

# Requests in flight get this long after SIGTERM; systemd's TimeoutStopSec is above it.
GRACEFUL_STOP_S = 30
MAX_CONNECTIONS = 256
KEEP_ALIVE_S = 5


@root.command("serve")
@click.option("--host", help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on (default: [web] port, 8080).")
@click.option(
    "--max-body-bytes",
    type=click.IntRange(256, 16 * 1024 * 1024),
    help=f"Largest webhook body accepted (default: [web] max_body_bytes, {MAX_BODY_BYTES}).",
)
@click.option(
    "--tolerance-s",
    type=click.IntRange(1, 3600),
    help="How far a signature's timestamp may be from this clock, either way "
    f"(default: [web] tolerance_s, {DEFAULT_TOLERANCE_S}).",
)
@click.option(
    "--batch-max",
    type=click.IntRange(1, 5000),
    help=f"Most webhook events synced in one targeted run (default: [web] batch_max, {BATCH_MAX}).",
)
@click.pass_obj
@handle_errors
def serve(
    app: AppContext,
    host: str | None,
    port: int | None,
    max_body_bytes: int | None,
    tolerance_s: int | None,
    batch_max: int | None,
) -> None:
    """Take the e-shop's webhooks and sync each customer within seconds.

    Needs CONNECTOR_WEBHOOK_SECRETS (comma-separated: several are active while rotating);
    POST /trigger/sync is off unless CONNECTOR_ADMIN_TOKEN is set.
    """
    config = app.config(
        "pohoda.url", "pohoda.user", "pohoda.ico", "pohoda_password", "eshop.url", "eshop_token", "webhook_secrets"
    )
    if not config.secrets.admin_token:
        log.warning("serve.trigger_disabled", reason="CONNECTOR_ADMIN_TOKEN is not set")
    web = config.web
    host = host or web.host
    port = web.port if port is None else port
    settings = WebSettings(
        max_body_bytes=max_body_bytes or web.max_body_bytes,
        tolerance_s=tolerance_s or web.tolerance_s,
        batch_max=batch_max or web.batch_max,
        body_timeout_s=web.body_timeout_s,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, settings),
            host=host,
            port=port,
            lifespan="on",
            log_config=uvicorn_log_config(),
            log_level=config.log.level.lower(),
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_STOP_S,
            # Connections and tasks at once; past it uvicorn answers 503 (stalled clients
            # are also cut by the body deadline and the keep-alive timeout).
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=KEEP_ALIVE_S,
            server_header=False,
        )
    )
    # uvicorn installs its own SIGTERM/SIGINT handlers: stop accepting, finish requests in
    # flight, then run the lifespan's shutdown (the worker records the batch in hand). Then
    # it restores the handlers it found and raises the signal again. Finding its own
    # handle_exit there (harmless by then), a planned stop ends with exit 0, not a death by
    # signal; and a signal that comes during start-up stops the server as soon as it runs.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, server.handle_exit)
    server.run()
    if not server.started:
        fail(f"could not listen on {host}:{port}", EXIT_FAILED)
    log.info("serve.stopped")
