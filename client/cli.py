"""`alinea`: translate files through an alinea server, list its models.

    alinea translate article.fr.txt                   # translation to stdout
    alinea translate *.txt -o out/ --format tmx       # one .tmx per input
    cat a.txt | alinea translate - --format jsonl     # stdin to stdout
    alinea models
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO

import grpc

from alinea.client.client import DEFAULT_TARGET, Options, TranslationClient
from alinea.client.formats import WRITERS


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


def cmd_translate(args: argparse.Namespace) -> int:
    several = len(args.files) > 1
    if several and args.format == "tmx" and args.output in (None, Path("-")):
        print("alinea: several TMX documents cannot share stdout; pass -o DIRECTORY", file=sys.stderr)
        return 2
    if args.output is not None and (several or str(args.output).endswith("/")):
        args.output.mkdir(parents=True, exist_ok=True)
    writer = WRITERS[args.format][0]
    options = Options(beam_size=args.beam_size, word_alignment=False if args.no_alignment else None)
    failures = 0
    with TranslationClient(args.server, timeout=args.timeout) as client:
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
    with TranslationClient(args.server, timeout=args.timeout) as client:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alinea", description="Translate files through an alinea server.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", default=DEFAULT_TARGET, help="server address [ALINEA_SERVER] (default %(default)s)")
    common.add_argument("--timeout", type=float, default=600.0, help="seconds per call (default %(default)s)")
    common.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for a server that is still starting (default: don't wait)")
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
    translate.set_defaults(run=cmd_translate)

    models = sub.add_parser("models", parents=[common], help="list the server's models")
    models.add_argument("-s", "--source-language", help="only models from this language")
    models.add_argument("-t", "--target-language", help="only models into this language")
    models.set_defaults(run=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
