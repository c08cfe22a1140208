"""The bare reference of `make bench`: a Starlette app that parses the JSON body and answers 202.

It runs under the same uvicorn settings as `leadrelay serve` (uvloop and httptools from uvicorn[standard],
no access log, warning level), so a ratio against it measures what leadrelay itself costs per lead.

    python bench/bare_app.py PORT
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def accept(request: Request) -> Response:
    await request.json()
    return JSONResponse({"status": "queued"}, status_code=202)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/v1/leads", accept, methods=["POST"]), Route("/health", health)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
