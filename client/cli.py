"""`alinea`: translate files through an alinea server, list its models.

    alinea translate article.fr.txt                   # translation to stdout
    alinea translate *.txt -o out/ --format tmx       # one .tmx per input
    cat a.txt | alinea translate - --format jsonl     # stdin to stdout
    alinea models
    alinea batch corpus.jsonl out.jsonl --tmx out.tmx # a corpus on Ray, resumable
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO

import grpc

from alinea.client.client import DEFAULT_TARGET, CredentialsError, Options, TranslationClient
from alinea.client.formats import WRITERS

# Formats whose output is one document with a header: they cannot be concatenated.
WHOLE_DOCUMENT_FORMATS = ("tmx", "xliff", "html")


def _progress(items: list[Path]):
    """A progress bar over several files when tqdm is installed (it comes with alinea[server])."""
    if len(items) < 2:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, unit="file", file=sys.stderr)


def _output_path(source: Path, out: Path | None, several: bool, args: argparse.Namespace) -> Path | None:
    """Where one input's translation goes; None for stdout."""
    if out is None or str(out) == "-":
        return None
    if not (several or out.is_dir() or str(out).endswith("/")):
        return out
    stem = source.name if str(source) != "-" else "stdin"
    for suffix in (".txt", ".md", f".{args.source_language}"):
        if suffix != "." and stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    extension = WRITERS[args.format][1]
    return out / f"{stem}.{args.target_language}.{extension}"


def _read(source: Path) -> str:
    if str(source) == "-":
        return sys.stdin.read()
    return source.read_text(encoding="utf-8")


def read_glossary(path: Path) -> dict[str, str]:
    """A glossary file: one term a line, `source<TAB>target` (no target: keep the term verbatim); # comments.

    ValueError names the line of a malformed or contradictory entry.
    """
    glossary: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        source, _, target = line.partition("\t")
        source, target = source.strip(), target.strip()
        if not source or "\t" in target:
            raise ValueError(f"line {number}: expected `source<TAB>target` or a lone source term")
        if glossary.get(source, target) != target:
            raise ValueError(f"line {number}: {source!r} already has the target {glossary[source]!r}")
        glossary[source] = target
    return glossary


def cmd_translate(args: argparse.Namespace) -> int:
    several = len(args.files) > 1
    if several and args.format in WHOLE_DOCUMENT_FORMATS and args.output in (None, Path("-")):
        print(f"alinea: several {args.format} documents cannot share stdout; pass -o DIRECTORY", file=sys.stderr)
        return 2
    if args.output is not None and (several or str(args.output).endswith("/")):
        args.output.mkdir(parents=True, exist_ok=True)
    writer = WRITERS[args.format][0]
    try:
        glossary = read_glossary(args.glossary) if args.glossary else None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"alinea: --glossary {args.glossary}: {exc}", file=sys.stderr)
        return 2
    options = Options(beam_size=args.beam_size, word_alignment=False if args.no_alignment else None,
                      entities=args.entities, glossary=glossary)
    failures = 0
    with _connect(args) as client:
        if not _wait(client, args):
            return 1
        test_only = _test_only_models(client, args.server)
        if test_only is None:
            return 1
        for source in _progress(args.files):
            try:
                text = _read(source)
            except (OSError, UnicodeDecodeError) as exc:
                print(f"alinea: {source}: cannot read: {exc}", file=sys.stderr)
                failures += 1
                continue
            try:
                response = client.translate(
                    text,
                    source_language=args.source_language,
                    target_language=args.target_language,
                    model=args.model,
                    options=options,
                    document_id=str(source),
                )
            except grpc.RpcError as exc:
                print(f"alinea: {source}: {exc.code().name}: {exc.details()}", file=sys.stderr)
                failures += 1
                continue
            if response.model in test_only:
                print(
                    f"alinea: warning: {response.model} is a random-weight test model; this translation is noise",
                    file=sys.stderr,
                )
            target = _output_path(source, args.output, several, args)
            with (open(target, "w", encoding="utf-8") if target else nullcontext(sys.stdout)) as out:
                writer(response, out)
    return 1 if failures else 0


def _connect(args: argparse.Namespace) -> TranslationClient:
    """A client with the common options: server, timeout, TLS files and token (CredentialsError if unusable)."""
    return TranslationClient(args.server, timeout=args.timeout, token=args.token or None, tls=args.tls,
                             tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key)


def _wait(client: TranslationClient, args: argparse.Namespace) -> bool:
    """Give a server that is still starting `--wait` seconds to come up."""
    if args.wait <= 0:
        return True
    try:
        client.wait_until_ready(args.wait)
    except grpc.FutureTimeoutError:
        print(f"alinea: server {args.server} did not come up within {args.wait:g}s", file=sys.stderr)
        return False
    return True


def _test_only_models(client: TranslationClient, server: str) -> set[str] | None:
    """Names of the server's random-weight models (None, after saying why, if it cannot be asked)."""
    try:
        return {m.name for m in client.list_models() if m.test_only}
    except grpc.RpcError as exc:
        print(f"alinea: server {server}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return None


def cmd_models(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        if not _wait(client, args):
            return 1
        try:
            models = client.list_models(args.source_language or "", args.target_language or "")
        except grpc.RpcError as exc:
            print(f"alinea: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    _print_models(models, sys.stdout)
    return 0


def _print_models(models, out: TextIO) -> None:
    rows = [("NAME", "PAIR", "DEFAULT", "WEIGHTS", "DESCRIPTION")]
    for m in models:
        description = ("[TEST ONLY] " if m.test_only else "") + m.description
        rows.append((m.name, f"{m.source_language_code}→{m.target_language_code}", "yes" if m.default else "", m.quantization, description))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] + "\n")


def cmd_batch(args: argparse.Namespace) -> int:
    """Translate a corpus with the pipeline in Ray workers (no server); exit 1 when any document failed."""
    try:
        from alinea.server import batch
    except ImportError as exc:  # Ray and the pipeline come with alinea[batch]
        print(f"alinea batch needs Ray and the server's pipeline: pip install 'alinea[batch]' ({exc})", file=sys.stderr)
        return 2
    try:
        glossary = read_glossary(args.glossary) if args.glossary else {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"alinea batch: --glossary {args.glossary}: {exc}", file=sys.stderr)
        return 2
    spec = batch.ModelSpec(
        model_dirs=tuple(str(p) for p in args.model_dir), shipped_models=not args.no_shipped_models,
        source_language=args.source_language, target_language=args.target_language, model=args.model,
        beam_size=args.beam_size, word_alignment=not args.no_alignment, entities=args.entities,
        glossary=tuple(glossary.items()), threads=args.threads_per_worker, window=args.window,
        max_request_chars=args.max_request_chars, max_request_sentences=args.max_request_sentences,
    )
    config = batch.BatchConfig(
        inputs=tuple(args.inputs), output=args.output, spec=spec, unit="line" if args.lines else "file",
        text_field=args.text_field, shard_size=args.shard_size, tmx=args.tmx, errors=args.errors,
        work_dir=args.work_dir, ray_address=args.ray_address, num_cpus=args.num_cpus, workers=args.workers,
        overwrite=args.overwrite, keep_parts=args.keep_parts, progress=not args.no_progress,
    )
    try:
        summary = batch.run(config)
    except batch.BatchError as exc:
        print(f"alinea batch: {exc}", file=sys.stderr)
        return 2
    print(f"alinea batch: {summary.line()}", file=sys.stderr)
    print(f"alinea batch: wrote {', '.join(summary.outputs)}", file=sys.stderr)
    return 1 if summary.errors else 0


DEFAULT_TESTSETS = Path("tests/quality/testsets.json")
DEFAULT_BASELINES = Path("tests/quality/baselines")


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        from alinea.client import evaluate
    except ImportError as exc:  # sacrebleu comes with alinea[server]
        print(f"alinea eval needs sacrebleu: pip install 'alinea[server]' ({exc})", file=sys.stderr)
        return 2
    if args.compare:
        return _compare(evaluate, args)
    try:
        testsets = _testsets(evaluate, args)
    except (ValueError, OSError) as exc:
        print(f"alinea eval: {exc}", file=sys.stderr)
        return 2
    if args.hypotheses and len(testsets) != 1:
        print("alinea eval: --hypotheses scores one test set; pick it with --testset NAME", file=sys.stderr)
        return 2

    reports = []
    with _connect(args) as client:
        translate = None
        for testset in testsets:
            if args.hypotheses:
                hypotheses, model, entities = testset.units(args.hypotheses), args.model or "hypotheses", None
            else:
                if translate is None:
                    translate = (
                        evaluate.in_process_translator(args.model_dir, args.model, entities=args.entities)
                        if args.in_process
                        else evaluate.server_translator(client, args.model, entities=args.entities)
                    )
                try:
                    output = evaluate.translate_testset(testset, translate)
                    hypotheses, model, entities = output.hypotheses, output.model, output.entities
                except (grpc.RpcError, RuntimeError) as exc:
                    detail = f"{exc.code().name}: {exc.details()}" if isinstance(exc, grpc.RpcError) else str(exc)
                    print(f"alinea eval: {testset.name}: {detail}", file=sys.stderr)
                    return 1
            try:
                reports.append(evaluate.score(testset, hypotheses, model, entities))
            except ValueError as exc:
                print(f"alinea eval: {exc}", file=sys.stderr)
                return 2
            if args.output_dir:
                args.output_dir.mkdir(parents=True, exist_ok=True)
                (args.output_dir / f"{testset.name}.hyp").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")

    _print_reports(reports, sys.stdout)
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in reports], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.update_baseline:
        for report in reports:
            print(f"baseline written: {evaluate.save_baseline(report, args.baselines)}")
    if not args.check:
        return 0
    tolerances = {"BLEU": args.tolerance_bleu, "chrF": args.tolerance_chrf, "chrF++": args.tolerance_chrf,
                  "entities": args.tolerance_entities}
    failed = False
    for testset, report in zip(testsets, reports):
        baseline = evaluate.load_baseline(args.baselines, report.model, report.testset)
        if baseline is None:
            print(f"FAIL {report.testset}: no baseline for model {report.model} in {args.baselines}; "
                  "record one with --update-baseline")
            failed = True
            continue
        regressions = evaluate.check(report, baseline, tolerances)
        for regression in regressions:
            print(f"FAIL {regression}")
        if regressions:
            failed = True
            _print_drops(evaluate.worst_drops(testset, baseline.hypotheses, report.hypotheses, args.worst), sys.stdout)
        else:
            print(f"ok   {report.testset}: within tolerance of the baseline")
    return 1 if failed else 0


def _testsets(evaluate, args: argparse.Namespace):
    if args.source or args.reference:
        if not (args.source and args.reference):
            raise ValueError("--source and --reference go together")
        return [evaluate.TestSet(args.name or args.source.stem, args.source, args.reference, args.level,
                                 args.source_language, args.target_language)]
    manifest = args.testsets or DEFAULT_TESTSETS
    if not manifest.is_file():
        raise ValueError(f"no test set manifest at {manifest}: pass --testsets FILE or --source/--reference")
    testsets = evaluate.load_testsets(manifest)
    if args.testset:
        chosen = [t for t in testsets if t.name in args.testset]
        unknown = set(args.testset) - {t.name for t in chosen}
        if unknown:
            raise ValueError(f"unknown test sets {sorted(unknown)}; {manifest} has {[t.name for t in testsets]}")
        testsets = chosen
    return testsets


def _print_reports(reports, out: TextIO) -> None:
    header = ("test set", "model", "units", "BLEU", "chrF", "chrF++", "entities (list)", "entities (in reference)")
    rows = [header]
    for r in reports:
        listed = "" if r.entity_preservation is None else f"{100 * r.entity_preservation:.1f}%"
        in_reference = "" if r.reference_entity_rate is None else \
            f"{100 * r.reference_entity_rate:.1f}% of {r.reference_entities}"
        rows.append((r.testset, r.model, str(r.units), *(f"{r.scores[m].score:.2f}" for m in ("BLEU", "chrF", "chrF++")),
                     listed, in_reference))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")
    if reports:
        out.write("signatures:\n")
        for metric, result in reports[0].scores.items():
            out.write(f"  {metric}: {result.signature}\n")


def _print_drops(drops, out: TextIO) -> None:
    if drops:
        out.write("  segments whose chrF fell most (baseline → now):\n")
    for d in drops:
        out.write(f"  #{d.index}  chrF {d.baseline_chrf} → {d.current_chrf}\n"
                  f"    source:    {d.source}\n    reference: {d.reference}\n"
                  f"    baseline:  {d.baseline}\n    now:       {d.current}\n")


def _compare(evaluate, args: argparse.Namespace) -> int:
    if not args.reference:
        print("alinea eval --compare needs --reference", file=sys.stderr)
        return 2
    a, b = args.compare
    try:
        units = [evaluate.split_units(p.read_text(encoding="utf-8"), args.level) for p in (args.reference, a, b)]
        results = evaluate.compare(*units, names=(str(a), str(b)), samples=args.bootstrap_samples)
    except (OSError, ValueError) as exc:
        print(f"alinea eval: {exc}", file=sys.stderr)
        return 2
    print(f"paired bootstrap resampling, {args.bootstrap_samples} samples; B = {b} against A = {a}")
    for metric, (score_a, score_b, p_value, signature) in results.items():
        verdict = "significant" if p_value is not None and p_value < 0.05 else "not significant"
        print(f"  {metric:8} A {score_a:6.2f}  B {score_b:6.2f}  Δ {score_b - score_a:+6.2f}  p = {p_value:.4f} ({verdict})")
        print(f"           {signature}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alinea", description="Translate files through an alinea server.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", default=DEFAULT_TARGET, help="server address [ALINEA_SERVER] (default %(default)s)")
    common.add_argument("--timeout", type=float, default=600.0, help="seconds per call (default %(default)s)")
    common.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for a server that is still starting (default: don't wait)")
    common.add_argument("--tls", action="store_true",
                        help="connect with TLS, trusting the system's root certificates (implied by --tls-ca)")
    common.add_argument("--tls-ca", type=Path, metavar="PEM", help="connect with TLS, trusting this CA bundle")
    common.add_argument("--tls-cert", type=Path, metavar="PEM", help="client certificate, for mutual TLS (with --tls-key)")
    common.add_argument("--tls-key", type=Path, metavar="PEM", help="private key of --tls-cert")
    common.add_argument("--token", default=os.environ.get("ALINEA_TOKEN", ""),
                        help="bearer token sent with every call [ALINEA_TOKEN]; prefer the environment variable, "
                        "a command line shows in shell history and `ps`")
    sub = parser.add_subparsers(dest="command", required=True)

    translate = sub.add_parser("translate", parents=[common], help="translate text files")
    translate.add_argument("files", nargs="+", type=Path, metavar="FILE", help="UTF-8 text files; - for stdin")
    translate.add_argument("-o", "--output", type=Path, help="output file, or directory for several inputs (default stdout)")
    translate.add_argument("-f", "--format", choices=sorted(WRITERS), default="text", help="output format (default %(default)s)")
    translate.add_argument("-s", "--source-language", default="fr", help="language of the input (default %(default)s)")
    translate.add_argument("-t", "--target-language", default="en", help="language to translate into (default %(default)s)")
    translate.add_argument("--model", default="", help="model name from `alinea models` (default: the server's choice)")
    translate.add_argument("--beam-size", type=int, help="beam size, 1-16 (default: the server's)")
    translate.add_argument("--no-alignment", action="store_true", help="skip word alignment (faster)")
    translate.add_argument("--entities", choices=("preserve", "report", "off"),
                           help="named entities, numbers and dates: preserve (check and repair, the server's default), "
                           "report (check only), off (skip, fastest)")
    translate.add_argument("--glossary", type=Path, metavar="TSV",
                           help="terms to enforce: `source<TAB>target` per line, or a lone term to keep verbatim")
    translate.set_defaults(run=cmd_translate)

    models = sub.add_parser("models", parents=[common], help="list the server's models")
    models.add_argument("-s", "--source-language", help="only models from this language")
    models.add_argument("-t", "--target-language", help="only models into this language")
    models.set_defaults(run=cmd_models)

    bt = sub.add_parser(
        "batch", help="translate a corpus on Ray (no server), resumably",
        description="Translate JSONL or text files with the server's pipeline in Ray workers, each loading the model "
        "once, into JSONL segments (as `translate --format jsonl`), TMX on request, and an errors file. Without "
        "--ray-address a local Ray instance is started. Run the same command again to resume an interrupted run: "
        "finished shards are kept, nothing is written twice. Exit status 1 when any document is in the errors file.")
    bt.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                    help="JSONL files (one {\"id\", \"text\"} object a line), text files (one document each, or a line "
                    "each with --lines), or folders of them")
    bt.add_argument("output", type=Path, metavar="OUTPUT", help="JSONL output: one segment a line, documents in input order")
    bt.add_argument("--tmx", type=Path, metavar="PATH", help="also write every segment into one TMX 1.4b file")
    bt.add_argument("--errors", type=Path, metavar="PATH",
                    help="documents that failed, one JSON object a line (default OUTPUT with .errors.jsonl)")
    bt.add_argument("--ray-address", metavar="ADDR",
                    help="Ray cluster to run on (host:port, ray://host:10001, or auto); default: RAY_ADDRESS if set, "
                    "else a local Ray instance started for this run")
    bt.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    bt.add_argument("--workers", type=int, help="model-loading workers (default: the cluster's CPUs / --threads-per-worker)")
    bt.add_argument("--threads-per-worker", type=int, default=1, help="CTranslate2 threads per worker (default %(default)s)")
    bt.add_argument("--window", type=int, default=16,
                    help="documents each worker translates at once (default %(default)s); 1 gives byte for byte the "
                    "output of one TranslateDocument call at a time, more fill batches better")
    bt.add_argument("--shard-size", type=int, default=64,
                    help="documents per shard, the unit of resumption (default %(default)s)")
    bt.add_argument("--lines", action="store_true", help="text files hold one document per line (default: per file)")
    bt.add_argument("--text-field", default="text", help="JSONL field holding the text (default %(default)s)")
    bt.add_argument("--work-dir", type=Path, help="where finished shards are kept until the end (default OUTPUT.parts)")
    bt.add_argument("--keep-parts", action="store_true", help="keep the work directory after the run")
    bt.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    bt.add_argument("--no-progress", action="store_true", help="no progress bar")
    bt.add_argument("--model-dir", type=Path, action="append", default=[], help="extra model directories (repeatable)")
    bt.add_argument("--no-shipped-models", action="store_true", help="only the --model-dir models")
    bt.add_argument("-s", "--source-language", default="fr", help="language of the input (default %(default)s)")
    bt.add_argument("-t", "--target-language", default="en", help="language to translate into (default %(default)s)")
    bt.add_argument("--model", default="", help="model name (default: the default model for the pair)")
    bt.add_argument("--beam-size", type=int, help="beam size, 1-16 (default 4)")
    bt.add_argument("--no-alignment", action="store_true", help="skip word alignment (faster)")
    bt.add_argument("--entities", choices=("preserve", "report", "off"), help="named entities (default: preserve)")
    bt.add_argument("--glossary", type=Path, metavar="TSV", help="terms to enforce, as for `alinea translate`")
    bt.add_argument("--max-request-chars", type=int, default=100_000,
                    help="longer documents go to the errors file, as a server refuses them (default %(default)s)")
    bt.add_argument("--max-request-sentences", type=int, default=5_000,
                    help="documents with more sentences go to the errors file (default %(default)s)")
    bt.set_defaults(run=cmd_batch)

    ev = sub.add_parser("eval", parents=[common], help="score translation quality (BLEU, chrF, chrF++) and gate on baselines",
                        description="Translate test sets and score them with sacrebleu; --check fails when a score "
                        "falls below its stored baseline by more than the tolerance.")
    ev.add_argument("--testsets", type=Path, help=f"test set manifest (default {DEFAULT_TESTSETS})")
    ev.add_argument("--testset", action="append", metavar="NAME", help="only this test set of the manifest; repeatable")
    ev.add_argument("--source", type=Path, help="a source file to evaluate instead of a manifest")
    ev.add_argument("--reference", type=Path, help="its reference (line- or paragraph-aligned)")
    ev.add_argument("--level", choices=("sentence", "document"), default="sentence",
                    help="sentence: line-aligned files; document: paragraph-aligned (default %(default)s)")
    ev.add_argument("--name", help="test set name for --source (default: the file's stem)")
    ev.add_argument("-s", "--source-language", default="fr")
    ev.add_argument("-t", "--target-language", default="en")
    ev.add_argument("--model", default="", help="model to evaluate (default: the server's default for the pair)")
    ev.add_argument("--in-process", action="store_true", help="translate in this process instead of through --server")
    ev.add_argument("--model-dir", type=Path, action="append", default=[], help="with --in-process: extra model directories")
    ev.add_argument("--hypotheses", type=Path, help="score this existing output instead of translating")
    ev.add_argument("--entities", choices=("preserve", "report", "off"), default="preserve",
                    help="entity handling to translate with: preserve (check and repair), report (check only), "
                    "off (default %(default)s)")
    ev.add_argument("--output-dir", type=Path, help="write each test set's hypotheses here")
    ev.add_argument("--json", type=Path, help="write the scores and signatures as JSON")
    ev.add_argument("--baselines", type=Path, default=DEFAULT_BASELINES, help="baseline folder (default %(default)s)")
    ev.add_argument("--update-baseline", action="store_true", help="store these results as the baselines")
    ev.add_argument("--check", action="store_true", help="exit 1 if a score fell below its baseline by more than the tolerance")
    ev.add_argument("--tolerance-bleu", type=float, default=1.0, help="BLEU points (default %(default)s)")
    ev.add_argument("--tolerance-chrf", type=float, default=1.0, help="chrF and chrF++ points (default %(default)s)")
    ev.add_argument("--tolerance-entities", type=float, default=0.5,
                    help="entity preservation, percentage points (default %(default)s)")
    ev.add_argument("--worst", type=int, default=5, help="segments to show that fell most (default %(default)s)")
    ev.add_argument("--compare", nargs=2, type=Path, metavar=("OUT_A", "OUT_B"),
                    help="paired bootstrap test of two outputs against --reference")
    ev.add_argument("--bootstrap-samples", type=int, default=1000, help="for --compare (default %(default)s)")
    ev.set_defaults(run=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CredentialsError as exc:
        print(f"alinea: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
