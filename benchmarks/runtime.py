"""On-device runtime: cold start (open bundle + first prediction, fresh process) and the install
footprint of the core (torch-free) install.

    python benchmarks/runtime.py BUNDLE [--repeats 10]

Cold start runs `python -c` in a new process per repeat, so imports, bundle verification
(sha256 of every file), session creation and the first prediction are all counted. The footprint
sums the installed files of the core dependency closure (numpy, sentencepiece, onnxruntime,
ai-edge-litert, click, rich and what they require).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from harness import write_result

CORE = ["numpy", "sentencepiece", "onnxruntime", "ai-edge-litert", "click", "rich"]

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from edge_albert.on_device import Classifier
t1 = time.perf_counter()
clf = Classifier.from_bundle(sys.argv[1], sys.argv[2])
t2 = time.perf_counter()
clf.predict(["a gorgeous, witty, seductive movie."])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "first_predict_s": t3 - t2, "total_s": t3 - t0,
                  "torch_loaded": "torch" in sys.modules}))
"""


def closure(names: list[str]) -> set[str]:
    """The installed distributions `names` require here (environment markers evaluated)."""
    from packaging.requirements import Requirement

    seen, todo = set(), list(names)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = req.name.lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        todo.extend(dist.requires or [])
    return seen


def footprint(names: set[str]) -> dict[str, int]:
    sizes = {}
    for name in sorted(names):
        dist = metadata.distribution(name)
        total = 0
        for f in dist.files or []:
            path = Path(dist.locate_file(f))
            if path.is_file():
                total += path.stat().st_size
        sizes[name] = total
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    rows, data = [], {}
    for backend in ("onnxruntime", "litert"):
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, "-c", PROBE, str(args.bundle), backend], capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        med = {k: float(np.median([r[k] for r in runs])) for k in ("import_s", "open_s", "first_predict_s", "total_s")}
        rows.append([f"cold start ({backend})", f"{med['total_s'] * 1000:.0f} ms",
                     f"import {med['import_s'] * 1000:.0f} + open {med['open_s'] * 1000:.0f} + first predict {med['first_predict_s'] * 1000:.0f} ms; torch loaded: {runs[0]['torch_loaded']}"])
        data[f"cold_start_{backend}"] = {"median": med, "runs": runs}
    sizes = footprint(closure(CORE))
    total = sum(sizes.values())
    rows.append(["install footprint (core)", f"{total / 1e6:.0f} MB", ", ".join(f"{k} {v / 1e6:.1f}" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1]))])
    rows.append(["bundle size", f"{args.bundle.stat().st_size / 1e6:.2f} MB", str(args.bundle)])
    data["footprint_bytes"] = sizes
    write_result("runtime", ["what", "value", "detail"], rows, data, 1)


if __name__ == "__main__":
    main()
