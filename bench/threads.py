"""How to spend the cores: CTranslate2 thread layouts, sub-batch sizes and compute types on this machine.

    python bench/threads.py [--model-dir models/alinea-fr-en] [--sentences 316]

For each layout (inter_threads × intra_threads) and sub-batch size (source
tokens), then for each compute type CTranslate2 offers on this CPU in the
server's layout, prints the time raw CTranslate2 takes to translate
FLORES-200 dev sentences in one call (throughput), the median time of
`--latency-calls` (5) calls for the seed article's paragraphs (latency),
and the BLEU of the FLORES output. Every call decodes as alinea-server does
(alinea.server.translate.Translator: per-sentence decoding limits, the
model's length penalty, its vocabulary map where it has one, which a last
row turns off). The server's defaults (one batch per core, one thread per
batch, 512-token sub-batches, the type the model was converted to, the
vocabulary map) come from these figures: see docs/operations.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import ctranslate2
import sacrebleu
import sentencepiece as spm

from alinea.models.manifest import Manifest
from alinea.server.translate import Translator, TranslatorSettings, available_cores, uses_vocabulary_map

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "models" / "alinea-fr-en")
    parser.add_argument("--sentences", type=int, default=316)
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--latency-calls", type=int, default=5, help="seed article calls per setting, for the median")
    args = parser.parse_args()
    cores = available_cores()
    encode = spm.SentencePieceProcessor(model_file=str(args.model_dir / "source.spm"))

    def tokens(lines: list[str]) -> list[list[str]]:
        return [encode.encode(line, out_type=str) + ["</s>"] for line in lines if line.strip()]

    flores = tokens((REPO / "tests/quality/flores200-dev/flores200-dev.fr").read_text(encoding="utf-8")
                    .splitlines()[: args.sentences])
    references = (REPO / "tests/quality/flores200-dev/flores200-dev.en").read_text(encoding="utf-8")
    references = references.splitlines()[: len(flores)]
    seed = tokens((REPO / "seeds/kremlin-pekin.fr.txt").read_text(encoding="utf-8").split("\n"))
    manifest = Manifest.read(args.model_dir)
    length_penalty = manifest.length_penalty
    decode = spm.SentencePieceProcessor(model_file=str(args.model_dir / "target.spm"))
    layouts = sorted({(1, cores), (1, 1), (cores, 1), (2 * cores, 1)})
    runs = [TranslatorSettings(inter_threads=inter, intra_threads=intra, max_batch_tokens=sub_batch,
                               length_penalty=length_penalty)
            for inter, intra in layouts for sub_batch in (256, 512, 1024)]
    runs += [TranslatorSettings(compute_type=compute_type, length_penalty=length_penalty)
             for compute_type in sorted(ctranslate2.get_supported_compute_types("cpu"))]
    if uses_vocabulary_map(args.model_dir, TranslatorSettings()):
        runs.append(TranslatorSettings(length_penalty=length_penalty, vocabulary_map=False))
    print(f"{args.model_dir.name} ({manifest.quantization}), {cores} cores, "
          f"beam {args.beam_size}, length penalty {length_penalty:g}: {len(flores)} FLORES dev sentences in one "
          f"call; the seed article ({len(seed)} paragraphs, one input each), median of {args.latency_calls} calls")
    print("| inter × intra threads | sub-batch tokens | compute type | vocabulary map | FLORES s | sentences/s | seed s "
          "| FLORES BLEU |")
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for settings in runs:
        translator = Translator(args.model_dir, settings)

        def run(batch: list[list[str]]) -> tuple[float, list]:
            started = time.perf_counter()
            hypotheses = translator.translate(batch, beam_size=args.beam_size, attention=False)
            return time.perf_counter() - started, hypotheses

        run(seed)  # warm up
        throughput, hypotheses = run(flores)
        latency = statistics.median(run(seed)[0] for _ in range(args.latency_calls))
        bleu = sacrebleu.corpus_bleu([decode.decode(h.tokens) for h in hypotheses], [references]).score
        print(f"| {settings.inter_threads} × {settings.intra_threads} | {settings.max_batch_tokens} | "
              f"{settings.compute_type} | {'yes' if translator.vocabulary_map else 'no'} | {throughput:.2f} | "
              f"{len(flores) / throughput:.1f} | {latency:.3f} | {bleu:.2f} |", flush=True)


if __name__ == "__main__":
    main()
