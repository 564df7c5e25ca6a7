"""alinea client: a typed gRPC client and the `alinea` command line."""
