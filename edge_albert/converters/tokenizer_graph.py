"""String in, logits out: an ONNX file that tokenizes inside the graph with onnxruntime-extensions.

An app then hands the model its text and never re-implements ALBERT's preprocessing, the most common
source of silent accuracy loss on device. Two parts:

1. **The preprocessing, compiled into the sentencepiece model.** ALBERT's tokenizer collapses white
   space, turns `` and '' into ", strips accents (NFKD, combining marks dropped) and lower-cases,
   all before sentencepiece runs its own normalizer. Sentencepiece's normalizer is a table of
   longest-match rewrite rules (the model's `precompiled_charsmap`), so the whole chain can be one
   table: for every code point c the rule is `spm_rules(lower(strip_accents(c)))`, plus the two
   quote pairs and the model's own multi-character rules whose characters preprocessing leaves
   alone. Sentencepiece builds the table (`SentencePieceNormalizer(norm_map=...)`); the pieces and
   their ids are untouched. Any sentencepiece runtime (onnxruntime-extensions, an app's own
   sentencepiece) then reproduces our ids with the model alone.
2. **The graph.** onnxruntime-extensions' `SentencepieceTokenizer` turns a string batch into ragged
   ids; a few standard ops add [CLS]/[SEP], truncate to the file's max length, pad, and build the
   mask and token types; `onnx.compose.merge_models` joins that to the model.

What stays different from `AlbertTokenizer` (measured by `tokenizer_differences`): special-token
strings typed in the text ("[MASK]", "<pad>", ...) are text to the graph, not special tokens; a NUL
character ends the text for the extensions operator (it reads C strings), where ours drops it.
Pieces ending in digit + comma, which the reference splits again, are marked unused so sentencepiece
never emits them; the resulting split can differ from the reference's in rare cases (counted too).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.runtimes.onnxruntime import EXTENSIONS_DOMAIN, TEXT_INPUT, extensions_session_options
from edge_albert.staging import staged_file
from edge_albert.system_tools import quiet_stderr
from edge_albert.tokenization import AlbertTokenizer
# The tasks whose input is one text and whose output needs no token alignment back to the text.
TEXT_INPUT_TASKS = ("text-classification", "feature-extraction")
_DIGIT_COMMA = re.compile(r"\d,$")


def _preprocessed(c: str, *, lower: bool, keep_accents: bool) -> str:
    """ALBERT's preprocessing of one character (white space becomes one space: sentencepiece's
    remove_extra_whitespaces then collapses and strips runs of them, as `" ".join(text.split())` does)."""
    if c.isspace():
        return " "
    out = c
    if not keep_accents:
        out = "".join(d for d in unicodedata.normalize("NFKD", out) if not unicodedata.combining(d))
    return "".join(d.lower() for d in out) if lower else out


_BUILT: dict[tuple, bytes] = {}  # building the table takes seconds; a conversion and its check share it


def graph_spiece_model(tokenizer: AlbertTokenizer) -> bytes:
    """`tokenizer`'s sentencepiece model with ALBERT's preprocessing compiled into its normalizer
    (see the module doc). Same pieces, same ids."""
    key = (tokenizer.sha256, tokenizer.do_lower_case, tokenizer.keep_accents)
    if key not in _BUILT:
        _BUILT[key] = _build_graph_spiece_model(tokenizer)
    return _BUILT[key]


def _build_graph_spiece_model(tokenizer: AlbertTokenizer) -> bytes:
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(tokenizer.model_proto)
    spec = proto.normalizer_spec
    # The model's own rules, without its white-space handling (that stays on, after our table).
    own = spm.SentencePieceNormalizer(model_proto=tokenizer.model_proto, add_dummy_prefix=False,
                                      escape_whitespaces=False, remove_extra_whitespaces=False)

    def pre(c: str) -> str:
        return _preprocessed(c, lower=tokenizer.do_lower_case, keep_accents=tokenizer.keep_accents)

    rules: dict[str, str] = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:  # surrogates are not characters
            continue
        c = chr(cp)
        r = pre(c)
        target = own.Normalize(r) if r else ""
        if target != c:
            rules[c] = target
    for source, _ in (own.Decompile() if spec.precompiled_charsmap else []):
        if len(source) > 1 and all(pre(ch) == ch for ch in source):
            rules[source] = own.Normalize(source)
    for pair in ("``", "''"):
        rules[pair] = own.Normalize('"')
    with quiet_stderr():  # the builder logs the table's size
        table = spm.SentencePieceNormalizer(norm_map=sorted(rules.items()))
    built = sentencepiece_model_pb2.NormalizerSpec()
    built.ParseFromString(table.serialized_normalizer_spec())
    spec.precompiled_charsmap = built.precompiled_charsmap
    spec.name = "albert_preprocess+" + (spec.name or "identity")
    spec.normalization_rule_tsv = ""
    for piece in proto.pieces:
        if _DIGIT_COMMA.search(piece.piece) and piece.type == sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL:
            piece.type = sentencepiece_model_pb2.ModelProto.SentencePiece.UNUSED
    return proto.SerializeToString()


def tokenizer_graph(tokenizer: AlbertTokenizer, *, max_length: int, opset: int, ir_version: int | None = None):
    """An ONNX model: `text` (string [batch]) -> input_ids, attention_mask, token_type_ids
    (int64 [batch, n], n = the longest text's tokens + 2, at most `max_length`)."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    if max_length < 3:
        raise InputError(f"max length {max_length} leaves no room for a token between [CLS] and [SEP]")

    def const(name: str, dtype: int, values, dims=()):
        return h.make_tensor(name, dtype, list(dims), values if isinstance(values, list) else [values])

    inits = [
        const("nbest", T.INT64, 0), const("alpha", T.FLOAT, 0.0), const("no", T.BOOL, False),
        const("zero", T.INT64, 0), const("one", T.INT64, 1), const("two", T.INT64, 2),
        const("budget", T.INT64, max_length - 2), const("pad_tail", T.INT64, [tokenizer.pad_id], [1]),
        const("cls", T.INT64, tokenizer.cls_id), const("sep", T.INT64, tokenizer.sep_id), const("pad", T.INT64, tokenizer.pad_id),
        const("axis1", T.INT64, [1], [1]), const("start1", T.INT64, [1], [1]), const("zero_1d", T.INT64, [0], [1]),
        const("stop_last", T.INT64, [-1], [1]), const("big", T.INT64, [2**62], [1]),
    ]
    n = h.make_node
    nodes = [
        n("SentencepieceTokenizer", [TEXT_INPUT, "nbest", "alpha", "no", "no", "no"], ["pieces32", "splits", "piece_offsets"],
          domain=EXTENSIONS_DOMAIN, model=graph_spiece_model(tokenizer)),
        n("Cast", ["pieces32"], ["pieces"], to=T.INT64),
        # A pad id after the last piece keeps Gather in range when every text is empty.
        n("Concat", ["pieces", "pad_tail"], ["pieces_ext"], axis=0),
        n("Slice", ["splits", "start1", "big"], ["ends"]),
        n("Slice", ["splits", "zero_1d", "stop_last"], ["starts"]),
        n("Sub", ["ends", "starts"], ["lengths"]),
        n("Min", ["lengths", "budget"], ["kept"]),  # truncation: the first max_length - 2 pieces
        n("ReduceMax", ["kept"], ["longest"], keepdims=0),
        n("Max", ["longest", "zero"], ["longest0"]),  # an empty batch: ReduceMax of nothing
        n("Add", ["longest0", "two"], ["width"]),
        n("Range", ["zero", "width", "one"], ["positions"]),  # [n]
        n("Sub", ["positions", "one"], ["piece_index"]),
        n("Max", ["piece_index", "zero"], ["piece_index0"]),
        n("Unsqueeze", ["starts", "axis1"], ["starts_col"]),
        n("Add", ["starts_col", "piece_index0"], ["flat_index"]),  # [batch, n]
        n("Size", ["pieces"], ["piece_count"]),
        n("Min", ["flat_index", "piece_count"], ["flat_index_ok"]),
        n("Gather", ["pieces_ext", "flat_index_ok"], ["gathered"], axis=0),
        n("Unsqueeze", ["kept", "axis1"], ["kept_col"]),
        n("GreaterOrEqual", ["positions", "one"], ["after_cls"]),
        n("LessOrEqual", ["positions", "kept_col"], ["before_sep"]),
        n("And", ["after_cls", "before_sep"], ["is_piece"]),
        n("Add", ["kept_col", "one"], ["sep_position"]),
        n("Equal", ["positions", "sep_position"], ["is_sep"]),
        n("Equal", ["positions", "zero"], ["is_cls"]),
        n("LessOrEqual", ["positions", "sep_position"], ["is_real"]),
        n("Where", ["is_sep", "sep", "pad"], ["sep_or_pad"]),
        n("Where", ["is_piece", "gathered", "sep_or_pad"], ["body"]),
        n("Where", ["is_cls", "cls", "body"], ["input_ids"]),
        n("Cast", ["is_real"], ["attention_mask"], to=T.INT64),
        n("Mul", ["input_ids", "zero"], ["token_type_ids"]),
    ]
    graph = h.make_graph(
        nodes, "albert_tokenizer", [h.make_tensor_value_info(TEXT_INPUT, T.STRING, ["batch"])],
        [h.make_tensor_value_info(name, T.INT64, ["batch", "sequence"]) for name in ("input_ids", "attention_mask", "token_type_ids")],
        inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset), h.make_opsetid(EXTENSIONS_DOMAIN, 1)])
    if ir_version is not None:
        model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model


@dataclass
class TokenizerDifferences:
    """How the in-graph tokenizer's ids compare with `AlbertTokenizer`'s on some texts."""

    texts: int
    different: int
    examples: list[dict] = field(default_factory=list)  # the first few: text, ours, graph

    @property
    def equal_fraction(self) -> float:
        return 1.0 - self.different / self.texts if self.texts else 1.0

    def to_dict(self) -> dict:
        return {"texts": self.texts, "different": self.different, "equal_fraction": self.equal_fraction, "examples": self.examples}


def tokenizer_differences(tokenizer: AlbertTokenizer, texts: Sequence[str], *, max_length: int = 512, batch_size: int = 256,
                          examples: int = 5) -> TokenizerDifferences:
    """Run the tokenizer graph in ONNX Runtime on `texts` and compare its ids with `tokenizer.encode`."""
    import onnxruntime as ort

    model = tokenizer_graph(tokenizer, max_length=max_length, opset=17)
    session = ort.InferenceSession(model.SerializeToString(), extensions_session_options(), providers=["CPUExecutionProvider"])
    different, shown = 0, []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start:start + batch_size])
        ids, mask = session.run(["input_ids", "attention_mask"], {TEXT_INPUT: np.array(chunk, dtype=object)})
        for row, text in enumerate(chunk):
            graph_ids = ids[row, :int(mask[row].sum())].tolist()
            ours = tokenizer.encode(text, max_length=max_length).input_ids
            if graph_ids != ours:
                different += 1
                if len(shown) < examples:
                    shown.append({"text": text, "ours": ours, "graph": graph_ids})
    return TokenizerDifferences(len(texts), different, shown)


@dataclass
class TextModelResult:
    path: Path
    size_bytes: int
    source_bytes: int
    max_length: int
    max_abs_diff: float  # string input vs the source fed our tokenizer's ids, on the check texts
    same_predictions: bool
    ids_equal: bool  # the graph's ids equal AlbertTokenizer's on every check text
    digit_comma_pieces: int = 0  # vocabulary pieces the reference splits again (see the module doc)

    def to_dict(self) -> dict:
        return {"path": str(self.path), "size_bytes": self.size_bytes, "source_bytes": self.source_bytes, "max_length": self.max_length,
                "max_abs_diff": self.max_abs_diff, "same_predictions": self.same_predictions, "ids_equal": self.ids_equal,
                "digit_comma_pieces": self.digit_comma_pieces}


# Beyond the converter's sample sentences: the preprocessing paths (accents, case, quotes, white
# space, ligatures, truncation) that the compiled normalizer must reproduce.
CHECK_EXTRAS = ("", "   ", "Café NAÏVE résumé Ångström", "``quoted'' text\tand\u00a0spaces\n", "ﬁne ① Ｆｕｌｌｗｉｄｔｈ",
                "İstanbul ǅ ß ΟΔΟΣ", "emoji 😀🎉 ok", "word " * 300)


def add_tokenizer(source: Path, output: Path, tokenizer: AlbertTokenizer, *, check_texts: Sequence[str] = (), force: bool = False,
                  atol: float = 1e-5) -> TextModelResult:
    """Write `output`: the ONNX file `source` behind the tokenizer graph, input `text` (string
    [batch]). Checked before it gets its name: the graph's ids equal `tokenizer`'s, and its outputs
    equal `source`'s fed those ids (each text alone, so dynamic int8 compares like with like)."""
    import onnx
    from onnx import compose

    from edge_albert.converters.onnx import set_metadata
    from edge_albert.runtimes import open_session
    from edge_albert.runtimes.onnxruntime import read_metadata

    source, output = Path(source), Path(output)
    if source.suffix != ".onnx" or not source.is_file():
        raise InputError("expected an .onnx file (convert or quantize a checkpoint --to onnx first)", source)
    if output.suffix != ".onnx":
        raise InputError("the output of --with-tokenizer must end in .onnx", output)
    model = onnx.load(str(source))
    metadata = read_metadata({p.key: p.value for p in model.metadata_props})
    task = str(metadata.get("task", "text-classification"))
    if task not in TEXT_INPUT_TASKS:
        raise InputError(f"the tokenizer graph takes one text per row: {', '.join(TEXT_INPUT_TASKS)}; this file is {task}", source)
    inputs = {i.name: i for i in model.graph.input}
    if TEXT_INPUT in inputs:
        raise InputError("this file already takes text (it has the tokenizer inside)", source)
    if any(d.HasField("dim_value") for d in inputs["input_ids"].type.tensor_type.shape.dim):
        raise InputError("a fixed-length file (convert --fixed-length) is for phone accelerators, which cannot run the tokenizer; "
                         "add the tokenizer to a dynamic-length .onnx file", source)
    max_length = int(metadata.get("max_length", 128))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    pre = tokenizer_graph(tokenizer, max_length=max_length, opset=opset, ir_version=model.ir_version)
    wanted = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in inputs]
    merged = compose.merge_models(pre, model, io_map=[(name, name) for name in wanted], prefix1="tokenizer/")
    merged.opset_import.extend([] if any(o.domain == EXTENSIONS_DOMAIN for o in merged.opset_import) else
                               [onnx.helper.make_opsetid(EXTENSIONS_DOMAIN, 1)])
    merged.graph.name = model.graph.name
    # merge_models prefixed every name of the tokenizer graph, its input too: the input keeps its name.
    for value in merged.graph.input:
        if value.name == "tokenizer/" + TEXT_INPUT:
            value.name = TEXT_INPUT
    for node in merged.graph.node:
        for i, name in enumerate(node.input):
            if name == "tokenizer/" + TEXT_INPUT:
                node.input[i] = TEXT_INPUT
    set_metadata(merged, {**metadata, "inputs": [TEXT_INPUT], "input_dtype": "string", "tokenizer_in_graph": "onnxruntime-extensions SentencepieceTokenizer",
                          "tokenizer_sha256": tokenizer.sha256})
    texts = list(check_texts) + list(CHECK_EXTRAS)
    results: dict = {}

    def verify(stage: Path) -> None:
        ref = open_session(source)
        cand = open_session(stage, runtime="onnxruntime")
        kept = "the existing file is unchanged" if output.exists() else "nothing written"
        differences = tokenizer_differences(tokenizer, texts, max_length=max_length)
        worst, same = 0.0, True
        for text in texts:
            expected = ref.run(_single(tokenizer, text, max_length))
            got = cand.run_text([text])
            if expected.shape != got.shape:
                worst = math.inf
                break
            worst = max(worst, float(np.abs(expected - got).max()))
            same = same and bool((expected.argmax(-1) == got.argmax(-1)).all())
        if differences.different:
            example = differences.examples[0]["text"]
            raise InputError(f"the in-graph tokenizer's ids differ from edge-albert's on {differences.different} check text(s), "
                             f"e.g. {example[:60]!r}; {kept}", source)
        if worst > atol or not same:
            raise InputError(f"the text-input model disagrees with its source (max abs diff {worst:.2e}); {kept}", source)
        results.update(max_abs_diff=worst, same_predictions=same, ids_equal=True)

    with staged_file(output, force=force, verify=verify) as stage:
        onnx.save(merged, str(stage))
    pieces = sum(1 for i in range(tokenizer.vocab_size) if _DIGIT_COMMA.search(tokenizer.sp.IdToPiece(i)))
    return TextModelResult(output, output.stat().st_size, source.stat().st_size, max_length, **results, digit_comma_pieces=pieces)


def convert_with_tokenizer(source: Path, output: Path, *, tokenizer_path: Path | None = None, max_length: int | None = None,
                           opset: int | None = None, force: bool = False) -> TextModelResult:
    """`convert --with-tokenizer`: a checkpoint folder (exported to ONNX first) or an .onnx file
    (e.g. model.int8.onnx) to a text-input .onnx file. An .onnx file's tokenizer is `tokenizer_path`
    (a spiece.model or a checkpoint folder; default: spiece.model beside the file), and must be the
    one the file was made with (its metadata's tokenizer_sha256)."""
    import tempfile

    from edge_albert.converters.convert import SAMPLE_TEXTS, convert
    from edge_albert.converters.onnx import OPSET
    from edge_albert.runtimes.onnxruntime import read_metadata

    source, output = Path(source), Path(output)
    if source.is_dir():
        tokenizer = AlbertTokenizer(source / "spiece.model")
        with tempfile.TemporaryDirectory(prefix=".with-tokenizer-", dir=output.parent if output.parent.exists() else None) as tmp:
            exported = Path(tmp) / "model.onnx"
            convert(source, exported, "onnx", max_length=max_length, opset=opset or OPSET)
            return add_tokenizer(exported, output, tokenizer, check_texts=SAMPLE_TEXTS, force=force)
    if max_length is not None or opset is not None:
        raise InputError("--max-length and --opset apply when exporting a checkpoint; an .onnx file keeps its own", source)
    if source.suffix != ".onnx" or not source.is_file():
        raise InputError("expected a checkpoint folder or an .onnx file", source)
    spiece = Path(tokenizer_path) if tokenizer_path is not None else source.parent / "spiece.model"
    if spiece.is_dir():
        spiece = spiece / "spiece.model"
    if not spiece.is_file():
        raise InputError("no tokenizer for this .onnx file: pass --tokenizer with its checkpoint folder or spiece.model", spiece)
    tokenizer = AlbertTokenizer(spiece)
    import onnx

    props = {p.key: p.value for p in onnx.load(str(source), load_external_data=False).metadata_props}
    expected = read_metadata(props).get("tokenizer_sha256")
    if expected and expected != tokenizer.sha256:
        raise InputError(f"{spiece} is not the tokenizer this file was made with (sha256 {tokenizer.sha256[:12]}, "
                         f"the file records {str(expected)[:12]}); pass --tokenizer with the right one", source)
    return add_tokenizer(source, output, tokenizer, check_texts=SAMPLE_TEXTS, force=force)


def _single(tokenizer: AlbertTokenizer, text: str, max_length: int) -> dict[str, np.ndarray]:
    encoding = tokenizer.encode(text, max_length=max_length)
    ids = np.asarray([encoding.input_ids], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.asarray([encoding.token_type_ids], dtype=np.int64)}


__all__ = ["TEXT_INPUT", "TEXT_INPUT_TASKS", "TextModelResult", "TokenizerDifferences", "add_tokenizer", "convert_with_tokenizer", "graph_spiece_model",
           "tokenizer_differences", "tokenizer_graph"]
