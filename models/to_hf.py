"""Rebuild a Hugging Face MarianMT directory from a served CTranslate2 model directory.

A served model (models/alinea-fr-en/) holds only CTranslate2's model.bin,
its vocabulary and the SentencePiece models; the Hugging Face directory it
was converted from stays in a training work dir that is not shipped. This
module inverts CTranslate2's TransformersConverter (MarianMTLoader), so that
transformers can run the very weights alinea serves (bench/throughput.py
does, for its transformers baseline)::

    python -m alinea.models.to_hf models/alinea-fr-en /tmp/hf-alinea

The result is laid out like the export (``models/train/export.py``) wrote
it: ``save_pretrained`` of a MarianMTModel built from ``marian_config``, plus
``write_tokenizer``'s files. int8 weights come back dequantized (int8 /
scale), so they equal what CTranslate2 computes with, not the float weights
training ended with: that rounding is lost for good.

CTranslate2's Python package writes model.bin but has no reader; the format
read here is the one of ``ModelSpec._serialize`` (python/ctranslate2/specs/
model_spec.py) and ``Model::load`` (src/models/model.cc).
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from alinea.models.marian import PAD, joint_vocabulary, marian_config, write_tokenizer

MODEL_BIN = "model.bin"
VOCABULARY = "shared_vocabulary.json"
SPEC = "TransformerSpec"
# TransformerSpec.revision of the ctranslate2 this project pins (4.8.5); a later one may have renamed
# variables, and CTranslate2 itself refuses revisions newer than it knows (Model::load).
LATEST_REVISION = 7
# Binary versions Model::load reads: 1 has no spec name, 2 adds it, 3 adds
# aliases, 4 replaces the item size by a dtype id. 5 and 6 read like 4.
LATEST_BINARY_VERSION = 6
# The DataType enum of include/ctranslate2/types.h, by id (binary version >= 4).
_DTYPES: dict[int, str] = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
# Before version 4 the dtype was told by its item size alone.
_DTYPES_BY_ITEM_SIZE: dict[int, str] = {4: "float32", 2: "int16", 1: "int8"}
# common_spec.Activation (include/ctranslate2/ops/activation.h) → transformers' names.
_ACTIVATIONS: dict[int, str] = {0: "relu", 1: "gelu_new", 2: "swish", 3: "gelu", 4: "quick_gelu"}
_LAYER_NORM_EPSILON = 1e-5  # nn.LayerNorm's default, the only one MarianConfig has


@dataclass(frozen=True)
class CT2Model:
    """The contents of a model.bin, aliases resolved.

    `variables` maps every name, aliases included, to its array as stored
    (int8 weights stay int8, with their ``*_scale`` beside them), bfloat16
    widened to float32 as numpy has no bfloat16; `dtypes` gives each one's
    stored type; `aliases` says which names were stored once under another.
    """

    binary_version: int
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    dtypes: dict[str, str]
    aliases: dict[str, str]


class _Reader:
    """Little-endian reads from model.bin, failing with the offset where the file ends too soon."""

    def __init__(self, stream: BinaryIO, path: Path) -> None:
        self.stream, self.path = stream, path

    def bytes(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise ValueError(f"{self.path} is truncated: wanted {size} bytes at offset {self.stream.tell() - len(data)}")
        return data

    def uint(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.bytes(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        # uint16 length counting the NUL terminator, then the UTF-8 bytes and the NUL.
        raw = self.bytes(self.uint("H"))
        return raw.split(b"\0", 1)[0].decode("utf-8")


def _array(raw: bytes, dtype: str, shape: tuple[int, ...], name: str, path: Path) -> np.ndarray:
    if dtype == "bfloat16":  # numpy has no bfloat16: its bits are the top half of a float32's
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        array = bits.view(np.float32)
    else:
        array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
    if array.size != math.prod(shape):
        raise ValueError(f"{path}: variable {name} has {array.size} {dtype} values for shape {list(shape)}")
    return array.reshape(shape)


def read_model_bin(path: Path) -> CT2Model:
    """Parse a CTranslate2 model.bin: header, variables, aliases.

    An alias also stands for its target's ``_scale`` (Model::load registers
    both), which matters when two int8 weights were stored once.
    """
    path = Path(path)
    with path.open("rb") as stream:
        read = _Reader(stream, path)
        version = read.uint("I")
        if not 1 <= version <= LATEST_BINARY_VERSION:
            raise ValueError(f"{path}: binary version {version}, this reader knows 1 to {LATEST_BINARY_VERSION}")
        spec, revision = (read.string(), read.uint("I")) if version >= 2 else ("", 1)
        variables: dict[str, np.ndarray] = {}
        dtypes: dict[str, str] = {}
        for _ in range(read.uint("I")):
            name = read.string()
            shape = tuple(read.uint("I") for _ in range(read.uint("B")))
            if version >= 4:
                type_id = read.uint("B")
                if type_id not in _DTYPES:
                    raise ValueError(f"{path}: variable {name} has unknown dtype id {type_id}")
                dtype, size = _DTYPES[type_id], read.uint("I")
            else:
                item_size = read.uint("B")
                if item_size not in _DTYPES_BY_ITEM_SIZE:
                    raise ValueError(f"{path}: variable {name} has unknown item size {item_size}")
                dtype, size = _DTYPES_BY_ITEM_SIZE[item_size], read.uint("I") * item_size
            variables[name] = _array(read.bytes(size), dtype, shape, name, path)
            dtypes[name] = dtype
        aliases: dict[str, str] = {}
        if version >= 3:
            for _ in range(read.uint("I")):
                alias = read.string()
                aliases[alias] = read.string()
        if stream.read(1):
            raise ValueError(f"{path}: unexpected bytes after the aliases")
    for alias, target in aliases.items():
        if target not in variables:
            raise ValueError(f"{path}: alias {alias} names {target}, which is not a stored variable")
        variables[alias], dtypes[alias] = variables[target], dtypes[target]
        if target + "_scale" in variables:
            variables[alias + "_scale"], dtypes[alias + "_scale"] = variables[target + "_scale"], dtypes[target + "_scale"]
    return CT2Model(version, spec, revision, variables, dtypes, aliases)


class _Weights:
    """Takes variables out of a CT2Model by name, so that whatever no rule took can be reported."""

    def __init__(self, model: CT2Model, path: Path) -> None:
        self.left = dict(model.variables)
        self.path = path

    def has(self, name: str) -> bool:
        return name in self.left

    def raw(self, name: str) -> np.ndarray:
        try:
            return self.left.pop(name)
        except KeyError:
            raise ValueError(f"{self.path}: variable {name} is missing; not a Marian model converted by "
                             "TransformersConverter") from None

    def scalar(self, name: str, default: float | int | None = None) -> float:
        if default is not None and name not in self.left:
            return default
        value = self.raw(name)
        if value.size != 1:
            raise ValueError(f"{self.path}: {name} should be a scalar, has shape {list(value.shape)}")
        return value.item()

    def floats(self, name: str) -> np.ndarray:
        """A variable as float32; int8 rows are divided by their scale, int16 by its one scale."""
        value = self.raw(name)
        if value.dtype in (np.int8, np.int16):
            scale = self.left.pop(name + "_scale", None)
            if scale is None:
                raise ValueError(f"{self.path}: {value.dtype} variable {name} has no {name}_scale")
            scale = scale.astype(np.float32)
            if scale.size > 1:  # int8: one scale per output row
                scale = scale.reshape((-1,) + (1,) * (value.ndim - 1))
            return value.astype(np.float32) / scale
        if value.dtype.kind != "f":
            raise ValueError(f"{self.path}: {name} is {value.dtype}, not a weight type")
        return value.astype(np.float32)

    def linear(self, scope: str) -> tuple[np.ndarray, np.ndarray | None]:
        weight = self.floats(f"{scope}/weight")
        bias = self.floats(f"{scope}/bias") if self.has(f"{scope}/bias") else None
        return weight, bias

    def layer_count(self, scope: str) -> int:
        count = 0
        while any(name.startswith(f"{scope}/layer_{count}/") for name in self.left):
            count += 1
        return count


def _check(condition: bool, path: Path, message: str) -> None:
    if not condition:
        raise ValueError(f"{path}: {message}")


def _linear_params(prefix: str, weight: np.ndarray, bias: np.ndarray | None) -> dict[str, np.ndarray]:
    # Marian's projections all have biases; TransformersConverter always writes them, zeros are a fallback.
    return {f"{prefix}.weight": weight,
            f"{prefix}.bias": bias if bias is not None else np.zeros(weight.shape[0], np.float32)}


def _attention(weights: _Weights, scope: str, prefix: str, *, self_attention: bool) -> dict[str, np.ndarray]:
    """Undo fuse_linear: self-attention has q, k, v in linear_0; encoder attention q in linear_0, k and v in linear_1."""
    fused = ["linear_0"] if self_attention else ["linear_0", "linear_1"]
    parts = [_linear_params("", *weights.linear(f"{scope}/{linear}")) for linear in fused]
    weight, bias = np.concatenate([p[".weight"] for p in parts]), np.concatenate([p[".bias"] for p in parts])
    _check(weight.shape[0] == 3 * weight.shape[1], weights.path,
           f"{scope}: {weight.shape[0]} rows of query, key and value projections for d_model {weight.shape[1]}")
    params: dict[str, np.ndarray] = {}
    for name, w, b in zip(("q_proj", "k_proj", "v_proj"), np.split(weight, 3), np.split(bias, 3)):
        params.update(_linear_params(f"{prefix}.{name}", w, b))
    params.update(_linear_params(f"{prefix}.out_proj", *weights.linear(f"{scope}/linear_{len(fused)}")))
    return params


def _layer_norm(weights: _Weights, scope: str, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}.weight": weights.floats(f"{scope}/gamma"), f"{prefix}.bias": weights.floats(f"{scope}/beta")}


def _ffn(weights: _Weights, scope: str, prefix: str) -> dict[str, np.ndarray]:
    return {**_linear_params(f"{prefix}.fc1", *weights.linear(f"{scope}/linear_0")),
            **_linear_params(f"{prefix}.fc2", *weights.linear(f"{scope}/linear_1")),
            **_layer_norm(weights, f"{scope}/layer_norm", f"{prefix}.final_layer_norm")}


def _flags(weights: _Weights, side: str) -> dict[str, Any]:
    """The scalar settings of one side, checked against what a Marian model can be."""
    path = weights.path
    values = {
        "num_heads": weights.scalar(f"{side}/num_heads"),
        "activation": weights.scalar(f"{side}/activation"),
        "scale_embeddings": weights.raw(f"{side}/scale_embeddings"),
    }
    _check(not weights.scalar(f"{side}/pre_norm"), path,
           f"{side} is pre-norm; MarianMT normalises after each sublayer (post-norm)")
    _check(int(values["activation"]) in _ACTIVATIONS, path, f"{side}/activation {values['activation']} has no transformers name")
    if side == "encoder":
        _check(not weights.scalar("encoder/multi_query_attention", 0), path, "multi-query attention is not Marian")
        weights.scalar("encoder/embeddings_merge", 0)  # meaningful only with several source embeddings
    else:
        for flag in ("alibi", "alibi_use_positive_positions", "scale_alibi"):
            _check(not weights.scalar(f"decoder/{flag}", 0), path, f"decoder/{flag} is set; Marian has no ALiBi")
        values["start_from_zero_embedding"] = weights.scalar("decoder/start_from_zero_embedding", 0)
        # Which cross-attention layer returns alignments: a CTranslate2 option, nothing in the weights.
        weights.scalar("decoder/alignment_layer", -1)
        weights.scalar("decoder/alignment_heads", 1)
    return values


def _embed_scale(value: np.ndarray, d_model: int, path: Path) -> bool:
    """MarianConfig.scale_embedding from scale_embeddings, read as build_embeddings_scale does.

    Older specs stored a flag (int8: multiply by sqrt(d_model) or not), newer
    ones the factor itself (float: sqrt(d_model), or 1 for none).
    """
    if value.dtype == np.int8:
        return bool(value.item())
    factor = float(value.item())
    if factor == 1.0:
        return False
    if math.isclose(factor, math.sqrt(d_model), rel_tol=1e-6):
        return True
    raise ValueError(f"{path}: embeddings scaled by {factor}, neither sqrt(d_model) = {math.sqrt(d_model):.4g} nor 1; "
                     "MarianMT has no other factor")


def to_hf(model_dir: Path, output: Path, *, force: bool = False) -> Path:
    """Write a Hugging Face MarianMT directory with model_dir's weights to output; returns output.

    Raises ValueError naming what is wrong when model_dir is not a
    CTranslate2 Marian model (no model.bin, another spec, a layout
    MarianMTModel cannot hold), FileExistsError when output holds files and
    `force` is not set (with it, files of the same names are replaced).
    """
    import torch
    from transformers import MarianMTModel

    model_dir, output = Path(model_dir), Path(output)
    if not model_dir.is_dir():
        raise ValueError(f"{model_dir}: not a directory")
    missing = [name for name in (MODEL_BIN, VOCABULARY, "config.json", "source.spm", "target.spm")
               if not (model_dir / name).is_file()]
    if missing:
        raise ValueError(f"{model_dir}: not a CTranslate2 model directory, {', '.join(missing)} missing")
    if output.exists() and any(output.iterdir()) and not force:
        raise FileExistsError(f"{output} exists and is not empty; pass --force to replace it")

    path = model_dir / MODEL_BIN
    ct2 = read_model_bin(path)
    _check(ct2.spec == SPEC, path, f"spec {ct2.spec or '(none: binary version 1)'!r}, only {SPEC} (encoder-decoder "
           "Transformer) models can become MarianMT")
    _check(ct2.revision <= LATEST_REVISION, path,
           f"{SPEC} revision {ct2.revision}, newer than the {LATEST_REVISION} this reader knows")
    ct2_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    epsilon = ct2_config.get("layer_norm_epsilon")
    _check(epsilon is None or math.isclose(epsilon, _LAYER_NORM_EPSILON), path,
           f"layer_norm_epsilon {epsilon}; MarianMT's layer norms use {_LAYER_NORM_EPSILON}")
    weights = _Weights(ct2, path)
    encoder, decoder = _flags(weights, "encoder"), _flags(weights, "decoder")
    _check(encoder["num_heads"] == decoder["num_heads"], path, "encoder and decoder differ in attention heads")
    _check(encoder["activation"] == decoder["activation"], path, "encoder and decoder differ in activation")

    # Embeddings: MarianMTLoader drops the <pad> row that transformers appended; it comes back as zeros,
    # which is what CTranslate2 starts the decoder from (start_from_zero_embedding) and what training
    # kept it at (train.model.zero_pad_embedding).
    tokens: list[str] = json.loads((model_dir / VOCABULARY).read_text(encoding="utf-8"))
    embeddings = weights.floats("encoder/embeddings_0/weight")
    _check(embeddings.shape[0] == len(tokens), path,
           f"{embeddings.shape[0]} embedding rows for {len(tokens)} tokens in {VOCABULARY}")
    for other in ("decoder/embeddings/weight", "decoder/projection/weight"):
        _check(np.array_equal(weights.floats(other), embeddings), path,
               f"{other} differs from encoder/embeddings_0/weight; MarianMT here ties all three")
    if tokens[-1] != PAD:
        tokens = [*tokens, PAD]
        embeddings = np.concatenate([embeddings, np.zeros((1, embeddings.shape[1]), np.float32)])
    vocab_size, d_model = embeddings.shape
    logits_bias = np.zeros(vocab_size, np.float32)
    if weights.has("decoder/projection/bias"):
        bias = weights.floats("decoder/projection/bias")
        logits_bias[: bias.shape[0]] = bias

    positions = weights.floats("encoder/position_encodings/encodings")
    # Stored like biases: float32, or float16 / bfloat16 when the model's non-weight type is.
    positions_type = ct2.dtypes["encoder/position_encodings/encodings"]
    _check(np.array_equal(weights.floats("decoder/position_encodings/encodings"), positions), path,
           "encoder and decoder position encodings differ; MarianMT computes one sinusoidal table")

    layers = (weights.layer_count("encoder"), weights.layer_count("decoder"))
    _check(min(layers) > 0, path, f"{layers[0]} encoder and {layers[1]} decoder layers")
    params: dict[str, np.ndarray] = {}
    for i in range(layers[0]):
        scope, prefix = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        params.update(_attention(weights, f"{scope}/self_attention", f"{prefix}.self_attn", self_attention=True))
        params.update(_layer_norm(weights, f"{scope}/self_attention/layer_norm", f"{prefix}.self_attn_layer_norm"))
        params.update(_ffn(weights, f"{scope}/ffn", prefix))
    for i in range(layers[1]):
        scope, prefix = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        params.update(_attention(weights, f"{scope}/self_attention", f"{prefix}.self_attn", self_attention=True))
        params.update(_layer_norm(weights, f"{scope}/self_attention/layer_norm", f"{prefix}.self_attn_layer_norm"))
        params.update(_attention(weights, f"{scope}/attention", f"{prefix}.encoder_attn", self_attention=False))
        params.update(_layer_norm(weights, f"{scope}/attention/layer_norm", f"{prefix}.encoder_attn_layer_norm"))
        params.update(_ffn(weights, f"{scope}/ffn", prefix))
    ffn_dim = params["model.encoder.layers.0.fc1.weight"].shape[0]
    if weights.left:
        raise ValueError(f"{path}: variables MarianMT has no place for: {', '.join(sorted(weights.left))}")

    config = marian_config(vocab_size, d_model=d_model, layers=layers, heads=int(encoder["num_heads"]),
                           ffn_dim=ffn_dim, max_positions=positions.shape[0])
    config.activation_function = _ACTIVATIONS[int(encoder["activation"])]
    config.scale_embedding = _embed_scale(encoder["scale_embeddings"], d_model, path)
    _check(_embed_scale(decoder["scale_embeddings"], d_model, path) == config.scale_embedding, path,
           "encoder and decoder scale their embeddings differently")
    if not decoder["start_from_zero_embedding"]:  # the decoder starts from a real token, not from <pad>
        start = ct2_config.get("decoder_start_token")
        _check(start in tokens, path, f"decoder_start_token {start!r} is not in the vocabulary")
        config.decoder_start_token_id = tokens.index(start)
    model = MarianMTModel(config)

    sinusoids = model.model.encoder.embed_positions.weight.detach().numpy()
    # transformers recomputes this table on every load: tell the rounding of a 16-bit copy of it (at most
    # 2^-9 for bfloat16 values within ±1) from another kind of positions.
    _check(np.allclose(sinusoids, positions, rtol=0, atol=1e-6 if positions_type == "float32" else 4e-3), path,
           "position encodings are not MarianMT's sinusoids (max difference "
           f"{np.abs(sinusoids - positions).max():.3g})")
    params.update({
        "model.shared.weight": embeddings,
        "model.encoder.embed_tokens.weight": embeddings,
        "model.decoder.embed_tokens.weight": embeddings,
        "lm_head.weight": embeddings,
        "final_logits_bias": logits_bias[None, :],
        "model.encoder.embed_positions.weight": sinusoids,
        "model.decoder.embed_positions.weight": sinusoids,
    })
    model.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in params.items()},
                          strict=True)

    # MarianTokenizer numbers tokens by write_tokenizer's joint vocabulary: it must be the rows' order.
    joint = joint_vocabulary(model_dir / "source.spm", model_dir / "target.spm")
    _check(joint == tokens, model_dir, f"the joint vocabulary of source.spm and target.spm ({len(joint)} tokens) is "
           f"not {VOCABULARY} + {PAD} ({len(tokens)}); token ids would not match the embedding rows")
    model.save_pretrained(output)
    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8")) \
        if (model_dir / "manifest.json").is_file() else {}
    write_tokenizer(output, model_dir / "source.spm", model_dir / "target.spm",
                    manifest.get("source_language", "src"), manifest.get("target_language", "tgt"))
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alinea.models.to_hf", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="CTranslate2 model directory, e.g. models/alinea-fr-en")
    parser.add_argument("output", type=Path, help="Hugging Face directory to write")
    parser.add_argument("--force", action="store_true", help="write into an existing, non-empty output directory")
    args = parser.parse_args(argv)
    from alinea.models.train.model import quiet_libraries

    quiet_libraries()
    try:
        out = to_hf(args.model_dir, args.output, force=args.force)
    except (ValueError, FileExistsError) as exc:
        print(f"to_hf: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
