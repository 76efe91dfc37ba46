"""The baseline: a bare Starlette app answering one constant JSON body, nothing else."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"status": "ok", "data": [{"id": "data_0", "output": "constant"}]}


async def constant(request):  # type: ignore[no-untyped-def]
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/v4/constant", constant, methods=["GET", "POST"])])
