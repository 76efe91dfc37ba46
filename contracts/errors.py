"""Error bodies, in the shape the real service (FastAPI on pydantic v1) wrote them."""

from pydantic import Field

from contracts.base import JsonInt, WireModel


class ValidationErrorItem(WireModel):
    loc: list[str | JsonInt]
    msg: str
    type: str


class HTTPValidationError(WireModel):
    """The 422 body: `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`."""

    detail: list[ValidationErrorItem] | None = None


class ErrorResponse(WireModel):
    """Every other error (400, 401, 404, 409, 413, ...): `{"detail": "<what went wrong>"}`."""

    detail: str = Field(description="What went wrong, in one sentence a person can act on.")
