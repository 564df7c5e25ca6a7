"""Regenerate the Python stubs from the .proto files.

Run `python proto/generate.py` after editing a .proto; tests/test_proto.py
fails while the committed stubs differ from what this script produces.
The stubs sit next to their .proto so the import path (`alinea.v1`) follows
the proto package, as Google's own client libraries do.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PROTO_FILES = sorted(PROTO_ROOT.glob("alinea/**/*.proto"))


def _include_dirs() -> list[str]:
    """Where protoc finds google/protobuf/* and google/rpc/*."""
    import google.rpc  # googleapis-common-protos ships its .proto sources

    grpc_tools_include = str(resources.files("grpc_tools") / "_proto")
    googleapis = str(Path(google.rpc.__path__[0]).parent.parent)
    return [str(PROTO_ROOT), grpc_tools_include, googleapis]


def generate(out_dir: Path) -> None:
    """Write translation_pb2.py, .pyi and _pb2_grpc.py under out_dir/alinea/v1/."""
    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["protoc", *(f"-I{d}" for d in _include_dirs())]
    args += [f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}"]
    args += [str(p.relative_to(PROTO_ROOT)) for p in PROTO_FILES]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT)
