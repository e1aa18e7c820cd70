"""The web side of `connector serve`: the ASGI app, the webhook signature, the event worker.

`create_app(config)` is what uvicorn serves; `sign` is what the e-shop (or a test) does.
"""

from connector.web._app import MAX_BODY_BYTES, WebSettings, create_app
from connector.web._signature import DEFAULT_TOLERANCE_S, HEADER, SignatureError, sign, verify
from connector.web._worker import BATCH_MAX, EventWorker

__all__ = [
    "BATCH_MAX",
    "DEFAULT_TOLERANCE_S",
    "HEADER",
    "MAX_BODY_BYTES",
    "EventWorker",
    "SignatureError",
    "WebSettings",
    "create_app",
    "sign",
    "verify",
]
