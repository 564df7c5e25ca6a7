"""TLS, mutual TLS and bearer tokens, against real alinea-server processes.

Certificates are throwaway ones made with the `openssl` command line: a test
CA, a server certificate for localhost and 127.0.0.1, a client certificate,
and a second CA with its own client certificate that the server must refuse.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from alinea.client.cli import main as cli_main
from alinea.client.client import CredentialsError, Options, TranslationClient
from alinea.server.auth import INVALID_TOKEN, MISSING_TOKEN, Security, TokenAuthInterceptor, load_tokens
from alinea.server.config import ServerConfig, parse_args
from alinea.server.main import _log_security
from alinea.server.main import main as server_main
from conftest import start_server

FILE_TOKEN = "file-" + secrets.token_hex(16)
SECOND_FILE_TOKEN = "second-" + secrets.token_hex(16)
ENV_TOKEN = "env-" + secrets.token_hex(16)
WRONG_TOKEN = "wrong-" + secrets.token_hex(16)
ALL_TOKENS = (FILE_TOKEN, SECOND_FILE_TOKEN, ENV_TOKEN, WRONG_TOKEN)
ONE = Options(beam_size=1, word_alignment=False)


# --- certificates and tokens ---------------------------------------------------


@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca: Path
    rogue_client_cert: Path
    rogue_client_key: Path
    other_key: Path
    encrypted_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _key(directory: Path, name: str) -> Path:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name, cwd=directory)
    return directory / name


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    key = _key(directory, f"{name}.key")
    _openssl("req", "-x509", "-new", "-key", key.name, "-subj", f"/CN={name}", "-days", "2", "-out", f"{name}.pem",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=directory)
    return directory / f"{name}.pem", key


def _leaf(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    key = _key(directory, f"{name}.key")
    (directory / f"{name}.ext").write_text(extensions)
    _openssl("req", "-new", "-key", key.name, "-subj", f"/CN={name}", "-out", f"{name}.csr", cwd=directory)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", ca[0].name, "-CAkey", ca[1].name,
             "-set_serial", str(secrets.randbits(63)), "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
             cwd=directory)
    return directory / f"{name}.pem", key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line is needed to make test certificates")
    d = tmp_path_factory.mktemp("certs")
    ca = _ca(d, "alinea-test-ca")
    rogue = _ca(d, "rogue-ca")
    usage = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    server = _leaf(d, "localhost", ca, usage + "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    client = _leaf(d, "client", ca, usage + "extendedKeyUsage=clientAuth\n")
    rogue_client = _leaf(d, "rogue-client", rogue, usage + "extendedKeyUsage=clientAuth\n")
    _openssl("ec", "-in", "localhost.key", "-aes256", "-passout", "pass:secret", "-out", "encrypted.key", cwd=d)
    return Certs(ca[0], *server, *client, rogue[0], *rogue_client, _key(d, "other.key"), d / "encrypted.key")


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "tokens"
    path.write_text(f"# alinea tokens\n\n  {FILE_TOKEN}  \n# {WRONG_TOKEN} revoked\n\n{SECOND_FILE_TOKEN}\n")
    path.chmod(0o600)
    return path


def _start(tiny_model_dir: Path, log: Path, *flags: str, env_tokens: str = ""):
    with pytest.MonkeyPatch.context() as mp:  # start_server passes os.environ to the server
        mp.setenv("ALINEA_AUTH_TOKENS", env_tokens)
        return start_server(tiny_model_dir, log, *flags)


@pytest.fixture(scope="module")
def auth_server(tiny_model_dir, token_file, tmp_path_factory):
    running = _start(tiny_model_dir, tmp_path_factory.mktemp("auth") / "server.log",
                     "--auth-token-file", str(token_file), "--log-level", "DEBUG", env_tokens=f" {ENV_TOKEN} ,")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tls_server(tiny_model_dir, certs, tmp_path_factory):
    running = _start(tiny_model_dir, tmp_path_factory.mktemp("tls") / "server.log",
                     "--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key), env_tokens=ENV_TOKEN)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def mtls_server(tiny_model_dir, certs, tmp_path_factory):
    running = _start(tiny_model_dir, tmp_path_factory.mktemp("mtls") / "server.log",
                     "--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key),
                     "--tls-client-ca", str(certs.ca))
    yield running
    running.stop()


def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details()


def _every_rpc(client: TranslationClient):
    """One call of each shape: unary, server stream, bidirectional stream, and ListModels."""
    return {
        "TranslateDocument": lambda: client.translate("Bonjour.", options=ONE),
        "StreamTranslateDocument": lambda: list(client.stream("Bonjour.", options=ONE)),
        "TranslateDocuments": lambda: list(client.translate_many([client.request("Bonjour.", options=ONE)])),
        "ListModels": client.list_models,
    }


# --- tokens ----------------------------------------------------------------------


def test_missing_token_is_unauthenticated(auth_server):
    with TranslationClient(auth_server.address, timeout=30) as client:
        for name, call in _every_rpc(client).items():
            assert _code(call) == (grpc.StatusCode.UNAUTHENTICATED, MISSING_TOKEN), name


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", FILE_TOKEN])
def test_malformed_authorization_is_missing_token(auth_server, value):
    with grpc.insecure_channel(auth_server.address) as channel:
        client = TranslationClient(channel=channel, timeout=30)
        client._metadata = (("authorization", value),)
        assert _code(client.list_models) == (grpc.StatusCode.UNAUTHENTICATED, MISSING_TOKEN)


def test_wrong_token_is_unauthenticated_and_not_echoed(auth_server):
    with TranslationClient(auth_server.address, timeout=30, token=WRONG_TOKEN) as client:
        for name, call in _every_rpc(client).items():
            code, details = _code(call)
            assert (code, details) == (grpc.StatusCode.UNAUTHENTICATED, INVALID_TOKEN), name
            assert WRONG_TOKEN not in details


@pytest.mark.parametrize("token", [FILE_TOKEN, SECOND_FILE_TOKEN, ENV_TOKEN], ids=["file", "file-line-2", "env"])
def test_right_token_is_served(auth_server, token):
    with TranslationClient(auth_server.address, timeout=60, token=token) as client:
        assert [m.name for m in client.list_models()] == ["tiny-random-fr-en"]
        assert client.translate("Bonjour.", options=ONE).segments
        assert [s.index for s in client.stream("Bonjour. Merci.", options=ONE)] == [0, 1]
        assert list(client.translate_many([client.request("Bonjour.", options=ONE)]))[0].segments


def test_bearer_scheme_is_case_insensitive(auth_server):
    with grpc.insecure_channel(auth_server.address) as channel:
        client = TranslationClient(channel=channel, timeout=30)
        client._metadata = (("authorization", f"bearer {FILE_TOKEN}"),)
        assert client.list_models()


def test_health_needs_no_token(auth_server):
    with grpc.insecure_channel(auth_server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "alinea.v1.Translation"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_needs_a_token(auth_server):
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    with grpc.insecure_channel(auth_server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.ServerReflectionInfo(iter([request]), timeout=10))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        replies = list(stub.ServerReflectionInfo(iter([request]), timeout=10,
                                                 metadata=[("authorization", f"Bearer {ENV_TOKEN}")]))
    assert "alinea.v1.Translation" in {s.name for s in replies[0].list_services_response.service}


def test_cli_sends_the_token_from_the_environment(auth_server, monkeypatch, capsys):
    assert cli_main(["models", "--server", auth_server.address]) == 1
    assert f"UNAUTHENTICATED: {MISSING_TOKEN}" in capsys.readouterr().err
    monkeypatch.setenv("ALINEA_TOKEN", ENV_TOKEN)
    assert cli_main(["models", "--server", auth_server.address]) == 0
    assert "tiny-random-fr-en" in capsys.readouterr().out
    assert cli_main(["models", "--server", auth_server.address, "--token", WRONG_TOKEN]) == 1
    err = capsys.readouterr().err
    assert f"UNAUTHENTICATED: {INVALID_TOKEN}" in err and WRONG_TOKEN not in err


def test_server_log_never_contains_a_token(auth_server):
    with TranslationClient(auth_server.address, timeout=30, token=WRONG_TOKEN) as client:
        _code(client.list_models)
    with TranslationClient(auth_server.address, timeout=30, token=FILE_TOKEN) as client:
        client.list_models()
    log = auth_server.log.read_text()
    assert "refused /alinea.v1.Translation/ListModels" in log  # refusals are logged...
    assert "bearer tokens (3 accepted)" in log
    for token in ALL_TOKENS:  # ...without any token, right or wrong, even at DEBUG
        assert token not in log
    assert "clear text" not in log  # loopback: no warning


def test_tokens_stay_out_of_config_repr_and_flags(capsys):
    config = parse_args([], environ={"ALINEA_AUTH_TOKENS": f"{ENV_TOKEN},{FILE_TOKEN}"})
    assert config.auth_tokens == f"{ENV_TOKEN},{FILE_TOKEN}"
    assert ENV_TOKEN not in repr(config) and ENV_TOKEN not in str(config)
    assert ENV_TOKEN not in repr(Security(tokens=(ENV_TOKEN,)))
    with pytest.raises(SystemExit):  # only in the environment: a command line is visible in `ps`
        parse_args(["--auth-tokens", ENV_TOKEN], environ={})
    err = capsys.readouterr().err
    assert "--auth-tokens is not a flag, set ALINEA_AUTH_TOKENS instead" in err and ENV_TOKEN not in err


def test_token_file_parsing(token_file, tmp_path):
    assert load_tokens(str(token_file), f"{ENV_TOKEN}, ,{FILE_TOKEN}") == (FILE_TOKEN, SECOND_FILE_TOKEN, ENV_TOKEN)
    assert load_tokens() == ()
    interceptor = TokenAuthInterceptor(load_tokens(str(token_file)))
    assert interceptor.check([("authorization", f"Bearer {SECOND_FILE_TOKEN}")]) is None
    assert interceptor.check([("authorization", f"Bearer {WRONG_TOKEN}")]) == INVALID_TOKEN  # commented out
    assert interceptor.check([("authorization", f"Bearer {FILE_TOKEN}")] * 2) == INVALID_TOKEN  # ambiguous
    assert interceptor.check([]) == MISSING_TOKEN


def test_auth_without_tls_warns_unless_loopback(caplog):
    with caplog.at_level(logging.INFO, logger="alinea.server"):
        for host in ("127.0.0.1", "localhost", "::1"):
            _log_security(ServerConfig(host=host), Security(tokens=(ENV_TOKEN,)))
        assert "clear text" not in caplog.text
        _log_security(ServerConfig(host="0.0.0.0"), Security(tokens=(ENV_TOKEN,)))
        assert "token authentication without TLS on 0.0.0.0" in caplog.text
    assert ENV_TOKEN not in caplog.text


# --- TLS -------------------------------------------------------------------------


def test_plaintext_client_cannot_talk_to_tls_server(tls_server):
    with TranslationClient(tls_server.address, timeout=10, token=ENV_TOKEN) as client:
        assert _code(client.list_models)[0] == grpc.StatusCode.UNAVAILABLE


def test_tls_client_with_the_right_ca(tls_server, certs):
    with TranslationClient(tls_server.address, timeout=60, tls_ca=certs.ca, token=ENV_TOKEN) as client:
        assert client.list_models()
        assert client.translate("Bonjour.", options=ONE).segments
    with TranslationClient(tls_server.address, timeout=10, tls_ca=certs.ca) as client:  # TLS is not a token
        assert _code(client.list_models) == (grpc.StatusCode.UNAUTHENTICATED, MISSING_TOKEN)
    with TranslationClient(f"localhost:{tls_server.address.rsplit(':', 1)[1]}", timeout=60, tls_ca=certs.ca,
                           token=ENV_TOKEN) as client:  # the DNS name in the certificate
        assert client.list_models()


def test_tls_client_refuses_a_server_it_does_not_trust(tls_server, certs):
    with TranslationClient(tls_server.address, timeout=10, tls_ca=certs.rogue_ca, token=ENV_TOKEN) as client:
        assert _code(client.list_models)[0] == grpc.StatusCode.UNAVAILABLE


def test_cli_over_tls(tls_server, certs, monkeypatch, capsys):
    monkeypatch.setenv("ALINEA_TOKEN", ENV_TOKEN)
    assert cli_main(["models", "--server", tls_server.address, "--tls-ca", str(certs.ca)]) == 0
    assert "tiny-random-fr-en" in capsys.readouterr().out
    assert cli_main(["models", "--server", tls_server.address, "--tls-ca", str(certs.ca / "missing")]) == 2
    assert "--tls-ca" in capsys.readouterr().err
    assert cli_main(["models", "--server", tls_server.address, "--tls-ca", str(certs.ca),
                     "--tls-cert", str(certs.client_cert)]) == 2
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err


def test_mutual_tls_refuses_clients_without_a_trusted_certificate(mtls_server, certs):
    with TranslationClient(mtls_server.address, timeout=10, tls_ca=certs.ca) as client:
        assert _code(client.list_models)[0] == grpc.StatusCode.UNAVAILABLE
    with TranslationClient(mtls_server.address, timeout=10, tls_ca=certs.ca, tls_cert=certs.rogue_client_cert,
                           tls_key=certs.rogue_client_key) as client:
        assert _code(client.list_models)[0] == grpc.StatusCode.UNAVAILABLE
    with TranslationClient(mtls_server.address, timeout=10) as client:
        assert _code(client.list_models)[0] == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_accepts_a_client_certificate(mtls_server, certs):
    with TranslationClient(mtls_server.address, timeout=60, tls_ca=certs.ca, tls_cert=certs.client_cert,
                           tls_key=certs.client_key) as client:
        assert client.list_models()  # no tokens configured: the certificate is the credential
        assert client.translate("Bonjour.", options=ONE).segments
    assert "serving mutual TLS, no authentication" in mtls_server.log.read_text()


def test_client_rejects_unusable_credentials(certs, tmp_path):
    (tmp_path / "empty.pem").write_text("")
    with pytest.raises(CredentialsError, match="not a PEM file"):
        TranslationClient("localhost:1", tls_ca=tmp_path / "empty.pem")
    with pytest.raises(CredentialsError, match="cannot read"):
        TranslationClient("localhost:1", tls_ca=tmp_path / "missing.pem")
    with pytest.raises(CredentialsError, match="printable ASCII") as caught:
        TranslationClient("localhost:1", token="two words")
    assert "two words" not in str(caught.value)


# --- start-up errors ---------------------------------------------------------------


def _cases(certs: Certs, tmp: Path) -> list[tuple[list[str], dict[str, str], str]]:
    (tmp / "empty-tokens").write_text("# nothing yet\n\n")
    (tmp / "spaced-tokens").write_text("two words\n")
    (tmp / "garbage.pem").write_text("not a certificate\n")
    cert, key = str(certs.server_cert), str(certs.server_key)
    return [
        (["--tls-cert", cert], {}, "--tls-cert and --tls-key go together"),
        ([], {"ALINEA_TLS_KEY": key}, "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", str(certs.ca)], {}, "--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key"),
        (["--tls-cert", str(tmp / "nope.pem"), "--tls-key", key], {}, "nope.pem: cannot read: No such file"),
        (["--tls-cert", cert, "--tls-key", str(tmp)], {}, "cannot read: Is a directory"),
        (["--tls-cert", str(tmp / "garbage.pem"), "--tls-key", key], {}, "garbage.pem: not a PEM file"),
        (["--tls-cert", cert, "--tls-key", str(certs.other_key)], {}, "does not match the certificate"),
        (["--tls-cert", cert, "--tls-key", str(certs.encrypted_key)], {}, "the key is encrypted"),
        (["--tls-cert", str(certs.server_key), "--tls-key", key], {}, "not a usable PEM certificate chain"),
        (["--tls-cert", cert, "--tls-key", key, "--tls-client-ca", str(certs.client_key)], {},
         "--tls-client-ca " + str(certs.client_key) + ": no usable PEM certificate"),
        (["--auth-token-file", str(tmp / "nope")], {}, "--auth-token-file " + str(tmp / "nope") + ": cannot read"),
        (["--auth-token-file", str(tmp / "empty-tokens")], {}, "no tokens in it"),
        (["--auth-token-file", str(tmp / "spaced-tokens")], {}, "line 1: a token must be printable ASCII"),
        ([], {"ALINEA_AUTH_TOKENS": "ok-token,bad token"}, "ALINEA_AUTH_TOKENS, token 2: a token must be printable"),
    ]


def test_unusable_security_settings_stop_the_server_with_a_message(certs, tmp_path, monkeypatch, capsys):
    for argv, env, message in _cases(certs, tmp_path):
        for name in ("ALINEA_TLS_KEY", "ALINEA_AUTH_TOKENS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        try:  # the models are never reached: security is checked first
            code = server_main(["--port", "0", "--no-shipped-models", "--model-dir", str(tmp_path), *argv])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2, argv
        assert message in err, (argv, err)
        assert "no models found" not in err and "Traceback" not in err
        assert "bad token" not in err and "two words" not in err


def test_missing_token_file_exits_2_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "alinea.server.main", "--port", "0", "--no-shipped-models", "--model-dir", str(tmp_path),
         "--auth-token-file", str(tmp_path / "tokens")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"alinea-server: --auth-token-file {tmp_path / 'tokens'}: cannot read: No such file or directory"
