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


def _count_weight_ops(nodes: list[tuple[str, list[str], list[str]]], constants: dict[str, tuple[bool, int]]) -> QuantizationCoverage:
    """The coverage of a graph given as (op type, inputs, outputs) nodes and its constants
    (name -> (integer type, rank)): one counter for the .onnx and the .ort forms of a graph."""
    producer = {out: (op, inputs) for op, inputs, outputs in nodes for out in outputs}

    def constant_kind(name: str) -> str | None:
        """'int' or 'float' for a constant (directly, or through DequantizeLinear / Cast / Transpose), else None."""
        for _ in range(4):
            if name in constants:
                return "int" if constants[name][0] else "float"
            op, inputs = producer.get(name, (None, []))
            if op not in ("DequantizeLinear", "Cast", "Transpose", "Reshape") or not inputs:
                return None
            if op == "DequantizeLinear":
                return "int" if constant_kind(inputs[0]) == "int" else None
            name = inputs[0]
        return None

    matmuls = quantized = gathers = quantized_gathers = 0
    for op, inputs, _ in nodes:
        if op in ONNX_INTEGER_MATMULS or op in ONNX_FLOAT_MATMULS:
            # The weight is the B operand: input 1, or input 3 for QLinearMatMul (a, a_scale, a_zp, b, ...).
            index = 3 if op in ("QLinearMatMul", "QGemm") else 1
            kind = constant_kind(inputs[index]) if len(inputs) > index else None
            if kind is None:
                continue  # activation x activation (attention scores and context)
            matmuls += 1
            quantized += kind == "int"
        elif op in ONNX_GATHERS:
            kind = constant_kind(inputs[0])
            if kind is not None and (inputs[0] not in constants or constants[inputs[0]][1] == 2):
                gathers += 1
                quantized_gathers += kind == "int"
    return QuantizationCoverage(matmuls, quantized, gathers, quantized_gathers)


def _onnx_coverage(path: Path, content: bytes | None) -> QuantizationCoverage:
    import onnx

    graph = (onnx.load_from_string(content) if content is not None else onnx.load(str(path), load_external_data=False)).graph
    integer_types = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT4, onnx.TensorProto.UINT4}
    constants = {i.name: (i.data_type in integer_types, len(i.dims)) for i in graph.initializer}
    for node in graph.node:  # Constant nodes are initializers by another name
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                constants[node.output[0]] = (value.data_type in integer_types, len(value.dims))
    return _count_weight_ops([(n.op_type, list(n.input), list(n.output)) for n in graph.node], constants)


def _ort_coverage(path: Path, content: bytes | None) -> QuantizationCoverage:
    """The same count on ONNX Runtime's mobile format, read with the FlatBuffers bindings that ship
    in onnxruntime (the graph as the converter optimized it: fused kernels keep their weights)."""
    import onnxruntime.tools.ort_format_model  # noqa: F401  (puts ort_flatbuffers_py on the path)
    from ort_flatbuffers_py import fbs

    data = bytearray(content if content is not None else Path(path).read_bytes())
    graph = fbs.InferenceSession.InferenceSession.GetRootAsInferenceSession(data, 0).Model().Graph()
    kinds = fbs.TensorDataType.TensorDataType
    integer_types = {kinds.INT8, kinds.UINT8}
    constants = {}
    for i in range(graph.InitializersLength()):
        tensor = graph.Initializers(i)
        constants[tensor.Name().decode()] = (tensor.DataType() in integer_types, tensor.DimsLength())
    nodes = []
    for i in range(graph.NodesLength()):
        node = graph.Nodes(i)
        nodes.append((node.OpType().decode(), [node.Inputs(j).decode() for j in range(node.InputsLength())],
                      [node.Outputs(j).decode() for j in range(node.OutputsLength())]))
    return _count_weight_ops(nodes, constants)


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


# XNNPACK value types of integer weights (per-channel int8, per-channel and block-wise int4).
XNNPACK_INTEGER_TYPES = {"xnn_datatype_qcint8", "xnn_datatype_qcint4", "xnn_datatype_qbint4", "xnn_datatype_qint8"}
# Portable kernels that multiply by a weight when a linear layer escapes the XNNPACK delegate.
PTE_MATMUL_KERNELS = {"aten::linear", "aten::mm", "aten::addmm"}
CHAR_SCALAR_TYPES = {0, 1}  # ExecuTorch ScalarType Byte, Char


def _pte_coverage(path: Path, content: bytes | None) -> QuantizationCoverage | None:
    """The count on an ExecuTorch program: each XNNPACK delegate's graph (its FlatBuffers payload,
    read with the schema and flatc that ship in executorch) for the fully connected nodes and
    their weight types, and the program's own kernel calls for linears left outside the delegate
    and for embedding tables (int8 rows count as quantized gathers; per-row scale columns are not
    tables). None without the executorch extra."""
    try:
        import executorch.backends.xnnpack.serialization.xnnpack_graph_serialize as xnn
        from executorch.exir._serialize._flatbuffer import _flatc_decompile
        from executorch.exir._serialize._program import deserialize_pte_binary
    except ImportError:
        return None
    import json
    import os
    import tempfile

    program = deserialize_pte_binary(content if content is not None else Path(path).read_bytes()).program
    schema = os.path.join(os.path.dirname(xnn.__file__), "schema.fbs")
    matmuls = quantized = gathers = quantized_gathers = 0
    with tempfile.TemporaryDirectory() as tmp:
        for delegate in program.backend_delegate_data:
            blob = bytes(delegate.data)
            header = xnn.XNNHeader.from_bytes(blob[:xnn.XNNHeader.EXPECTED_LENGTH])
            Path(tmp, "graph.bin").write_bytes(blob[header.flatbuffer_offset:header.flatbuffer_offset + header.flatbuffer_size])
            _flatc_decompile(tmp, schema, os.path.join(tmp, "graph.bin"), ["--raw-binary"])
            graph = json.loads(Path(tmp, "graph.json").read_text())
            kinds = {}
            for value in graph.get("xvalues", []):
                tensor = value["xvalue_union"].get("tensor_value", value["xvalue_union"])
                kinds[tensor["id_out"]] = tensor["datatype"]
            for node in graph.get("xnodes", []):
                if node["xnode_union_type"] == "XNNFullyConnected":
                    matmuls += 1
                    quantized += kinds.get(node["xnode_union"]["filter_id"]) in XNNPACK_INTEGER_TYPES
    for plan in program.execution_plan:
        for chain in plan.chains:
            for instruction in chain.instructions:
                call = instruction.instr_args
                if type(call).__name__ != "KernelCall":
                    continue
                name = plan.operators[call.op_index].name
                if name in PTE_MATMUL_KERNELS:
                    matmuls += 1  # a linear outside XNNPACK runs the portable float kernel
                elif name == "aten::embedding":
                    table = plan.values[call.args[0]].val
                    if len(table.sizes) == 2 and table.sizes[1] > 1:
                        gathers += 1
                        quantized_gathers += table.scalar_type in CHAR_SCALAR_TYPES
    return QuantizationCoverage(matmuls, quantized, gathers, quantized_gathers)


def quantization_coverage(path: Path, content: bytes | None = None) -> QuantizationCoverage | None:
    """The coverage of an .onnx, .ort, .tflite or .pte file (or of `content`, a file of that name
    held in memory, as in a bundle); None for other artifacts (checkpoints)."""
    path = Path(path)
    if path.suffix == ".onnx":
        return _onnx_coverage(path, content)
    if path.suffix == ".ort":
        return _ort_coverage(path, content)
    if path.suffix == ".tflite":
        return _tflite_coverage(path, content)
    if path.suffix == ".pte":
        return _pte_coverage(path, content)
    return None


__all__ = ["QuantizationCoverage", "quantization_coverage"]
