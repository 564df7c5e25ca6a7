from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EntityMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTITY_MODE_UNSPECIFIED: _ClassVar[EntityMode]
    ENTITY_MODE_PRESERVE: _ClassVar[EntityMode]
    ENTITY_MODE_REPORT: _ClassVar[EntityMode]
    ENTITY_MODE_OFF: _ClassVar[EntityMode]
ENTITY_MODE_UNSPECIFIED: EntityMode
ENTITY_MODE_PRESERVE: EntityMode
ENTITY_MODE_REPORT: EntityMode
ENTITY_MODE_OFF: EntityMode

class TranslateDocumentRequest(_message.Message):
    __slots__ = ("text", "source_language_code", "target_language_code", "model", "options", "document_id")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    text: str
    source_language_code: str
    target_language_code: str
    model: str
    options: TranslationOptions
    document_id: str
    def __init__(self, text: _Optional[str] = ..., source_language_code: _Optional[str] = ..., target_language_code: _Optional[str] = ..., model: _Optional[str] = ..., options: _Optional[_Union[TranslationOptions, _Mapping]] = ..., document_id: _Optional[str] = ...) -> None: ...

class TranslationOptions(_message.Message):
    __slots__ = ("beam_size", "word_alignment", "entities", "glossary")
    BEAM_SIZE_FIELD_NUMBER: _ClassVar[int]
    WORD_ALIGNMENT_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    GLOSSARY_FIELD_NUMBER: _ClassVar[int]
    beam_size: int
    word_alignment: bool
    entities: EntityMode
    glossary: _containers.RepeatedCompositeFieldContainer[GlossaryEntry]
    def __init__(self, beam_size: _Optional[int] = ..., word_alignment: _Optional[bool] = ..., entities: _Optional[_Union[EntityMode, str]] = ..., glossary: _Optional[_Iterable[_Union[GlossaryEntry, _Mapping]]] = ...) -> None: ...

class GlossaryEntry(_message.Message):
    __slots__ = ("source", "target")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    source: str
    target: str
    def __init__(self, source: _Optional[str] = ..., target: _Optional[str] = ...) -> None: ...

class TranslateDocumentResponse(_message.Message):
    __slots__ = ("document_id", "model", "source_language_code", "target_language_code", "segments", "translated_text", "error")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    TRANSLATED_TEXT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    model: str
    source_language_code: str
    target_language_code: str
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    translated_text: str
    error: _status_pb2.Status
    def __init__(self, document_id: _Optional[str] = ..., model: _Optional[str] = ..., source_language_code: _Optional[str] = ..., target_language_code: _Optional[str] = ..., segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., translated_text: _Optional[str] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class Span(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("index", "paragraph", "source_span", "source_text", "target_text", "alignments", "entities", "score", "copied")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PARAGRAPH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SPAN_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TEXT_FIELD_NUMBER: _ClassVar[int]
    TARGET_TEXT_FIELD_NUMBER: _ClassVar[int]
    ALIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    COPIED_FIELD_NUMBER: _ClassVar[int]
    index: int
    paragraph: int
    source_span: Span
    source_text: str
    target_text: str
    alignments: _containers.RepeatedCompositeFieldContainer[WordAlignment]
    entities: _containers.RepeatedCompositeFieldContainer[Entity]
    score: float
    copied: bool
    def __init__(self, index: _Optional[int] = ..., paragraph: _Optional[int] = ..., source_span: _Optional[_Union[Span, _Mapping]] = ..., source_text: _Optional[str] = ..., target_text: _Optional[str] = ..., alignments: _Optional[_Iterable[_Union[WordAlignment, _Mapping]]] = ..., entities: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., score: _Optional[float] = ..., copied: _Optional[bool] = ...) -> None: ...

class WordAlignment(_message.Message):
    __slots__ = ("source_span", "target_span")
    SOURCE_SPAN_FIELD_NUMBER: _ClassVar[int]
    TARGET_SPAN_FIELD_NUMBER: _ClassVar[int]
    source_span: Span
    target_span: Span
    def __init__(self, source_span: _Optional[_Union[Span, _Mapping]] = ..., target_span: _Optional[_Union[Span, _Mapping]] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("label", "source_span", "target_span", "expected_text", "status")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Entity.Status]
        PRESERVED_VERBATIM: _ClassVar[Entity.Status]
        RENDERED: _ClassVar[Entity.Status]
        REPAIRED: _ClassVar[Entity.Status]
        MISSING: _ClassVar[Entity.Status]
    STATUS_UNSPECIFIED: Entity.Status
    PRESERVED_VERBATIM: Entity.Status
    RENDERED: Entity.Status
    REPAIRED: Entity.Status
    MISSING: Entity.Status
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SPAN_FIELD_NUMBER: _ClassVar[int]
    TARGET_SPAN_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_TEXT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    label: str
    source_span: Span
    target_span: Span
    expected_text: str
    status: Entity.Status
    def __init__(self, label: _Optional[str] = ..., source_span: _Optional[_Union[Span, _Mapping]] = ..., target_span: _Optional[_Union[Span, _Mapping]] = ..., expected_text: _Optional[str] = ..., status: _Optional[_Union[Entity.Status, str]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("source_language_code", "target_language_code")
    SOURCE_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    source_language_code: str
    target_language_code: str
    def __init__(self, source_language_code: _Optional[str] = ..., target_language_code: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("name", "source_language_code", "target_language_code", "default", "quantization", "description", "test_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    QUANTIZATION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TEST_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    source_language_code: str
    target_language_code: str
    default: bool
    quantization: str
    description: str
    test_only: bool
    def __init__(self, name: _Optional[str] = ..., source_language_code: _Optional[str] = ..., target_language_code: _Optional[str] = ..., default: _Optional[bool] = ..., quantization: _Optional[str] = ..., description: _Optional[str] = ..., test_only: _Optional[bool] = ...) -> None: ...
