"""A static web page that classifies typed text on the device: the model folder that
`convert --to transformers-js` writes, transformers.js and onnxruntime-web's WebAssembly, and an
index.html, all in one folder that any static file host serves (nothing is fetched elsewhere).

    SITE/index.html, SITE/demo.mjs        the page
    SITE/model/                           config, tokenizer.json, onnx/model_quantized.onnx (int8)
    SITE/lib/                             transformers.min.js, onnxruntime-web's WebAssembly

Served without cross-origin isolation headers the page runs one WebAssembly thread; with
`Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp` it may
use more.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from edge_albert.errors import InputError
from edge_albert.js_packages import JS_SOURCES, ensure_js_environment, node_modules
from edge_albert.staging import staged_directory

MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model_quantized.onnx")
# The onnxruntime-web build that transformers.min.js loads (its WebAssembly and loader).
RUNTIME_FILES = ("ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm")


@dataclass
class WebDemo:
    directory: str
    labels: list[str]
    files: dict[str, int]


def write_web_demo(model_folder: Path, output: Path, *, force: bool = False) -> WebDemo:
    """The demo folder for a text classifier's transformers.js folder."""
    model_folder = Path(model_folder)
    missing = [name for name in MODEL_FILES if not (model_folder / name).is_file()]
    if missing:
        raise InputError(f"not a transformers.js folder with an int8 model (missing {', '.join(missing)}); "
                         "make one with `edge-albert convert CKPT --to transformers-js -o DIR`", model_folder)
    config = json.loads((model_folder / "config.json").read_text())
    if "AlbertForSequenceClassification" not in (config.get("architectures") or []):
        raise InputError(f"the web demo classifies text; this model is {config.get('architectures')}", model_folder)
    scripts = ensure_js_environment()
    modules = node_modules(scripts)
    with staged_directory(Path(output), force=force) as stage:
        for name in MODEL_FILES:
            (stage / "model" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(model_folder / name, stage / "model" / name)
        (stage / "lib").mkdir()
        shutil.copyfile(modules / "@huggingface" / "transformers" / "dist" / "transformers.min.js", stage / "lib" / "transformers.min.js")
        for name in RUNTIME_FILES:
            shutil.copyfile(modules / "onnxruntime-web" / "dist" / name, stage / "lib" / name)
        shutil.copyfile(JS_SOURCES / "demo.html", stage / "index.html")
        shutil.copyfile(JS_SOURCES / "demo.mjs", stage / "demo.mjs")
        files = {str(p.relative_to(stage)): p.stat().st_size for p in sorted(stage.rglob("*")) if p.is_file()}
    labels = [config.get("id2label", {}).get(str(i), str(i)) for i in range(len(config.get("id2label", {})))]
    return WebDemo(str(output), labels, files)


__all__ = ["write_web_demo", "WebDemo"]
