import filecmp
import importlib.util

from conftest import REPO


def test_generated_stubs_are_up_to_date(tmp_path):
    spec = importlib.util.spec_from_file_location("generate", REPO / "proto" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    generate.generate(tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.py*"))
    assert fresh, "protoc produced nothing"
    for relative in fresh:
        committed = REPO / "proto" / relative
        assert committed.is_file(), f"{committed} is missing: run python proto/generate.py"
        assert filecmp.cmp(tmp_path / relative, committed, shallow=False), (
            f"{committed} is stale: run python proto/generate.py"
        )


def test_thin_client_imports_no_server_dependencies():
    import subprocess
    import sys

    code = (
        "import sys, alinea.client.cli, alinea.client.client, alinea.client.formats; "
        "heavy = {'ctranslate2', 'sentencepiece', 'numpy', 'torch'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
