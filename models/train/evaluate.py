"""Score a converted model: BLEU and chrF on the FLORES-200 dev set and on the seed article.

Translation goes through the server's own translator
(alinea.server.translate: SentencePiece pieces + ``</s>`` in, pieces out,
the server's threads, decoding limits and the model's length penalty), so
the figures, timings included, describe the shipped model as served, not
the PyTorch checkpoint.

    python -m alinea.models.train.evaluate models/alinea-fr-en [--beam 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from alinea.models.manifest import MANIFEST, Manifest
from alinea.server.translate import Translator as ServerTranslator
from alinea.server.translate import TranslatorSettings

REPO = Path(__file__).resolve().parents[2]
DEV_SRC = REPO / "tests/quality/flores200-dev/flores200-dev.fr"  # the in-repo copy of FLORES-200 dev
DEV_REF = REPO / "tests/quality/flores200-dev/flores200-dev.en"
SEED_SRC = REPO / "seeds/kremlin-pekin.fr.txt"
SEED_REF = REPO / "seeds/kremlin-pekin.en.ref.txt"

# A sentence ends at . ! ? or … (optionally followed by a closing quote) before a space and an
# upper-case letter, a digit or an opening quote. Enough for news prose.
_SENTENCE_END = re.compile(r"[.!?…][»\"]?(?=\s+[«\"A-ZÀ-ÖØ-Þ0-9])")
# Words after which a period does not end a sentence: initials and common French abbreviations.
_NOT_AN_END = re.compile(r"(?:\b[A-ZÀ-Þ]|\b(?:M|MM|Mme|Mlle|Dr|St|Ste|etc|av|apr|p|cf|no|art))\.$")


class Translator:
    """A model directory ready to translate lines, through the server's own translator.

    alinea.server.translate.Translator with the server's settings (one
    CTranslate2 replica per core, token batches, a decoding limit per
    sentence) and the model's length penalty: the scores and the timings
    are the service's.
    """

    def __init__(self, model_dir: Path, threads: int = 2, length_penalty: float | None = None):
        """`threads`: CTranslate2 replicas, one core each. `length_penalty`: None for the manifest's
        (1.0 for a directory without one, as during training)."""
        import sentencepiece as spm

        self.model_dir = Path(model_dir)
        if length_penalty is None:
            has_manifest = (self.model_dir / MANIFEST).is_file()
            length_penalty = Manifest.read(self.model_dir).length_penalty if has_manifest else 1.0
        self.length_penalty = length_penalty
        settings = TranslatorSettings(inter_threads=threads, intra_threads=1, length_penalty=length_penalty)
        self.translator = ServerTranslator(self.model_dir, settings)
        self.source = spm.SentencePieceProcessor(model_file=str(self.model_dir / "source.spm"))
        self.target = spm.SentencePieceProcessor(model_file=str(self.model_dir / "target.spm"))

    def translate(self, lines: list[str], beam_size: int = 4) -> list[str]:
        """Translate each line; empty lines stay empty."""
        todo = [i for i, line in enumerate(lines) if line.strip()]
        pieces = [self.source.encode(lines[i], out_type=str) + ["</s>"] for i in todo]
        out = [""] * len(lines)
        for i, hypothesis in zip(todo, self.translator.translate(pieces, beam_size=beam_size, attention=False)):
            out[i] = self.target.decode(hypothesis.tokens)
        return out


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph of prose into sentences (the model was trained on sentences)."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        if _NOT_AN_END.search(paragraph[start : match.end()]):
            continue
        sentences.append(paragraph[start : match.end()].strip())
        start = match.end()
    sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]


def translate_paragraphs(translator: Translator, paragraphs: list[str], beam_size: int = 4) -> list[str]:
    """Translate paragraph by paragraph, sentence by sentence inside each, in one batch."""
    sentences = [split_sentences(p) for p in paragraphs]
    flat = translator.translate([s for group in sentences for s in group], beam_size=beam_size)
    out, k = [], 0
    for group in sentences:
        out.append(" ".join(flat[k : k + len(group)]))
        k += len(group)
    return out


def score(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU (sacreBLEU 13a) and chrF2, rounded to 0.01."""
    import sacrebleu

    bleu = sacrebleu.corpus_bleu(hypotheses, [references])
    chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    return {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2)}


_NUMBER = re.compile(r"\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?")
_NAME = re.compile(r"(?<=\S )[A-ZÀ-Þ][\w-]*[a-zà-ÿ][\w-]*")


def copy_rates(sources: list[str], hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """How often numbers and names that should pass through unchanged do.

    numbers: every number in the source, compared by its digits alone (French
    "100.000" and English "100,000" match), found in the hypothesis.
    names: capitalised words inside a source sentence that the reference also
    contains verbatim (so they are names written the same in both languages),
    found verbatim in the hypothesis.
    """
    numbers = numbers_found = names = names_found = 0
    for src, hyp, ref in zip(sources, hypotheses, references):
        hyp_digits = {re.sub(r"\D", "", n) for n in _NUMBER.findall(hyp)}
        for n in _NUMBER.findall(src):
            numbers += 1
            numbers_found += re.sub(r"\D", "", n) in hyp_digits
        hyp_words = set(re.findall(r"[\w-]+", hyp))
        ref_words = set(re.findall(r"[\w-]+", ref))
        for name in set(_NAME.findall(src)) & ref_words:
            names += 1
            names_found += name in hyp_words
    return {"numbers": round(100 * numbers_found / max(numbers, 1), 1), "numbers_total": numbers,
            "names": round(100 * names_found / max(names, 1), 1), "names_total": names}


def hansards_aer(model_dir: Path, threads: int = 2) -> dict[str, float]:
    """AER on the WPT-2003 Hansards test set: "argmax", the head's own reading (each target piece's most attended
    source piece), and "server", the server's method (alignment_eval.SERVER_METHOD)."""
    from alinea.server import alignment_eval

    gold = alignment_eval.load_gold(alignment_eval.GOLD_DIR, "test")
    results = alignment_eval.evaluate(alignment_eval.ForcedDecoder(model_dir, threads=threads).decode(gold), gold)
    return {"argmax": round(results["argmax/shift"].aer, 4), "server": round(results[alignment_eval.SERVER_METHOD].aer, 4)}


def read_lines(path: Path, limit: int | None = None) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return lines[:limit] if limit else lines


def read_paragraphs(path: Path) -> list[str]:
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Report:
    model_dir: str
    beam_size: int
    dev_lines: int
    dev_bleu: float
    dev_chrf: float
    dev_seconds: float
    seed_paragraphs: int
    seed_bleu: float
    seed_chrf: float
    seed_seconds: float  # translating the article, model already loaded
    load_seconds: float
    model_mb: float
    dev_numbers_copied: float  # % of source numbers found in the output (see copy_rates)
    dev_numbers_total: int
    dev_names_copied: float  # % of verbatim-in-reference names found in the output
    dev_names_total: int
    hansards_aer: float  # alignment error rate on the WPT-2003 Hansards test set, the server's method
    hansards_aer_argmax: float  # the same, each target piece linked to its most attended source piece
    length_penalty: float  # the beam search's, the manifest's unless overridden


def evaluate(model_dir: Path, *, beam_size: int = 4, dev_src: Path = DEV_SRC, dev_ref: Path = DEV_REF,
             seed_src: Path = SEED_SRC, seed_ref: Path = SEED_REF, dev_limit: int | None = None, threads: int = 2,
             hypotheses_out: Path | None = None) -> Report:
    """Translate the dev set and the seed article with the converted model and score both."""
    t0 = time.perf_counter()
    translator = Translator(model_dir, threads)
    load = time.perf_counter() - t0
    dev_lines, dev_refs = read_lines(dev_src, dev_limit), read_lines(dev_ref, dev_limit)
    t0 = time.perf_counter()
    dev_hyps = translator.translate(dev_lines, beam_size=beam_size)
    dev_seconds = time.perf_counter() - t0
    seed_pars, seed_refs = read_paragraphs(seed_src), read_paragraphs(seed_ref)
    if len(seed_pars) != len(seed_refs):
        raise ValueError(f"{seed_src} has {len(seed_pars)} paragraphs but {seed_ref} has {len(seed_refs)}")
    translate_paragraphs(translator, seed_pars[:1], beam_size)  # warm-up, so the timing below is steady-state
    t0 = time.perf_counter()
    seed_hyps = translate_paragraphs(translator, seed_pars, beam_size)
    seed_seconds = time.perf_counter() - t0
    if hypotheses_out:
        hypotheses_out.mkdir(parents=True, exist_ok=True)
        (hypotheses_out / "dev.hyp.en").write_text("\n".join(dev_hyps) + "\n", encoding="utf-8")
        (hypotheses_out / "seed.hyp.en").write_text("\n\n".join(seed_hyps) + "\n", encoding="utf-8")
    dev, seed = score(dev_hyps, dev_refs), score(seed_hyps, seed_refs)
    copies = copy_rates(dev_lines, dev_hyps, dev_refs)
    size = sum(p.stat().st_size for p in Path(model_dir).iterdir() if p.is_file()) / 2**20
    aer = hansards_aer(model_dir, threads)
    return Report(str(model_dir), beam_size, len(dev_lines), dev["bleu"], dev["chrf"], round(dev_seconds, 2),
                  len(seed_pars), seed["bleu"], seed["chrf"], round(seed_seconds, 3), round(load, 2), round(size, 1),
                  copies["numbers"], copies["numbers_total"], copies["names"], copies["names_total"],
                  aer["server"], aer["argmax"], translator.length_penalty)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alinea.models.train.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="converted model directory, e.g. models/alinea-fr-en")
    parser.add_argument("--beam", type=int, default=4, help="beam size (default 4; 1 = greedy)")
    parser.add_argument("--dev-src", type=Path, default=DEV_SRC)
    parser.add_argument("--dev-ref", type=Path, default=DEV_REF)
    parser.add_argument("--seed-src", type=Path, default=SEED_SRC)
    parser.add_argument("--seed-ref", type=Path, default=SEED_REF)
    parser.add_argument("--dev-limit", type=int, help="score only the first N dev lines")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hypotheses", type=Path, help="folder to write dev.hyp.en and seed.hyp.en to")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = evaluate(args.model_dir, beam_size=args.beam, dev_src=args.dev_src, dev_ref=args.dev_ref, seed_src=args.seed_src,
                      seed_ref=args.seed_ref, dev_limit=args.dev_limit, threads=args.threads, hypotheses_out=args.hypotheses)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print(f"model {report.model_dir} ({report.model_mb} MB), beam {report.beam_size}")
        print(f"FLORES-200 dev ({report.dev_lines} lines): BLEU {report.dev_bleu:.2f}  chrF {report.dev_chrf:.2f}  ({report.dev_seconds:.1f} s)")
        print(f"seed article ({report.seed_paragraphs} paragraphs): BLEU {report.seed_bleu:.2f}  chrF {report.seed_chrf:.2f}  "
              f"(translated in {report.seed_seconds:.2f} s, model load {report.load_seconds:.2f} s)")
        print(f"copied verbatim on dev: {report.dev_numbers_copied:.1f}% of {report.dev_numbers_total} numbers, "
              f"{report.dev_names_copied:.1f}% of {report.dev_names_total} names")
        print(f"word alignment on the Hansards test set: AER {report.hansards_aer:.4f} (the server's method), "
              f"{report.hansards_aer_argmax:.4f} (attention argmax)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
