"""Routes about the mock itself: liveness and the OpenAPI document."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from contracts.openapi import openapi_json
from mockserver.routes.common import json_response
from mockserver.world.context import MockContext


async def healthz(request: Request, context: MockContext) -> Response:
    return json_response({"status": "ok", "seed": context.state.seed})


async def openapi(request: Request, context: MockContext) -> Response:
    return Response(openapi_json(), media_type="application/json")
