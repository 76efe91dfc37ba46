"""Shared building blocks for the wire models: strictness and JSON Schema's idea of an integer."""

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _integral_float_to_int(value: Any) -> Any:
    """JSON Schema calls 158.0 an integer; strict pydantic would not, so convert it first."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# An integer as JSON Schema means it: 3 and 3.0 pass, "3" and true do not.
JsonInt = Annotated[int, BeforeValidator(_integral_float_to_int)]


def bounded_int(*, ge: int, le: int) -> Any:
    """A JsonInt within [ge, le]. The bounds must precede the validator, or the schema gets raw keys."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_integral_float_to_int)]

# Free-form JSON objects (inputs, metadata, provider payloads).
JsonObject = dict[str, Any]


class WireModel(BaseModel):
    """Base of every wire model.

    Strict, so that what the schema forbids is refused (no "5" for an integer, no 1 for a boolean);
    unknown keys are ignored, as the real service (FastAPI on pydantic v1) did, unless a model
    says otherwise; NaN and infinities are refused because JSON has no such numbers.
    """

    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


class ClosedWireModel(WireModel):
    """A wire model whose upstream schema says `additionalProperties: false`."""

    model_config = ConfigDict(extra="forbid")
