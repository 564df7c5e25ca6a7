"""Alignment error rate (AER) of a model's attention alignments on the WPT-2003 Hansards gold set.

    python -m alinea.server.alignment_eval --model-dir DIR [--set test|trial] [--data-dir DIR]

The gold English of each sentence pair is force-decoded through the model
(CTranslate2 with the English SentencePiece pieces as target prefix, greedy,
attention returned), and the cross-attention is turned into links between
the gold set's own tokens, French → English. Several ways of reading the
attention are scored side by side:

- ``argmax``: each target subword linked to the source subword it attends
  to most (the head's own reading);
- ``intersect``: word-level attention (source subwords summed, target
  subwords averaged), links that are the argmax both ways; what the
  server does (alinea.server.align.word_links);
- ``grow-diag``: the intersection grown with neighbouring links of the
  union of both argmax directions (as phrase-based MT symmetrises);
- ``threshold``: every word pair with word-level attention >= --threshold;

each on the attention of the step that *predicts* a target token (``step``)
and of the step that *reads* it (``shift``, one row later, as in Shift-Att,
Chen et al. 2020; the rows the server uses, and those alinea's models are
trained to align with).

The gold files (tests/data/alignment, PROVENANCE.md there) hold tokenized
sentences and links ``i-j`` (sure) and ``i?j`` (possible), i a 0-based
French token index and j a 0-based English one. With S the sure links, P
the sure and possible ones and A the predicted ones, over the whole set:
precision = |A∩P|/|A|, recall = |A∩S|/|S|,
AER = 1 − (|A∩S| + |A∩P|)/(|A| + |S|).

Which attention CTranslate2 returns is fixed when a model is converted: the
decoder layer ``alignment_layer`` (default -1, the last) averaged over its
first ``alignment_heads`` heads (default 1; 0 means all heads). They are
variables of model.bin, printed in the report (see docs/formats.md).
"""

from __future__ import annotations

import argparse
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alinea.server.align import Link, directions, grow_diag, piece_argmax_links, word_attention, word_links
from alinea.server.records import Span
from alinea.server.tokenize import EOS, Pieces, SourceTokenizer

SETS = ("trial", "test")
GOLD_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "alignment"


@dataclass(frozen=True)
class GoldPair:
    source: list[str]  # French tokens
    target: list[str]  # English tokens
    sure: frozenset[Link]
    possible: frozenset[Link]  # the sure links too: S ⊆ P


def parse_links(line: str) -> tuple[frozenset[Link], frozenset[Link]]:
    """(sure, possible) from a gold line like "0-0 1?1 2-3"; possible includes sure."""
    sure, possible = set(), set()
    for item in line.split():
        kind = "-" if "-" in item else "?"
        i, j = item.split(kind)
        link = (int(i), int(j))
        possible.add(link)
        if kind == "-":
            sure.add(link)
    return frozenset(sure), frozenset(possible)


def load_gold(data_dir: Path, name: str) -> list[GoldPair]:
    """The Hansards set `name` ("trial" or "test") from data_dir."""
    def lines(suffix: str) -> list[str]:
        return (data_dir / f"hansards-{name}.{suffix}").read_text(encoding="utf-8").splitlines()

    french, english, gold = lines("fr"), lines("en"), lines("fr-en.gold")
    if not len(french) == len(english) == len(gold):
        raise ValueError(f"{data_dir}: hansards-{name} files have {len(french)}, {len(english)}, {len(gold)} lines")
    pairs = []
    for number, (f, e, g) in enumerate(zip(french, english, gold), 1):
        sure, possible = parse_links(g)
        pair = GoldPair(f.split(" "), e.split(" "), sure, possible)
        if any(not (0 <= i < len(pair.source) and 0 <= j < len(pair.target)) for i, j in possible):
            raise ValueError(f"{data_dir}: hansards-{name} line {number}: a link falls outside the sentence")
        pairs.append(pair)
    return pairs


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    aer: float
    links: int  # |A|


def score(predicted: Sequence[set[Link] | frozenset[Link]], gold: Sequence[GoldPair]) -> Scores:
    """Corpus-level precision, recall and AER of predicted links against the gold sets."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted alignments for {len(gold)} sentence pairs")
    a = sum(len(p) for p in predicted)
    s = sum(len(g.sure) for g in gold)
    a_s = sum(len(set(p) & g.sure) for p, g in zip(predicted, gold))
    a_p = sum(len(set(p) & g.possible) for p, g in zip(predicted, gold))
    return Scores(
        precision=a_p / a if a else 0.0,
        recall=a_s / s if s else 0.0,
        aer=1.0 - (a_s + a_p) / (a + s) if a + s else 0.0,
        links=a,
    )


def token_spans(tokens: list[str]) -> tuple[str, list[Span]]:
    """The tokens joined by single spaces, and each token's span in that text."""
    spans, cursor = [], 0
    for token in tokens:
        spans.append(Span(cursor, cursor + len(token)))
        cursor += len(token) + 1
    return " ".join(tokens), spans


@dataclass(frozen=True)
class Forced:
    """One force-decoded pair: both sides' pieces and the attention of every decoding step."""

    source: Pieces
    source_tokens: list[Span]
    target: Pieces
    target_tokens: list[Span]
    # attention[k][s]: decoding step k (k < len(target.tokens): the step predicting
    # target piece k; k = len(target.tokens): the step after the last piece) over
    # the source pieces and the trailing </s>.
    attention: list[list[float]]

    def rows(self, shift: bool) -> list[list[float]]:
        """One attention row per target piece: the step predicting it, or (shift) the one reading it."""
        n = len(self.target.tokens)
        return self.attention[1 : n + 1] if shift else self.attention[:n]


class ForcedDecoder:
    def __init__(self, model_dir: Path, threads: int = 1):
        import ctranslate2

        self.model_dir = Path(model_dir)
        self._ct2 = ctranslate2.Translator(str(model_dir), device="cpu", intra_threads=threads)
        self._source = SourceTokenizer(self.model_dir / "source.spm")
        # The same SentencePiece encoder, with spans, on the target side.
        self._target = SourceTokenizer(self.model_dir / "target.spm")

    def decode(self, pairs: Sequence[GoldPair], batch_size: int = 32) -> list[Forced]:
        """Force-decode each pair's English as the translation of its French."""
        prepared = []
        for pair in pairs:
            source_text, source_tokens = token_spans(pair.source)
            target_text, target_tokens = token_spans(pair.target)
            prepared.append((self._source.encode(source_text), source_tokens,
                             self._target.encode(target_text), target_tokens))
        forced: list[Forced] = []
        for start in range(0, len(prepared), batch_size):
            batch = prepared[start : start + batch_size]
            longest = max(len(target.tokens) for _, _, target, _ in batch)
            results = self._ct2.translate_batch(
                [[*source.tokens, EOS] for source, _, _, _ in batch],
                target_prefix=[target.tokens for _, _, target, _ in batch],
                beam_size=1,
                return_attention=True,
                # One step past the prefix: its attention is the shifted row of the last piece;
                # return_end_token keeps that row even when the step produces </s>.
                max_decoding_length=longest + 1,
                return_end_token=True,
                max_input_length=0,
            )
            for (source, source_tokens, target, target_tokens), result in zip(batch, results):
                attention = result.attention[0]
                if len(attention) < len(target.tokens) + 1:
                    raise RuntimeError(f"CTranslate2 returned {len(attention)} attention rows for "
                                       f"{len(target.tokens)} forced target pieces")
                forced.append(Forced(source, source_tokens, target, target_tokens, attention[: len(target.tokens) + 1]))
        return forced


def _inputs(forced: Forced, shift: bool) -> tuple:
    """The arguments alinea.server.align's functions take: both sides' pieces and words, and the attention rows."""
    return forced.source.spans, forced.source_tokens, forced.target.spans, forced.target_tokens, forced.rows(shift)


def _matrix(forced: Forced, shift: bool) -> list[list[float]]:
    return word_attention(*_inputs(forced, shift))


def links_argmax(forced: Forced, shift: bool, threshold: float) -> set[Link]:
    return piece_argmax_links(*_inputs(forced, shift))


def links_intersect(forced: Forced, shift: bool, threshold: float) -> set[Link]:
    return word_links(*_inputs(forced, shift))


def links_grow_diag(forced: Forced, shift: bool, threshold: float) -> set[Link]:
    forward, backward = directions(_matrix(forced, shift))
    return grow_diag(forward & backward, forward | backward)


def links_threshold(forced: Forced, shift: bool, threshold: float) -> set[Link]:
    return {(i, j) for j, row in enumerate(_matrix(forced, shift)) for i, weight in enumerate(row) if weight >= threshold}


SERVER_METHOD = "intersect/shift"  # what the server does: word_links on the rows reading each piece
METHODS: dict[str, Callable[[Forced, bool, float], set[Link]]] = {
    "argmax": links_argmax,
    "intersect": links_intersect,
    "grow-diag": links_grow_diag,
    "threshold": links_threshold,
}


def evaluate(forced: Sequence[Forced], gold: Sequence[GoldPair], threshold: float = 0.3) -> dict[str, Scores]:
    """Scores of every method × (step, shift), keyed "method/step" or "method/shift"."""
    results = {}
    for name, method in METHODS.items():
        for shift in (False, True):
            predicted = [method(f, shift, threshold) for f in forced]
            results[f"{name}/{'shift' if shift else 'step'}"] = score(predicted, gold)
    return results


def alignment_settings(model_dir: Path) -> dict[str, int]:
    """decoder alignment_layer, alignment_heads, num_heads and layer count, read from model.bin ({} if unreadable)."""
    wanted = {"decoder/alignment_layer", "decoder/alignment_heads", "decoder/num_heads"}
    found: dict[str, int] = {}
    layers: set[str] = set()
    try:
        with open(Path(model_dir) / "model.bin", "rb") as model:
            def number(fmt: str) -> int:
                return struct.unpack(fmt, model.read(struct.calcsize(fmt)))[0]

            def string() -> str:
                return model.read(number("H")).rstrip(b"\0").decode("utf-8")

            number("I")  # binary version
            string()  # spec name
            number("I")  # revision
            for _ in range(number("I")):
                name = string()
                shape = [number("I") for _ in range(number("B"))]
                dtype, size = number("B"), number("I")
                if name in wanted and not shape and dtype in (1, 2, 3):  # int8, int16, int32 scalars
                    found[name.split("/")[1]] = int.from_bytes(model.read(size), "little", signed=True)
                else:
                    model.seek(size, 1)
                if name.startswith("decoder/layer_"):
                    layers.add(name.split("/")[1])
    except (OSError, struct.error, UnicodeDecodeError):
        return {}
    if layers:
        found["num_layers"] = len(layers)
    return found


def describe_attention(settings: dict[str, int]) -> str:
    if "alignment_layer" not in settings:
        return "attention: CTranslate2's alignment layer and heads (not readable from model.bin)"
    layer, heads = settings["alignment_layer"], settings.get("alignment_heads", 1)
    of_layers = f" of {settings['num_layers']}" if "num_layers" in settings else ""
    of_heads = f" of {settings['num_heads']}" if "num_heads" in settings else ""
    if heads == 0:
        which = f"all {settings['num_heads']} heads averaged" if "num_heads" in settings else "all heads averaged"
    else:
        which = ("head 0" if heads == 1 else f"heads 0-{heads - 1} averaged") + of_heads
    return f"attention: decoder layer {layer}{of_layers}, {which} (alignment_layer={layer}, alignment_heads={heads})"


def report(results: dict[str, Scores], out) -> None:
    out.write(f"{'method':<18} {'precision':>9} {'recall':>7} {'AER':>7} {'links':>7}\n")
    for name, s in results.items():
        marker = "  (the server's method)" if name == SERVER_METHOD else ""
        out.write(f"{name:<18} {s.precision:>9.4f} {s.recall:>7.4f} {s.aer:>7.4f} {s.links:>7}{marker}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alinea.server.alignment_eval",
        description="Alignment error rate of a model's attention alignments on the WPT-2003 Hansards gold set (fr-en).",
    )
    parser.add_argument("--model-dir", type=Path, required=True, help="an alinea model directory translating French into English")
    parser.add_argument("--set", choices=SETS, default="test", help="test (447 pairs) or trial (37, for tuning) (default %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=GOLD_DIR, help="folder of the hansards-* files (default %(default)s)")
    parser.add_argument("--threshold", type=float, default=0.3, help="word attention for the threshold method (default %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="CTranslate2 threads (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        gold = load_gold(args.data_dir, args.set)
    except (OSError, ValueError) as exc:
        print(f"alignment_eval: cannot read the gold set: {exc}", file=sys.stderr)
        return 2
    try:
        forced = ForcedDecoder(args.model_dir, threads=args.threads).decode(gold)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"alignment_eval: {args.model_dir}: {exc}", file=sys.stderr)
        return 2
    sure = sum(len(g.sure) for g in gold)
    possible = sum(len(g.possible) for g in gold) - sure
    print(f"WPT-2003 Hansards fr-en, {args.set} set: {len(gold)} sentence pairs, {sure} sure + {possible} possible links")
    print(f"model: {args.model_dir}; {describe_attention(alignment_settings(args.model_dir))}")
    report(evaluate(forced, gold, args.threshold), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
