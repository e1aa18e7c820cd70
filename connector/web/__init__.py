"""The web side of `connector serve`: the ASGI app, the webhook signature, the event worker.

`create_app(config)` is what uvicorn serves; `sign` is what the e-shop (or a test) does.
"""

from connector.web._app import MAX_BODY_BYTES, WebSettings, create_app
from connector.web._signature import HEADER, SignatureError, sign, verify
from connector.web._worker import EventWorker

__all__ = ["HEADER", "MAX_BODY_BYTES", "EventWorker", "SignatureError", "WebSettings", "create_app", "sign", "verify"]
