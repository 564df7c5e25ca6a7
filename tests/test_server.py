"""Integration: a real alinea-server process on localhost, every RPC, every error code."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from alinea.client.client import Options, TranslationClient
from conftest import SEED_FR, start_server

SEED = SEED_FR.read_text(encoding="utf-8")


def assert_covers(text: str, segments) -> None:
    last_end = 0
    for i, s in enumerate(segments):
        assert s.index == i
        assert last_end <= s.source_span.start < s.source_span.end
        assert text[s.source_span.start : s.source_span.end] == s.source_text
        last_end = s.source_span.end
        for a in s.alignments:
            assert 0 <= a.source_span.start < a.source_span.end <= len(s.source_text)
            assert 0 <= a.target_span.start < a.target_span.end <= len(s.target_text)
    covered = {i for s in segments for i in range(s.source_span.start, s.source_span.end)}
    assert {i for i, c in enumerate(text) if not c.isspace()} <= covered


def test_translate_document(client):
    response = client.translate(SEED, source_language="fr", target_language="en", document_id="seed-1",
                                options=Options(beam_size=1))
    assert response.document_id == "seed-1"
    assert response.model == "tiny-random-fr-en"
    assert (response.source_language_code, response.target_language_code) == ("fr", "en")
    assert len(response.segments) == 19
    assert_covers(SEED, response.segments)
    assert response.segments[9].copied and response.segments[9].target_text == "L"
    assert any(s.alignments for s in response.segments)
    assert response.translated_text.count("\n\n") == SEED.count("\n\n")


def test_alignment_off(client):
    response = client.translate("Bonjour.", options=Options(beam_size=1, word_alignment=False))
    assert response.segments and not response.segments[0].alignments


def test_stream_translate_document(client):
    unary = client.translate(SEED, options=Options(beam_size=1))
    streamed = list(client.stream(SEED, options=Options(beam_size=1)))
    assert [s.index for s in streamed] == list(range(19))
    assert streamed == list(unary.segments)


def test_translate_documents_keeps_order_and_reports_bad_documents(client):
    requests = [
        client.request("Bonjour.", document_id="a", options=Options(beam_size=1)),
        client.request("   ", document_id="empty"),
        client.request("Merci.", target_language="de", document_id="german"),
        client.request(SEED, document_id="seed", options=Options(beam_size=1)),
    ]
    responses = list(client.translate_many(requests))
    assert [r.document_id for r in responses] == ["a", "empty", "german", "seed"]
    assert responses[0].segments and not responses[0].HasField("error")
    assert responses[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "text is empty" in responses[1].error.message
    assert responses[2].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert_covers(SEED, responses[3].segments)


def test_list_models(client):
    models = client.list_models()
    assert [(m.name, m.source_language_code, m.target_language_code, m.default, m.test_only) for m in models] == [
        ("tiny-random-fr-en", "fr", "en", True, True)
    ]
    assert client.list_models(target_language="de") == []


@pytest.mark.parametrize(
    ("kwargs", "code", "message"),
    [
        ({"text": ""}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
        ({"text": " \n\t "}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
        ({"text": "a" * 20001}, grpc.StatusCode.INVALID_ARGUMENT, "over the limit of 20,000"),
        ({"text": "Oui.", "target_language": ""}, grpc.StatusCode.INVALID_ARGUMENT, "target_language_code is required"),
        ({"text": "Oui.", "target_language": "de"}, grpc.StatusCode.NOT_FOUND, "no model for fr→de"),
        ({"text": "Oui.", "source_language": "es"}, grpc.StatusCode.NOT_FOUND, "no model for es→en"),
        ({"text": "Oui.", "model": "nope"}, grpc.StatusCode.NOT_FOUND, "no model named 'nope'"),
        ({"text": "Oui.", "options": Options(beam_size=99)}, grpc.StatusCode.INVALID_ARGUMENT, "beam_size is 99"),
        ({"text": "Oui.", "options": Options(glossary={" ": "x"})}, grpc.StatusCode.INVALID_ARGUMENT,
         "options.glossary[0].source is empty"),
        ({"text": "Oui.", "options": Options(glossary={"a" * 201: ""})}, grpc.StatusCode.INVALID_ARGUMENT,
         "longer than 200 characters"),
        ({"text": "Oui.", "options": Options(glossary={"Oui": "Yes", "Oui ": "Yeah"})}, grpc.StatusCode.INVALID_ARGUMENT,
         "two targets for 'Oui'"),
        ({"text": "Oui.", "options": Options(entities="off", glossary={"Oui": "Yes"})}, grpc.StatusCode.INVALID_ARGUMENT,
         "needs entities on"),
    ],
)
def test_errors_have_codes_and_say_what_to_fix(client, kwargs, code, message):
    text = kwargs.pop("text")
    kwargs.setdefault("source_language", "fr")
    with pytest.raises(grpc.RpcError) as caught:
        client.translate(text, **kwargs)
    assert caught.value.code() == code
    assert message in caught.value.details()
    assert "Traceback" not in caught.value.details()
    with pytest.raises(grpc.RpcError) as streamed:
        list(client.stream(text, **kwargs))
    assert streamed.value.code() == code


def test_health(server):
    with grpc.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "alinea.v1.Translation"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_foreign_client_through_reflection_only(server):
    """What grpcurl does: learn the API from the server, then call it."""
    with grpc.insecure_channel(server.address) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        service = pool.FindServiceByName("alinea.v1.Translation")
        method = service.methods_by_name["TranslateDocument"]
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_unary(
            "/alinea.v1.Translation/TranslateDocument",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        response = call(request_class(text=SEED, source_language_code="fr", target_language_code="en"), timeout=120)
    assert_covers(SEED, response.segments)
    assert len(response.segments) == 19


def test_server_exits_cleanly_on_sigterm(tiny_model_dir, tmp_path):
    running = start_server(tiny_model_dir, tmp_path / "server.log")
    with TranslationClient(running.address, timeout=60) as c:
        assert c.translate("Bonjour.", options=Options(beam_size=1)).segments
    assert running.stop() == 0


def test_server_refuses_to_start_without_models(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "alinea.server.main", "--port", "0", "--no-shipped-models", "--model-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "no models found" in result.stderr


def test_busy_server_answers_resource_exhausted():
    from alinea.server.service import RequestError, _Slot
    import threading

    semaphore = threading.BoundedSemaphore(1)
    with _Slot(semaphore, 1):
        with pytest.raises(RequestError) as caught:
            with _Slot(semaphore, 1):
                pass
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    with _Slot(semaphore, 1):  # released again
        pass


def test_translate_documents_answers_each_document_before_the_next_is_sent(client):
    """A client that waits for each answer before sending the next document must not deadlock."""
    import queue as queue_module
    import threading

    outbox: queue_module.Queue = queue_module.Queue()

    def requests():
        while (item := outbox.get()) is not None:
            yield item

    responses = client.translate_many(requests())
    answers = []
    for i, text in enumerate(["Bonjour.", "Merci.", "Au revoir."]):
        outbox.put(client.request(text, document_id=str(i), options=Options(beam_size=1)))
        answers.append(next(responses))
    outbox.put(None)
    assert [a.document_id for a in answers] == ["0", "1", "2"]
    assert list(responses) == []
    assert threading.active_count() < 50


def test_a_call_without_a_deadline_is_served(server):
    # gRPC reports an enormous time remaining for such a call; it must not reach a thread wait as is.
    with TranslationClient(server.address) as client:
        assert client.translate("Bonjour.", options=Options(beam_size=1)).segments
        assert list(client.stream("Bonjour.", options=Options(beam_size=1)))
