"""Generated gRPC stubs for the alinea.v1 API (see translation.proto)."""
