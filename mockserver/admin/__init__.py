"""`/__admin`: the control service over HTTP (WireMock's prefix), its OpenAPI document and the journal page."""
