"""Converters: checkpoint directory in, deployable .onnx / .tflite / .pte file out, with metadata."""
