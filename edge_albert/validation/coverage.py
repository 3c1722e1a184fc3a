"""How much of a quantized file really runs in integers: the weight MatMuls and embedding gathers
whose weights are int8 (or int4) in the graph.

ALBERT's classic quantization failure is silent: the shared layer's weights are read by every
repetition, a quantizer that handles only the first use leaves the rest in fp32 (onnxruntime
issue #11701), and the file still works, only slower. Latency shows it only on a CPU class with a
baseline; this count shows it everywhere, from the graph alone. Each node counts once per use,
so a shared weight read by 12 repetitions is 12 MatMuls.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

# ONNX ops that multiply by an integer weight (MatMulNBits: 2-8-bit block-wise weights).
ONNX_INTEGER_MATMULS = {"MatMulInteger", "DynamicQuantizeMatMul", "QLinearMatMul", "MatMulNBits", "QGemm", "MatMulIntegerToFloat"}
ONNX_FLOAT_MATMULS = {"MatMul", "Gemm", "FusedMatMul"}
ONNX_GATHERS = {"Gather", "GatherND"}


@dataclass
class QuantizationCoverage:
    weight_matmuls: int  # MatMul-like nodes with a constant weight operand
    quantized_matmuls: int  # of those, with an integer weight
    embedding_gathers: int  # gathers from a constant table (word, position, type embeddings)
    quantized_gathers: int

    @property
    def quantized_fraction(self) -> float:
        """Integer weight MatMuls over all weight MatMuls (gathers are reported, not counted: ONNX
        Runtime's dynamic int8 leaves embedding lookups in float by design)."""
        return self.quantized_matmuls / self.weight_matmuls if self.weight_matmuls else 0.0

    def to_dict(self) -> dict:
        return asdict(self) | {"quantized_fraction": self.quantized_fraction}


def _onnx_coverage(path: Path, content: bytes | None) -> QuantizationCoverage:
    import onnx

    graph = (onnx.load_from_string(content) if content is not None else onnx.load(str(path), load_external_data=False)).graph
    inits = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    for node in graph.node:  # Constant nodes are initializers by another name
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                inits[node.output[0]] = value
    integer_types = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT4, onnx.TensorProto.UINT4}

    def constant_kind(name: str) -> str | None:
        """'int' or 'float' for a constant (directly, or through DequantizeLinear / Cast / Transpose), else None."""
        for _ in range(4):
            if name in inits:
                return "int" if inits[name].data_type in integer_types else "float"
            node = producer.get(name)
            if node is None or node.op_type not in ("DequantizeLinear", "Cast", "Transpose", "Reshape") or not node.input:
                return None
            if node.op_type == "DequantizeLinear":
                return "int" if constant_kind(node.input[0]) == "int" else None
            name = node.input[0]
        return None

    matmuls = quantized = gathers = quantized_gathers = 0
    for node in graph.node:
        if node.op_type in ONNX_INTEGER_MATMULS or node.op_type in ONNX_FLOAT_MATMULS:
            # The weight is the B operand: input 1, or input 3 for QLinearMatMul (a, a_scale, a_zp, b, ...).
            index = 3 if node.op_type in ("QLinearMatMul", "QGemm") else 1
            kind = constant_kind(node.input[index]) if len(node.input) > index else None
            if kind is None:
                continue  # activation x activation (attention scores and context)
            matmuls += 1
            quantized += kind == "int"
        elif node.op_type in ONNX_GATHERS:
            kind = constant_kind(node.input[0])
            if kind is not None and (node.input[0] not in inits or len(inits[node.input[0]].dims) == 2):
                gathers += 1
                quantized_gathers += kind == "int"
    return QuantizationCoverage(matmuls, quantized, gathers, quantized_gathers)


def _tflite_coverage(path: Path, content: bytes | None) -> QuantizationCoverage:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content if content is not None else Path(path).read_bytes(), 0)
    integer_types = {schema.TensorType.INT8, schema.TensorType.UINT8, schema.TensorType.INT4}
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        codes.append(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))
    B = schema.BuiltinOperator
    weighted = {B.FULLY_CONNECTED: 1, B.BATCH_MATMUL: 1, B.CONV_2D: 1}
    gathers_of = {B.GATHER: 0, B.EMBEDDING_LOOKUP: 1}
    matmuls = quantized = gathers = quantized_gathers = 0
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        producer = {}
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            for k in range(op.OutputsLength()):
                producer[op.Outputs(k)] = op

        def constant_kind(tensor_index: int, depth: int = 0) -> str | None:
            if tensor_index < 0 or depth > 3:
                return None
            tensor = graph.Tensors(tensor_index)
            buffer = model.Buffers(tensor.Buffer())
            if buffer is not None and (buffer.DataLength() > 0 or buffer.Size() > 0):
                return "int" if tensor.Type() in integer_types else "float"
            op = producer.get(tensor_index)
            if op is not None and codes[op.OpcodeIndex()] == B.DEQUANTIZE:
                return constant_kind(op.Inputs(0), depth + 1)
            return None

        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            code = codes[op.OpcodeIndex()]
            if code in weighted and op.InputsLength() > weighted[code]:
                kind = constant_kind(op.Inputs(weighted[code]))
                if kind is not None:
                    matmuls += 1
                    quantized += kind == "int"
            elif code in gathers_of and op.InputsLength() > gathers_of[code]:
                kind = constant_kind(op.Inputs(gathers_of[code]))
                if kind is not None:
                    gathers += 1
                    quantized_gathers += kind == "int"
    return QuantizationCoverage(matmuls, quantized, gathers, quantized_gathers)


def quantization_coverage(path: Path, content: bytes | None = None) -> QuantizationCoverage | None:
    """The coverage of an .onnx or .tflite file (or of `content`, a file of that name held in
    memory, as in a bundle); None for other artifacts (checkpoints)."""
    path = Path(path)
    if path.suffix == ".onnx":
        return _onnx_coverage(path, content)
    if path.suffix == ".tflite":
        return _tflite_coverage(path, content)
    return None


__all__ = ["QuantizationCoverage", "quantization_coverage"]
