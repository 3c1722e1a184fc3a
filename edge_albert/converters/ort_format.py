"""ONNX Runtime Mobile: an ONNX file to ONNX Runtime's `.ort` format, the reduced-operator
configuration of a minimal build, and ONNX Runtime's mobile usability verdict (NNAPI, CoreML).

The conversion is ONNX Runtime's own tool (`onnxruntime.tools.convert_onnx_models_to_ort`): it
optimizes the graph once, at conversion time, for the target platform ("arm": no x86-only NCHWc
layouts, QDQ kept as int8) and writes the FlatBuffers file that the mobile and minimal builds load,
plus `required_operators.config`, the `--include_ops_by_config` input of a reduced build. The
edge-albert metadata (task, labels, max length, precision) survives the conversion, so bundles,
`validate` and `predict` read an `.ort` file as they read the `.onnx` it came from.

The usability report is ONNX Runtime's checker (`check_onnx_model_mobile_usability`), returned as
data instead of log lines: per accelerator, how many nodes it could take, in how many partitions,
which operators it cannot take, and the checker's verdict, as exported and with the input shapes
fixed (NNAPI takes no dynamic shapes).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import pathlib
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_albert.errors import InputError
from edge_albert.staging import staged_file

TARGET_PLATFORMS = ("arm", "amd64")
# The accelerators ONNX Runtime's checker knows, and the operator lists it reads for each.
PROVIDERS = {"NNAPI": None, "CoreML MLProgram": "coreml_supported_mlprogram_ops.md",
             "CoreML NeuralNetwork": "coreml_supported_neuralnetwork_ops.md"}
CONFIG_SUFFIX = ".required_operators.config"


@dataclass
class Partitioning:
    """How one accelerator would take the graph, as ONNX Runtime's checker estimates it."""

    provider: str  # NNAPI, CoreML MLProgram, CoreML NeuralNetwork
    nodes: int
    supported_nodes: int
    partitions: int
    unsupported_ops: list[str]
    verdict: str  # the checker's "should perform well as is": YES, MAYBE or NO
    fixed_shape_supported_nodes: int  # the same with every input shape fixed
    fixed_shape_partitions: int
    fixed_shape_verdict: str

    @property
    def supported_fraction(self) -> float:
        return self.supported_nodes / self.nodes if self.nodes else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "supported_fraction": self.supported_fraction}


@dataclass
class MobileUsability:
    dynamic_inputs: list[str]
    providers: list[Partitioning] = field(default_factory=list)

    @property
    def recommended(self) -> bool:
        """The checker's overall answer: some accelerator may pay off (a verdict other than NO)."""
        return any(p.verdict != "NO" or p.fixed_shape_verdict != "NO" for p in self.providers)

    def to_dict(self) -> dict:
        return {"dynamic_inputs": self.dynamic_inputs, "recommended": self.recommended,
                "providers": [p.to_dict() for p in self.providers]}

    def summary_lines(self) -> list[str]:
        lines = []
        for p in self.providers:
            lines.append(f"{p.provider}: {p.supported_nodes}/{p.nodes} nodes in {p.partitions} partition(s), verdict {p.verdict}; "
                         f"with fixed shapes {p.fixed_shape_supported_nodes}/{p.nodes} in {p.fixed_shape_partitions}, "
                         f"verdict {p.fixed_shape_verdict}"
                         + (f"; cannot take {', '.join(p.unsupported_ops)}" if p.unsupported_ops else ""))
        return lines


def mobile_usability(onnx_path: Path) -> MobileUsability:
    """ONNX Runtime's mobile usability check of an ONNX file (after its basic optimizations, as
    the checker runs it), per accelerator: partitions and verdicts as exported and with fixed shapes."""
    from onnxruntime.tools.mobile_helpers import usability_checker as checker
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model

    onnx_path = Path(onnx_path)
    if onnx_path.suffix != ".onnx":
        raise InputError("the mobile usability check reads an .onnx file (the one the .ort file is made from)", onnx_path)
    with tempfile.TemporaryDirectory() as tmp:
        optimized = pathlib.Path(tmp) / onnx_path.name
        optimize_model(onnx_path, optimized, use_external_initializers=True)
        model = ModelProtoWithShapeInfo(optimized).model_with_shape_info
        dynamic_inputs, _ = checker.check_shapes(model.graph, logging.getLogger("edge_albert.ort_usability"))
        result = MobileUsability([i.name for i in dynamic_inputs])
        for provider, ops_file in PROVIDERS.items():
            def check(fixed: bool, provider=provider, ops_file=ops_file):
                if ops_file is None:
                    return checker.check_nnapi_partitions(model, require_fixed_input_sizes=fixed)
                return checker.check_coreml_partitions(model, require_fixed_input_sizes=fixed, config_filename=ops_file)

            as_is, fixed = check(True), check(False)
            result.providers.append(Partitioning(
                provider, as_is.num_nodes, as_is.num_supported_nodes, as_is.num_partitions, sorted(as_is.unsupported_ops),
                as_is.suitability().name, fixed.num_supported_nodes, fixed.num_partitions, fixed.suitability().name))
    return result


@dataclass
class OrtFormatResult:
    path: Path
    config_path: Path  # required_operators.config for a reduced build
    size_bytes: int
    source_bytes: int
    target_platform: str
    operators: dict[str, list[str]]  # "ai.onnx;20" -> the operators the file uses
    max_abs_diff: float  # the .ort file vs its .onnx source on random token ids
    same_predictions: bool
    usability: MobileUsability | None

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(path=str(self.path), config_path=str(self.config_path),
                   usability=self.usability.to_dict() if self.usability else None)
        return out


def read_operator_config(path: Path) -> dict[str, list[str]]:
    """`domain;opset;Op1,Op2` lines of a reduced-build config -> {"domain;opset": [ops]}."""
    ops: dict[str, list[str]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        domain, opset, names = line.split(";", 2)
        ops[f"{domain};{opset}"] = sorted(n.strip() for n in names.split(",") if n.strip())
    return ops


def _check_outputs(source: Path, converted: Path, samples: int = 3) -> tuple[float, bool, bool]:
    """Largest |output difference|, whether the argmax is the same (.ort vs its .onnx, on random
    token ids at a few lengths up to the file's maximum, padding in the second row of each
    batch), and whether the source has integer weights."""
    from edge_albert.runtimes import open_session

    ref, cand = open_session(source), open_session(converted, runtime="onnxruntime")
    integer = str(ref.metadata.get("precision", "")).startswith(("int8", "int4"))
    vocab = int(ref.metadata.get("vocab_size", 1000) or 1000)
    worst, same = 0.0, True
    for i, length in enumerate(sorted({min(n, ref.max_length) for n in (7, 32, 100)})[:samples]):
        rng = np.random.default_rng(i)
        ids = rng.integers(5, vocab, (2, length)).astype(np.int64)
        ids[:, 0] = 2
        mask = np.ones_like(ids)
        mask[1, max(2, length // 2):] = 0
        ids[1, max(2, length // 2):] = 0
        batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        a, b = ref.run(batch), cand.run(batch)
        if a.shape != b.shape:
            return math.inf, False, integer
        worst = max(worst, float(np.abs(a - b).max()))
        same = same and bool((a.argmax(-1) == b.argmax(-1)).all())
    return worst, same, integer


def convert_to_ort_format(source: Path, output: Path, *, target_platform: str = "arm", force: bool = False,
                          usability: bool = True, atol: float = 1e-4) -> OrtFormatResult:
    """Write `output` (.ort) and `output` with `.required_operators.config` from the ONNX file
    `source`; check the .ort file against the source before anything reaches `output`."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    source, output = Path(source), Path(output)
    if source.suffix != ".onnx" or not source.is_file():
        raise InputError("expected an .onnx file (convert or quantize a checkpoint --to onnx first)", source)
    if output.suffix != ".ort":
        raise InputError("the output of --to ort must end in .ort", output)
    if target_platform not in TARGET_PLATFORMS:
        raise InputError(f"unknown target platform {target_platform!r}; use {' or '.join(TARGET_PLATFORMS)}")
    import onnx

    if any(i.type.tensor_type.elem_type == onnx.TensorProto.STRING for i in onnx.load(str(source), load_external_data=False).graph.input):
        raise InputError("a text-input file (convert --with-tokenizer) needs onnxruntime-extensions, which ONNX Runtime's mobile "
                         "format and minimal builds do not carry; convert the token-input .onnx file", source)
    config_out = output.with_name(output.stem + CONFIG_SUFFIX)
    results: dict = {}

    def verify(stage: Path) -> None:
        diff, same, integer = _check_outputs(source, stage)
        kept = "the existing file is unchanged" if output.exists() else "nothing written"
        # Dynamic int8 re-quantizes activations computed by differently fused kernels: a rounding
        # step can move by one, so integer files are held to the same predictions, not to 1e-4.
        if not same or (not integer and diff > atol):
            raise InputError(f"the .ort file disagrees with its source (max abs diff {diff:.2e}, same predictions {same}); {kept}", source)
        results.update(max_abs_diff=diff, same_predictions=same)

    with tempfile.TemporaryDirectory(prefix=".ort-", dir=output.parent if output.parent.exists() else None) as tmp:
        work = Path(tmp)
        model = work / "model.onnx"
        # The tool names its outputs after the input and converts every .onnx it is given: it gets
        # a folder of one file, so the names are known and nothing beside the source is touched.
        # A file with external data must keep its data file beside it.
        shutil.copyfile(source, model)
        _quiet_convert(lambda: convert_onnx_models_to_ort(model, output_dir=work / "out", optimization_styles=[OptimizationStyle.Fixed],
                                                          target_platform=target_platform))
        produced, config = work / "out" / "model.ort", work / "out" / ("model" + CONFIG_SUFFIX)
        if not produced.is_file() or not config.is_file():
            raise InputError("ONNX Runtime's converter wrote no .ort file", source)
        with staged_file(output, force=force, verify=verify) as stage:
            shutil.copyfile(produced, stage)
        # The config belongs to the .ort file beside it: written once that file is in place.
        with staged_file(config_out, force=True) as stage:
            shutil.copyfile(config, stage)
    report = mobile_usability(source) if usability else None
    return OrtFormatResult(output, config_out, output.stat().st_size, source.stat().st_size, target_platform,
                           read_operator_config(config_out), results["max_abs_diff"], results["same_predictions"], report)


def _quiet_convert(run) -> None:
    """ONNX Runtime's converter prints each step; the CLI reports the result itself."""
    logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            run()
    except Exception as exc:  # onnxruntime raises its own exception types
        raise InputError(f"ONNX Runtime's .ort converter failed ({str(exc).splitlines()[0][:200]})") from None


__all__ = ["MobileUsability", "OrtFormatResult", "Partitioning", "convert_to_ort_format", "mobile_usability", "read_operator_config"]
