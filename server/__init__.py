"""alinea server: the translation pipeline, the model registry and the gRPC service."""
