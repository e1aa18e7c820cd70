"""A loopback HTTP proxy that rewrites a peer's answers: the hostile peer of the tests.

It forwards every request to the real simulator and hands each answer's body to
`rewrite(method, path, body) -> body` before it goes back; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.sim._server import RunningServer

Rewrite = Callable[[str, str, bytes], bytes]


def rewriting_proxy(target: str, rewrite: Rewrite) -> RunningServer:
    client = httpx.AsyncClient(base_url=target, timeout=60)

    async def forward(request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        answer = await client.request(
            request.method, request.url.path, params=request.query_params, content=body, headers=headers
        )
        content = rewrite(request.method, request.url.path, answer.content)  # httpx undid any gzip
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        return Response(content, status_code=answer.status_code, headers=kept)

    app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
    return RunningServer(app).start()
