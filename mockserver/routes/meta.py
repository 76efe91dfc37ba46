"""Routes about the mock itself: liveness and the OpenAPI document."""

from __future__ import annotations

from contracts.openapi import openapi_json
from mockserver.http.request import Request
from mockserver.pipeline.delivery import Delivery, json_value, typed


async def healthz(request: Request) -> Delivery:
    return json_value({"status": "ok", "seed": request.world.state.seed})


async def openapi(request: Request) -> Delivery:
    return typed(openapi_json().encode("utf-8"), "application/json")
