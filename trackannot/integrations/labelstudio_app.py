"""HTTP for the Label Studio ML backend: a Starlette app over `LabelStudioBackend`.

Starlette (ASGI, served by uvicorn; the reasons are in `labelstudio_backend`'s docstring). Each
POST body is read as bytes and parsed by `trackannot.corrections.load_json`, which refuses what
Python's json module would accept but JSON is not (NaN, Infinity, nesting too deep, huge
integers); the backend's calls then run in Starlette's thread pool, so a webhook writing the
store never stalls `/health`. Errors become JSON `{"error", "kind"}` with the status of their
kind (`trackannot.errors.http_status`: 404 not found, 409 conflict, 422 invalid input, 500 a
damaged store); a conflict with edits made since the reviewer's revision adds `cells`,
`expected_revision` and `current_revision`. A full or read-only disk is a 500 that says so.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackannot.corrections import load_json
from trackannot.errors import InputFormatError, StaleRevisionError, TrackannotError, http_status
from trackannot.integrations.labelstudio_backend import LabelStudioBackend

__all__ = ["make_app"]

_LOG = logging.getLogger("trackannot.serve")
_MAX_BODY_BYTES = 64 << 20  # a task list or an annotation; far above any real one


def make_app(backend: LabelStudioBackend) -> Starlette:
    """The ASGI app: GET /, /health, /status; POST /setup, /predict, /webhook."""

    def get(call: Callable[[], dict[str, Any]]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> JSONResponse:
            return await _answer(request, lambda _: call(), None)
        return endpoint

    def post(call: Callable[[Any], dict[str, Any]], what: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> JSONResponse:
            return await _answer(request, call, what)
        return endpoint

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(backend.close)  # stop background runs (they resume later)

    routes = [
        Route("/", get(backend.health), methods=["GET"]),
        Route("/health", get(backend.health), methods=["GET"]),
        Route("/status", get(backend.status), methods=["GET"]),
        Route("/setup", post(backend.setup, "setup request"), methods=["POST"]),
        Route("/predict", post(backend.predict, "predict request"), methods=["POST"]),
        Route("/webhook", post(backend.webhook, "webhook"), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _answer(request: Request, call: Callable[[Any], dict[str, Any]],
                  what: str | None) -> JSONResponse:
    try:
        payload = None
        if what is not None:
            body = await request.body()
            if len(body) > _MAX_BODY_BYTES:
                raise InputFormatError(f"{what}: {len(body)} bytes, more than the "
                                       f"{_MAX_BODY_BYTES} accepted")
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as err:
                raise InputFormatError(f"{what}: not UTF-8 ({err})") from err
            payload = load_json(text, what, document=True)
        return JSONResponse(await run_in_threadpool(call, payload))
    except TrackannotError as err:
        status = http_status(err)
        _LOG.log(logging.ERROR if status >= 500 else logging.INFO, "%s %s -> %d: %s",
                 request.method, request.url.path, status, err)
        return JSONResponse(_error(err), status_code=status)
    except OSError as err:  # the disk: full, read-only, gone
        _LOG.error("%s %s -> 500: %s", request.method, request.url.path, err)
        return JSONResponse({"error": f"cannot read or write the store: {err}; committed work "
                             "is kept", "kind": "OSError"}, status_code=500)


def _error(err: TrackannotError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": str(err), "kind": type(err).__name__}
    if isinstance(err, StaleRevisionError):
        body |= {"cells": [{"track": t, "frame": f if f >= 0 else None} for t, f in err.cells],
                 "expected_revision": err.expected, "current_revision": err.current}
    return body
