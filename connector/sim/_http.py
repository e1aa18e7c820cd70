"""The sandboxes' own HTTP calls to the simulators' control endpoints (`/_sim/...`) and the
simulators' webhook deliveries: httpx's one-shot calls, sharing one TLS context.

Each `httpx.get` / `httpx.post` builds a TLS context of its own, loading the CA certificates
again (a few hundred milliseconds on a loaded machine), even for a plain-HTTP loopback URL; a
test makes hundreds of such calls. Nothing of what a request sends or receives changes.
"""

from __future__ import annotations

from typing import Any

import httpx

from connector.transport import tls_context as _context


def get(url: str, **options: Any) -> httpx.Response:
    return httpx.get(url, verify=_context(), **options)


def post(url: str, **options: Any) -> httpx.Response:
    return httpx.post(url, verify=_context(), **options)


def patch(url: str, **options: Any) -> httpx.Response:
    return httpx.patch(url, verify=_context(), **options)


def delete(url: str, **options: Any) -> httpx.Response:
    return httpx.delete(url, verify=_context(), **options)


__all__ = ["delete", "get", "patch", "post"]
