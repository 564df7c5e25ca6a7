"""alinea client: a typed gRPC client and the `alinea` command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alinea")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
