"""How to spend the cores: CTranslate2 thread layouts and sub-batch sizes on this machine.

    python bench/threads.py [--model-dir models/alinea-fr-en] [--sentences 316]

For each layout (inter_threads × intra_threads) and sub-batch size (source
tokens), prints the time raw CTranslate2 takes to translate FLORES-200 dev
sentences in one translate_batch call (throughput) and the median time for
the seed article's sentences (latency, five calls). alinea-server's
defaults (one batch per core, one thread per batch, 512-token sub-batches)
come from these figures: see docs/operations.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import ctranslate2
import sentencepiece as spm

from alinea.server.translate import available_cores

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "models" / "alinea-fr-en")
    parser.add_argument("--sentences", type=int, default=316)
    parser.add_argument("--beam-size", type=int, default=4)
    args = parser.parse_args()
    cores = available_cores()
    encode = spm.SentencePieceProcessor(model_file=str(args.model_dir / "source.spm"))

    def tokens(lines: list[str]) -> list[list[str]]:
        return [encode.encode(line, out_type=str) + ["</s>"] for line in lines if line.strip()]

    flores = tokens((REPO / "tests/quality/flores200-dev/flores200-dev.fr").read_text(encoding="utf-8")
                    .splitlines()[: args.sentences])
    seed = tokens((REPO / "seeds/kremlin-pekin.fr.txt").read_text(encoding="utf-8").split("\n"))
    layouts = sorted({(1, cores), (1, 1), (cores, 1), (2 * cores, 1)})
    print(f"{args.model_dir.name}, {cores} cores, beam {args.beam_size}: {len(flores)} FLORES dev sentences "
          f"in one call; the seed article ({len(seed)} paragraphs, one input each), median of 5 calls")
    print("| inter × intra threads | sub-batch tokens | FLORES s | sentences/s | seed s |")
    print("|---|---:|---:|---:|---:|")
    for inter, intra in layouts:
        translator = ctranslate2.Translator(str(args.model_dir), device="cpu", inter_threads=inter, intra_threads=intra)
        for sub_batch in (256, 512, 1024):
            def run(batch: list[list[str]]) -> float:
                started = time.perf_counter()
                translator.translate_batch(batch, beam_size=args.beam_size, max_batch_size=sub_batch,
                                           batch_type="tokens", max_decoding_length=512)
                return time.perf_counter() - started

            run(seed)  # warm up
            throughput = run(flores)
            latency = statistics.median(run(seed) for _ in range(5))
            print(f"| {inter} × {intra} | {sub_batch} | {throughput:.2f} | {len(flores) / throughput:.1f} | "
                  f"{latency:.3f} |", flush=True)
        del translator


if __name__ == "__main__":
    main()
