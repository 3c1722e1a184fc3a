"""The training recipes behind `edge-albert train`, `teacher` and `distill`: files in, run directory out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from edge_albert.data.readers import LabeledTexts, read_labeled
from edge_albert.data.rt_polarity import default_dataset
from edge_albert.errors import InputError
from edge_albert.model.albert import AlbertForSequenceClassification, AlbertPreTrainedModel, set_encoder_dropout
from edge_albert.model.checkpoint import SPIECE_NAME, load_model
from edge_albert.model.config import preset_config
from edge_albert.staging import staged_file
from edge_albert.tasks import get_task
from edge_albert.tokenization import AlbertTokenizer, train_tokenizer
from edge_albert.training.batching import EncodedDataset, encode_dataset
from edge_albert.training.teacher import HFClassifier, cached_per_example, cached_teacher_outputs, default_teacher_base, load_teacher
from edge_albert.training.distributed import current, is_main, main_process_first, setup
from edge_albert.training.precision import resolve_precision, training_step_probe
from edge_albert.training.trainer import TrainConfig, TrainResult, save_albert, train_classifier


@dataclass
class DataSpec:
    """Where the labelled data is and how to read it."""

    train: Path
    dev: Path | None = None
    text_column: str | None = None
    pair_column: str | None = None
    label_column: str | None = None
    # Display names for the label values (in sorted value order), e.g. ["negative", "positive"].
    label_names: list[str] | None = None
    limit: int | None = None
    dev_limit: int | None = None  # score the first N dev rows (SQuAD: questions) only: quicker evaluations

    @classmethod
    def from_files(cls, train: Path | None = None, dev: Path | None = None, *, task: str = "text-classification",
                   label_names: list[str] | None = None, **reading) -> DataSpec:
        """The given files; without a training file, the built-in rt-polarity data (its train and dev
        splits and label names) for text classification. The token tasks need their own files."""
        if train is None:
            if task != "text-classification":
                kind = "a CoNLL file" if task == "token-classification" else "a SQuAD v1.1 JSON file"
                raise InputError(f"--task {task} needs --train: {kind} (and --dev to select the best checkpoint)")
            files = default_dataset()
            train, dev = files.train, dev or files.dev
            label_names = label_names or list(files.label_names)
        return cls(Path(train), Path(dev) if dev else None, label_names=label_names, **reading)


def load_splits(spec: DataSpec) -> tuple[LabeledTexts, LabeledTexts | None]:
    kw = dict(text_column=spec.text_column, label_column=spec.label_column, pair_column=spec.pair_column)
    train = read_labeled(spec.train, **kw)
    dev = read_labeled(spec.dev, label_names=train.label_names, **kw) if spec.dev else None
    if spec.limit:
        train = train.subset(range(min(spec.limit, len(train))))
    if spec.dev_limit and dev is not None:
        dev = dev.subset(range(min(spec.dev_limit, len(dev))))
    if spec.label_names:
        if len(spec.label_names) != len(train.label_names):
            raise InputError(f"--label-names gives {len(spec.label_names)} names but the data has {len(train.label_names)} labels ({train.label_names})")
        for d in (train, dev):
            if d is not None:
                d.label_names = list(spec.label_names)
    return train, dev


def start_run(run_dir: Path, config: TrainConfig) -> Path:
    """Join the training job (a single process without torchrun) and make the run directory on
    its first rank, the only one that writes there."""
    ranks = setup(config.device)
    resolve_precision(config.precision, ranks.device)  # a wrong option fails before anything is written
    run_dir = Path(run_dir)
    if is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def write_run_json(path: Path, data: object) -> None:
    """A JSON record of the run, written by the job's first rank only."""
    if is_main():
        with staged_file(path, force=True) as stage:
            stage.write_text(json.dumps(data, indent=2) + "\n")


def _student(run_dir: Path, texts: list[str], labels: list[str], *, init: Path | None, preset: str, tokenizer: Path | None,
             vocab_size: int, max_length: int, seed: int, dropout: float | None = None,
             head: type[AlbertPreTrainedModel] = AlbertForSequenceClassification) -> tuple[AlbertPreTrainedModel, Path]:
    """The model to train, with its spiece.model: `init`'s encoder under a `head` for `labels`
    (a fresh head where the checkpoint has another), or a new `preset` whose tokenizer, unless
    given, is trained on `texts`."""
    if init is not None:
        model = load_model(init, head, new_head_ok=True, labels=labels)
        spiece = tokenizer or Path(init) / SPIECE_NAME
    else:
        spiece = tokenizer or run_dir / SPIECE_NAME
        # every rank of a job enters; the first trains the tokenizer, the others then read it
        with main_process_first():
            if not Path(spiece).is_file():
                train_tokenizer(texts, spiece, vocab_size=vocab_size, force=True)
        torch.manual_seed(seed)
        config = preset_config(preset, vocab_size=AlbertTokenizer(spiece).vocab_size, labels=labels, max_position_embeddings=max(512, max_length))
        model = head(config)
    if dropout is not None:
        set_encoder_dropout(model, dropout)
    return model, Path(spiece)


def _start_from_teacher_layers(model: AlbertPreTrainedModel, tok: AlbertTokenizer, teacher_model: torch.nn.Module | None,
                               layers: Sequence[int] | None, *, fresh: bool) -> dict | None:
    """`--teacher-layers`: a new (`fresh`) student starts as the teacher cut to `layers`
    (`transfer.teacher_layer_init`); what was done, for teacher.json, or None when nothing was."""
    if layers is None:
        return None
    if not isinstance(teacher_model, HFClassifier):
        raise InputError("--teacher-layers needs a Hugging Face (BERT-layout) teacher of the task: pass one trained by `edge-albert teacher`")
    if not fresh:
        return None
    from edge_albert.training.transfer import teacher_layer_init

    return asdict(teacher_layer_init(model, tok, teacher_model, layers))


def train(
    data: DataSpec,
    run_dir: Path,
    config: TrainConfig,
    *,
    init: Path | None = None,
    preset: str = "tiny",
    tokenizer: Path | None = None,
    vocab_size: int = 8000,
    resume: bool = False,
    dropout: float | None = None,
) -> TrainResult:
    """Fine-tune an ALBERT checkpoint (`init`) or train a preset from scratch on labelled data.

    `dropout` sets the encoder's hidden and attention dropout (default: the preset's or the
    checkpoint's, 0 for ALBERT as in ALBERT v2)."""
    run_dir = start_run(run_dir, config)
    train_data, dev_data = load_splits(data)
    model, spiece = _student(run_dir, train_data.texts + (train_data.pairs or []), train_data.label_names, init=init, preset=preset,
                             tokenizer=tokenizer, vocab_size=vocab_size, max_length=config.max_length, seed=config.seed, dropout=dropout)
    tok = AlbertTokenizer(spiece)
    enc_train = encode_dataset(train_data, tok, config.max_length)
    enc_dev = encode_dataset(dev_data, tok, config.max_length) if dev_data else None
    return train_classifier(model, save_albert(spiece), enc_train, enc_dev, config, run_dir, pad_id=tok.pad_id, resume=resume)


def train_teacher(data: DataSpec, run_dir: Path, config: TrainConfig, *, base: Path | None = None, resume: bool = False,
                  task: str = "text-classification", stride: int = 128) -> TrainResult:
    """Fine-tune a Hugging Face encoder (default: the shipped all-MiniLM-L6-v2) as a classifier,
    with `task="token-classification"` as a tagger on CoNLL files (each word's label on its
    first word piece; dev entity F1), or with `task="question-answering"` as an extractive
    question answerer on SQuAD JSON (windows of `config.max_length` sharing `stride` tokens, in
    its own tokenizer; dev SQuAD F1), in the same training loop as the students."""
    base = Path(base) if base else default_teacher_base()
    run_dir = start_run(run_dir, config)
    if get_task(task).name == "question-answering":
        from edge_albert.data.squad import read_squad
        from edge_albert.training.token_tasks import encode_questions, objective_for

        if data.train is None:
            raise InputError("a question-answering teacher needs --train (a SQuAD v1.1 JSON file)")
        train_data = read_squad(data.train, limit=data.limit)
        dev_data = read_squad(data.dev, limit=data.dev_limit) if data.dev else None
        model = HFClassifier(base, task="question-answering")
        enc_train = encode_questions(train_data, model, config.max_length, stride)
        enc_dev = encode_questions(dev_data, model, config.max_length, stride) if dev_data else None
        return train_classifier(model, lambda m, path: m.save(path), enc_train, enc_dev, config, run_dir, pad_id=model.pad_id, resume=resume,
                                objective=objective_for("question-answering"))
    if get_task(task).name == "token-classification":
        from edge_albert.data.conll import read_conll
        from edge_albert.training.token_tasks import encode_tagged, objective_for

        if data.train is None:
            raise InputError("a token-classification teacher needs --train (a CoNLL file)")
        tagged = read_conll(data.train)
        dev_tagged = read_conll(data.dev, label_names=tagged.label_names) if data.dev else None
        if data.limit:
            tagged = tagged.subset(range(min(data.limit, len(tagged))))
        if data.dev_limit and dev_tagged is not None:
            dev_tagged = dev_tagged.subset(range(min(data.dev_limit, len(dev_tagged))))
        model = HFClassifier(base, labels=tagged.label_names, task="token-classification")
        enc_train = encode_tagged(tagged, model, config.max_length)
        enc_dev = encode_tagged(dev_tagged, model, config.max_length) if dev_tagged else None
        return train_classifier(model, lambda m, path: m.save(path), enc_train, enc_dev, config, run_dir, pad_id=model.pad_id, resume=resume,
                                objective=objective_for("token-classification"))
    train_data, dev_data = load_splits(data)
    model = HFClassifier(base, labels=train_data.label_names)
    enc_train = model.encode(train_data, config.max_length)
    enc_dev = model.encode(dev_data, config.max_length) if dev_data else None
    return train_classifier(model, lambda m, path: m.save(path), enc_train, enc_dev, config, run_dir, pad_id=model.pad_id, resume=resume)


def word_layer_pairs(student: AlbertForSequenceClassification, teacher: torch.nn.Module, count: int) -> list[tuple[int, int]]:
    """(student repetition, teacher layer) pairs for word-level layer distillation."""
    from edge_albert.training.word_states import matched_layers

    return matched_layers(student.config.num_hidden_layers, teacher.config.num_hidden_layers, count)


def distill(
    data: DataSpec,
    run_dir: Path,
    config: TrainConfig,
    *,
    teacher: Path,
    init: Path | None = None,
    preset: str = "tiny",
    tokenizer: Path | None = None,
    vocab_size: int = 8000,
    resume: bool = False,
    teacher_batch_size: int = 64,
    augment: int = 0,
    augment_join: float = 0.0,
    teacher_embeddings: bool = True,
    unlabeled: list[Path] | None = None,
    unlabeled_limit: int | None = None,
    unlabeled_column: str | None = None,
    dropout: float | None = None,
    teacher_cache: Path | None = None,
    teacher_layers: Sequence[int] | None = None,
) -> TrainResult:
    """Distil `teacher` into an ALBERT student: soft targets at temperature T plus hard labels.

    `augment` > 0 adds up to that many teacher-labelled variants of every training text (a
    transfer set, see `transfer.augment_texts`; `augment_join` of them are two texts joined into
    one long one); `teacher_embeddings` starts a new student's
    embeddings from a Hugging Face teacher's word vectors (see `transfer.teacher_embedding_init`).
    `unlabeled` files add their texts to the transfer set (`transfer.unlabeled_transfer_texts`:
    a seeded sample of `unlabeled_limit`, none equal to a training or dev text). `dropout` as in `train`.
    The teacher's outputs are cached in `teacher_cache` (default `run_dir/cache`), one entry per
    (teacher, text set, length), so runs sharing the folder label each text set once.
    `teacher_layers` starts a new student as the teacher cut to those layers (`transfer.teacher_layer_init`).
    """
    from edge_albert.training.transfer import augment_texts, teacher_embedding_init, unlabeled_transfer_texts
    from edge_albert.training.word_states import WordStates, WordTargets, piece_starts_word

    run_dir = start_run(run_dir, config)
    cache = Path(teacher_cache) if teacher_cache is not None else run_dir / "cache"
    train_data, dev_data = load_splits(data)
    if (augment or unlabeled) and train_data.pairs is not None:
        raise InputError("--augment and --unlabeled work on single-text data; this data has a second text column", data.train)
    extra: list[str] = []
    if unlabeled:
        extra, counts = unlabeled_transfer_texts(unlabeled, train_data.texts + (dev_data.texts if dev_data else []), limit=unlabeled_limit,
                                                 seed=config.seed, text_column=unlabeled_column)
    teacher_model = load_teacher(teacher)
    # A new tokenizer learns the unlabelled texts' words too: the student reads them.
    model, spiece = _student(run_dir, train_data.texts + (train_data.pairs or []) + extra, train_data.label_names, init=init, preset=preset,
                             tokenizer=tokenizer, vocab_size=vocab_size, max_length=config.max_length, seed=config.seed, dropout=dropout)
    tok = AlbertTokenizer(spiece)
    # Before the teacher's passes: a student of the wrong shape is refused at once.
    layer_transfer = _start_from_teacher_layers(model, tok, teacher_model, teacher_layers, fresh=init is None and not resume)
    features = config.feature_weight > 0
    layer_pairs = word_layer_pairs(model, teacher_model, config.hidden_layers) if config.hidden_weight > 0 else []
    if layer_pairs and train_data.pairs is not None:
        raise InputError("--hidden-weight works on single-text data; this data has a second text column", data.train)
    word_layers = [t for _, t in layer_pairs] or None
    # The teacher labels the transfer set in bf16 where its own passes are clearly faster in it.
    precision = resolve_precision(config.precision, current().device,
                                  probe=training_step_probe(teacher_model, length=config.max_length) if config.precision == "auto" else None)
    outputs = cached_teacher_outputs(teacher, train_data, config.max_length, cache, teacher=teacher_model,
                                     batch_size=teacher_batch_size, features=features, word_layers=word_layers, precision=precision)
    logits = outputs.logits
    if logits.shape[1] != len(train_data.label_names):
        raise InputError(f"teacher has {logits.shape[1]} outputs but the data has {len(train_data.label_names)} labels", teacher)
    teacher_acc = float((logits.argmax(1) == np.asarray(train_data.labels)).mean())
    info: dict = {"teacher": str(teacher), "train_accuracy": teacher_acc}
    if layer_pairs:
        info["word_layer_pairs"] = layer_pairs

    # Each transfer set is labelled and cached on its own, so runs that share one reuse its cache.
    transfer_sets = []
    if augment:
        texts = augment_texts(train_data.texts, augment, seed=config.seed, p_join=augment_join, exclude=set(extra))
        transfer_sets.append(LabeledTexts(texts, [-1] * len(texts), train_data.label_names, source="augmented"))
        info["augmented_examples"] = len(texts)
    if unlabeled:
        transfer_sets.append(LabeledTexts(extra, [-1] * len(extra), train_data.label_names, source="unlabeled"))
        info["unlabeled_examples"] = counts
    transfer = [(t, cached_teacher_outputs(teacher, t, config.max_length, cache, teacher=teacher_model, batch_size=teacher_batch_size,
                                           features=features, word_layers=word_layers, precision=precision)) for t in transfer_sets if len(t)]

    if layer_transfer is not None:
        info["layer_transfer"] = layer_transfer
    elif teacher_embeddings and init is None and isinstance(teacher_model, HFClassifier) and not resume:
        info["embedding_transfer"] = asdict(teacher_embedding_init(model, tok, teacher_model))
    del teacher_model
    write_run_json(run_dir / "teacher.json", info)

    parts = [(encode_dataset(d, tok, config.max_length), out) for d, out in [(train_data, outputs), *transfer]]
    enc_train = EncodedDataset(
        [e for enc, _ in parts for e in enc.encodings],
        np.concatenate([enc.labels for enc, _ in parts]),
        np.concatenate([out.logits for _, out in parts]),
        np.concatenate([out.features for _, out in parts]) if features else None,
    )
    if layer_pairs:
        enc_train.word_targets = WordTargets(WordStates.concatenate([out.word_states for _, out in parts]), piece_starts_word(tok),
                                             [tok.cls_id, tok.sep_id, tok.pad_id], [s for s, _ in layer_pairs])
    enc_dev = encode_dataset(dev_data, tok, config.max_length) if dev_data else None
    return train_classifier(model, save_albert(spiece), enc_train, enc_dev, config, run_dir, pad_id=tok.pad_id, resume=resume)


def train_token_task(
    task: str,
    data: DataSpec,
    run_dir: Path,
    config: TrainConfig,
    *,
    init: Path | None = None,
    preset: str = "tiny",
    tokenizer: Path | None = None,
    vocab_size: int = 8000,
    resume: bool = False,
    dropout: float | None = None,
    stride: int = 128,
    teacher_embeddings: Path | bool | None = None,
    teacher: Path | None = None,
    unlabeled: Sequence[Path] | None = None,
    unlabeled_limit: int | None = None,
    unlabeled_column: str | None = None,
    teacher_layers: Sequence[int] | None = None,
) -> TrainResult:
    """Train an ALBERT for token classification (CoNLL files) or extractive question answering
    (SQuAD JSON): fine-tune `init` (its encoder; the head starts fresh when the checkpoint has
    another) or a preset from scratch. `teacher_embeddings` (a Hugging Face encoder folder) starts a
    new student's embeddings from that model's word vectors (see transfer.teacher_embedding_init).
    QA windows hold `config.max_length` tokens and overlap by `stride`. With `teacher` (a Hugging
    Face teacher of the same task, `train_teacher(task=...)`), the student also learns the
    teacher's logits (`config.alpha`, `config.temperature`): a tagger's per word, a question
    answerer's start and end logits per character of the context; and a new student's embeddings
    start from the teacher's word vectors. The teacher's logits are cached in `run_dir/cache`, so a
    resumed run does not run the teacher again. A tagger's teacher also tags the sentences of
    `unlabeled` files (`transfer.unlabeled_word_sentences`: SQuAD contexts, CoNLL files, text
    lines; `unlabeled_limit` of them sampled, none equal to a training or dev sentence), which the
    student learns with the soft term alone. `teacher_layers` starts a new student as the teacher
    cut to those layers (`transfer.teacher_layer_init`) instead of from its word vectors alone."""
    from edge_albert.data.conll import read_conll
    from edge_albert.data.squad import read_squad
    from edge_albert.jsonfile import read_json
    from edge_albert.model.albert import ARCHITECTURES
    from edge_albert.training.token_tasks import encode_questions, encode_tagged, objective_for

    spec = get_task(task)
    if unlabeled and spec.name != "token-classification":
        raise InputError(f"unlabelled sentences (--unlabeled) work for token-classification; {spec.name} learns from labelled rows only")
    if unlabeled and teacher is None:
        raise InputError("unlabelled sentences (--unlabeled) need a teacher to tag them: pass --teacher (train one with `edge-albert teacher`)")
    if teacher is not None:
        # transformers loads any BERT as any head, with a fresh random one where the saved head differs: refuse that teacher.
        config_path = Path(teacher) / "config.json"
        if not config_path.is_file():
            raise InputError("no config.json: pass the run's model folder of `edge-albert teacher` as the teacher", teacher)
        architecture = (read_json(config_path).get("architectures") or ["a model without architectures"])[0]
        if not architecture.endswith(ARCHITECTURES[spec.architecture].__name__.removeprefix("Albert")):
            raise InputError(f"the teacher is {architecture}, not a {spec.name} model; train one with `edge-albert teacher --task {spec.name}`", teacher)
    run_dir = start_run(run_dir, config)
    if spec.name == "token-classification":
        train_data = read_conll(data.train)
        dev_data = read_conll(data.dev, label_names=train_data.label_names) if data.dev else None
        if data.limit:
            train_data = train_data.subset(range(min(data.limit, len(train_data))))
        if data.dev_limit and dev_data is not None:
            dev_data = dev_data.subset(range(min(data.dev_limit, len(dev_data))))
        labels = train_data.label_names
        texts = [" ".join(w) for w in train_data.words]
        extra_words: list[list[str]] = []
        if unlabeled:
            from edge_albert.training.transfer import unlabeled_word_sentences

            held = list(train_data.words) + (list(dev_data.words) if dev_data is not None else [])
            extra_words, counts = unlabeled_word_sentences(list(unlabeled), [list(w) for w in held], limit=unlabeled_limit, seed=config.seed,
                                                           text_column=unlabeled_column)
            write_run_json(run_dir / "unlabeled.json", counts)
            texts += [" ".join(w) for w in extra_words]
    else:
        train_data = read_squad(data.train, limit=data.limit)
        dev_data = read_squad(data.dev, limit=data.dev_limit) if data.dev else None
        labels = ["start", "end"]
        texts = sorted({ex.context for ex in train_data}) + [ex.question for ex in train_data]
    model, spiece = _student(run_dir, texts, labels, init=init, preset=preset, tokenizer=tokenizer, vocab_size=vocab_size,
                             max_length=config.max_length, seed=config.seed, dropout=dropout, head=ARCHITECTURES[spec.architecture])
    tok = AlbertTokenizer(spiece)
    teacher_model = None
    if teacher is not None:
        teacher_model = HFClassifier(Path(teacher), task=spec.name).eval()
        if spec.name == "token-classification":
            teacher_labels = [teacher_model.config.id2label[i] for i in range(teacher_model.config.num_labels)]
            if teacher_labels != labels:
                raise InputError(f"the teacher's labels {teacher_labels} differ from the data's {labels}", teacher)
        if teacher_embeddings is None:
            teacher_embeddings = Path(teacher)
    if teacher_layers is not None:
        layer_transfer = _start_from_teacher_layers(model, tok, teacher_model, teacher_layers, fresh=init is None and not resume)
        if layer_transfer is not None:
            write_run_json(run_dir / "teacher.json", {"layer_transfer": layer_transfer, "teacher": str(teacher)})
    elif teacher_embeddings and init is None and not resume:
        from edge_albert.training.transfer import teacher_embedding_init

        source = Path(teacher_embeddings)  # type: ignore[arg-type]
        info = teacher_embedding_init(model, tok, teacher_model if teacher_model is not None and source == Path(teacher)
                                      else HFClassifier(source, labels=["unused", "unused2"]))
        write_run_json(run_dir / "teacher.json", {"embedding_transfer": asdict(info), "teacher": str(teacher_embeddings)})
    if spec.name == "token-classification":
        enc_train = encode_tagged(train_data, tok, config.max_length)
        enc_dev = encode_tagged(dev_data, tok, config.max_length) if dev_data else None
        if teacher_model is not None:
            from edge_albert.training.token_tasks import teacher_word_logits, word_soft_targets

            torch.set_num_threads(config.threads or torch.get_num_threads())
            word_logits = cached_per_example(Path(teacher), ["word-logits", train_data.words, 128], run_dir / "cache",
                                             lambda: teacher_word_logits(teacher_model, train_data.words, max_length=128))
            enc_train.soft_targets = word_soft_targets(enc_train, word_logits)
            if extra_words:
                from edge_albert.training.token_tasks import encode_untagged, join_tagged

                extra_logits = cached_per_example(Path(teacher), ["word-logits", extra_words, 128], run_dir / "cache",
                                                  lambda: teacher_word_logits(teacher_model, extra_words, max_length=128))
                enc_extra = encode_untagged(extra_words, tok, config.max_length)
                enc_extra.soft_targets = word_soft_targets(enc_extra, extra_logits)
                enc_train = join_tagged(enc_train, enc_extra)
    else:
        enc_train = encode_questions(train_data, tok, config.max_length, stride)
        enc_dev = encode_questions(dev_data, tok, config.max_length, stride) if dev_data else None
        if teacher_model is not None:
            from edge_albert.training.token_tasks import span_soft_targets, teacher_span_logits

            torch.set_num_threads(config.threads or torch.get_num_threads())
            # Per question, its context's characters by (start, end): one array each for the cache.
            settings = ["span-logits", [[ex.question, ex.context] for ex in train_data], config.max_length, stride]
            char_logits = cached_per_example(Path(teacher), settings, run_dir / "cache", lambda: [
                np.stack(pair, axis=1) for pair in teacher_span_logits(teacher_model, train_data, max_length=config.max_length, stride=stride)])
            enc_train.soft_targets = span_soft_targets(enc_train, [(a[:, 0], a[:, 1]) for a in char_logits])
    return train_classifier(model, save_albert(spiece), enc_train, enc_dev, config, run_dir, pad_id=tok.pad_id, resume=resume,
                            objective=objective_for(spec.name))


__all__ = ["DataSpec", "load_splits", "train", "train_teacher", "distill", "train_token_task"]
