"""The training recipes on SST-2 (issue targets: teacher >= 89%, tiny from scratch >= 80%,
tiny distilled >= 86%, each within 60 minutes on 2 cores), and a table of their results.

    python benchmarks/training.py run teacher|scratch|distill|distill-aug|distill-words|distill-words-control|distill-words-aug|distill-base [--runs-dir runs] [--threads N]
    python benchmarks/training.py summarize [--runs-dir runs]

`run` executes the recipe's exact `edge-albert` command (printed first) and `summarize` tables
every finished run: dev accuracy, parameters, size, steps and wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from harness import write_result

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"
COMMON = ["--train", str(SST2 / "train.tsv"), "--dev", str(SST2 / "dev.tsv"), "--label-names", "negative,positive", "--seed", "0", "--json"]


def recipes(runs: Path, threads: int) -> dict[str, list[str]]:
    t = ["--threads", str(threads)]
    return {
        "teacher": ["edge-albert", "teacher", *COMMON, *t, "--epochs", "2", "--lr", "8e-5", "--max-length", "64", "--eval-every", "700", "-o", str(runs / "teacher")],
        "scratch": ["edge-albert", "train", *COMMON, *t, "--preset", "tiny", "--epochs", "6", "--lr", "3e-4", "--max-length", "64", "--eval-every", "1000", "-o", str(runs / "scratch-tiny")],
        # Soft targets on SST-2's own phrases only, random student (the first attempt).
        "distill": ["edge-albert", "distill", *COMMON, *t, "--teacher", str(runs / "teacher" / "model"), "--preset", "tiny", "--epochs", "6", "--lr", "3e-4",
                    "--alpha", "0.7", "--temperature", "2", "--max-length", "64", "--eval-every", "1000", "--no-teacher-embeddings",
                    "-o", str(runs / "distill-tiny")],
        # The student starts from the teacher's word vectors and learns from 3 teacher-labelled
        # variants per phrase as well (edge-albert distill's defaults plus --augment 3).
        "distill-aug": ["edge-albert", "distill", *COMMON, *t, "--teacher", str(runs / "teacher" / "model"), "--preset", "tiny", "--epochs", "3",
                        "--lr", "3e-4", "--alpha", "0.7", "--temperature", "2", "--max-length", "64", "--eval-every", "2000", "--augment", "3",
                        "-o", str(runs / "distill-aug")],
        # Word-level layer distillation (TinyBERT's intermediate-layer loss across tokenizers) and
        # sentence-representation matching on SST-2's own phrases, teacher word vectors; and the
        # same run without the two representation terms, as its control.
        "distill-words": ["edge-albert", "distill", *COMMON, *t, "--teacher", str(runs / "teacher" / "model"), "--preset", "tiny", "--epochs", "2",
                          "--lr", "3e-4", "--alpha", "0.7", "--temperature", "2", "--max-length", "64", "--eval-every", "1000",
                          "--hidden-weight", "1", "--feature-weight", "1", "-o", str(runs / "distill-words")],
        "distill-words-control": ["edge-albert", "distill", *COMMON, *t, "--teacher", str(runs / "teacher" / "model"), "--preset", "tiny",
                                  "--epochs", "2", "--lr", "3e-4", "--alpha", "0.7", "--temperature", "2", "--max-length", "64",
                                  "--eval-every", "1000", "-o", str(runs / "distill-words-control")],
        # Stage 2 of distill-words: the stage-1 student goes on learning, with the same three
        # distillation terms, from 2 teacher-labelled variants per phrase, 30% of them two phrases
        # joined into one long text (SST-2's dev sentences are longer than its training phrases);
        # 3,000 steps (half an epoch over the 195k texts) to fit the hour.
        "distill-words-aug": ["edge-albert", "distill", *COMMON, *t, "--teacher", str(runs / "teacher" / "model"),
                              "--init", str(runs / "distill-words" / "model"), "--epochs", "1", "--max-steps", "3000", "--lr", "1e-4", "--alpha", "0.7",
                              "--temperature", "2", "--max-length", "64", "--eval-every", "1000", "--augment", "2", "--augment-join", "0.3",
                              "--hidden-weight", "1", "--feature-weight", "1", "-o", str(runs / "distill-words-aug")],
        # An ALBERT-base-shaped student (12 repetitions of a 768-wide layer), the unpruned model of
        # issue 6's base-shape pruning run; bf16 autocast makes one epoch fit in about 20 minutes.
        "distill-base": ["edge-albert", "distill", *COMMON, *t, "--teacher", str(runs / "teacher" / "model"), "--preset", "base", "--epochs", "1",
                         "--lr", "1e-4", "--alpha", "0.7", "--temperature", "2", "--max-length", "64", "--eval-every", "500", "--precision", "bf16",
                         "-o", str(runs / "distill-base")],
    }


def summarize(runs: Path, threads: int) -> None:
    rows, data = [], {}
    for run in sorted(p for p in runs.iterdir() if (p / "result.json").is_file()):
        result = json.loads((run / "result.json").read_text())
        weights = sum(f.stat().st_size for f in (run / "model").glob("*.safetensors"))
        acc = result["best_metrics"].get("accuracy")
        rows.append([run.name, f"{acc * 100:.2f}" if acc is not None else "-", f"{result['parameters'] / 1e6:.2f}M", f"{weights / 1e6:.1f}",
                     result["steps"], f"{result['wall_seconds'] / 60:.1f}"])
        data[run.name] = {**result, "weights_bytes": weights}
    write_result("training", ["run", "SST-2 dev acc %", "params", "weights MB", "steps", "wall min"], rows, data, threads)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["run", "summarize"])
    parser.add_argument("recipe", nargs="?", choices=["teacher", "scratch", "distill", "distill-aug", "distill-words", "distill-words-control", "distill-words-aug", "distill-base"])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.action == "run":
        cmd = recipes(args.runs_dir, args.threads)[args.recipe]
        print("$ " + " ".join(cmd), flush=True)
        sys.exit(subprocess.call(cmd))
    summarize(args.runs_dir, args.threads)


if __name__ == "__main__":
    main()
