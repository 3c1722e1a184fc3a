"""Converters: checkpoint directory in, deployable .onnx / .tflite file out, with metadata."""
