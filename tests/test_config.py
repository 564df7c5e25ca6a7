from pathlib import Path

import pytest

from alinea.server.config import ServerConfig, parse_args


def test_defaults():
    assert parse_args([], environ={}) == ServerConfig()


def test_flags_beat_environment_and_environment_beats_defaults():
    env = {"ALINEA_PORT": "6000", "ALINEA_THREADS": "3", "ALINEA_MODEL_DIR": "/a:/b", "ALINEA_SHIPPED_MODELS": "false"}
    config = parse_args(["--port", "7000", "--log-level", "debug"], environ=env)
    assert config.port == 7000
    assert config.intra_threads == 3
    assert config.model_dirs == (Path("/a"), Path("/b"))
    assert config.shipped_models is False
    assert config.log_level == "DEBUG"
    assert parse_args(["--model-dir", "/c", "--no-shipped-models"], environ=env).model_dirs == (Path("/c"),)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--beam-size", "40"], {}, "beam size must be between 1 and 16"),
        (["--max-request-chars", "0"], {}, "max-request-chars must be positive"),
        ([], {"ALINEA_PORT": "eighty"}, "ALINEA_PORT='eighty' is not a valid int"),
    ],
)
def test_bad_settings_are_explained(argv, env, message, capsys):
    with pytest.raises(SystemExit) as caught:
        parse_args(argv, environ=env)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err
