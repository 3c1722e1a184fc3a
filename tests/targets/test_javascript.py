"""JavaScript: the transformers.js folder, transformers.js's tokenizer against ours, and the node
and browser targets (onnxruntime-node; onnxruntime-web WebAssembly in headless Chromium), all
real: the pinned npm packages (installed into the cache on first use, ~10 s from npm's cache,
about a minute from the registry) and the system's Node and Chromium."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_albert.errors import InputError
from edge_albert.tokenization import AlbertTokenizer, write_tokenizer_json
from tests.conftest import require_tool

# Characters that stress a tokenizer: accents and combining marks, ALBERT's quote rewriting,
# white space of every kind (leading, trailing, runs, tabs, no-break, zero width), digits,
# CJK, emoji, dashes.
FUZZ_ALPHABET = "abcXYZ éèüßçñ ..,,!?''``\"-–— \t  \n0123456789日本語😀\u00a0\u200b\u0301"


def fuzzed(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(FUZZ_ALPHABET) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def test_tokenizer_json_gives_our_ids(tmp_path, spiece_model, sst2_dev, conll_dev):
    """transformers' converter, plus the Strip normalizer we add: the `tokenizers` library on the
    tokenizer.json gives our ids on SST-2 dev, CoNLL dev and 1,000 fuzzed strings."""
    from tokenizers import Tokenizer

    write_tokenizer_json(spiece_model, tmp_path)
    theirs, ours = Tokenizer.from_file(str(tmp_path / "tokenizer.json")), AlbertTokenizer(spiece_model)
    texts = [s for _, s in sst2_dev] + [" ".join(words) for words in conll_dev.words] + fuzzed(1000)
    assert [t for t in texts if theirs.encode(t).ids != ours.encode(t, max_length=None).input_ids] == []
    # without the Strip normalizer, trailing white space becomes a lone "▁" piece
    assert theirs.encode("a fine film ").tokens[-2] != "▁"
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["do_lower_case"] and not config["keep_accents"] and config["tokenizer_class"] == "AlbertTokenizer"


@pytest.fixture(scope="module")
def js_environment() -> Path:
    require_tool("node", package="nodejs")
    require_tool("npm", package="npm")
    from edge_albert.js_packages import ensure_js_environment

    return ensure_js_environment()


PIPELINE_SCRIPT = """
const { pipeline, env } = require("@huggingface/transformers");
const [folder, dtype, textsFile] = process.argv.slice(1);
env.allowRemoteModels = false;
env.localModelPath = require("path").dirname(folder) + "/";
(async () => {
  const classify = await pipeline("text-classification", require("path").basename(folder), { dtype });
  const texts = JSON.parse(require("fs").readFileSync(textsFile, "utf8"));
  const out = await classify(texts, { top_k: null });
  console.log(JSON.stringify(out.map((labels) => Object.fromEntries(labels.map((l) => [l.label, l.score])))));
})().catch((e) => { console.error(e); process.exit(1); });
"""


# int8 quantizes activations per batch at run time: the pipeline's padded batch of 48 gets other
# scales than the host's one-text runs, so int8 is held to its usual bounds, fp32 to rounding.
@pytest.mark.parametrize("dtype,onnx_file,tolerance", [("fp32", "model.onnx", 1e-5), ("q8", "model_quantized.onnx", 0.02)])
def test_transformers_js_classifies_with_our_folder(tmp_path, js_environment, web_folder, trained_checkpoint, sst2_dev, dtype, onnx_file, tolerance):
    """transformers.js's own pipeline in Node loads the folder (local files only) and gives the
    probabilities this host's ONNX Runtime gives for the same file, with our labels."""
    import onnxruntime as ort

    texts = [s for _, s in sst2_dev[:48]]
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    env = {**os.environ, "NODE_PATH": str(js_environment.parent / "node_modules")}
    proc = subprocess.run(["node", "-e", PIPELINE_SCRIPT, str(web_folder), dtype, str(tmp_path / "texts.json")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    scores = json.loads(proc.stdout)
    assert set(scores[0]) == {"negative", "positive"}
    session = ort.InferenceSession(str(web_folder / "onnx" / onnx_file))
    tok = AlbertTokenizer(trained_checkpoint / "spiece.model")
    host = []
    for text in texts:
        ids = np.asarray([tok.encode(text).input_ids], dtype=np.int64)
        logits = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})[0][0]
        e = np.exp(logits - logits.max())
        host.append(e / e.sum())
    ours, host = np.asarray([[s["negative"], s["positive"]] for s in scores]), np.asarray(host)
    assert np.abs(ours - host).max() <= tolerance
    assert (ours.argmax(1) == host.argmax(1)).mean() >= (1.0 if dtype == "fp32" else 47 / 48)
    assert len({int(p.argmax()) for p in ours}) == 2  # a model that separates the sentences, not a constant


def test_transformers_js_folder_refuses_tasks_it_has_no_albert_class_for(tmp_path, ner_checkpoint):
    from edge_albert.quantization.transformers_js import export_transformers_js

    with pytest.raises(InputError, match="transformers.js has no ALBERT model for token-classification"):
        export_transformers_js(ner_checkpoint, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_transformers_js_tokenizer_in_node_gives_our_ids(js_environment, trained_checkpoint, trained_artifacts, sst2_dev):
    """All 872 SST-2 dev sentences and 1,000 fuzzed strings through transformers.js's tokenizer
    (the node target reports every text whose ids differ from the host's), and the logits."""
    from edge_albert.targets import parse_target, run_on_target

    texts = [s for _, s in sst2_dev] + fuzzed(1000, seed=1)
    run = run_on_target(parse_target("node"), [trained_artifacts["onnx"]], trained_checkpoint / "spiece.model", texts, max_length=128)
    assert run.tokenizer_mismatches == []
    assert run.models[0].vs_host["max_abs_logit_diff"] <= 1e-4 and run.models[0].vs_host["agreement"] == 1.0
    assert run.models[0].runtime.startswith("onnxruntime-node ")


@pytest.mark.quiet_machine  # records a baseline from its report, which a busy machine may not
def test_validate_on_node_and_browser(tmp_path, js_environment, trained_checkpoint, web_folder, sst2_dev):
    """`edge-albert validate --target node --target browser:2`: the rows land in the JSON report,
    fp32 within 1e-4 of the host and int8 agreeing >= 99.5% in both runtimes, ids identical, the
    browser page cross-origin isolated (WebAssembly threads), and the gate passes them."""
    require_tool("chromium", "chromium-browser", "google-chrome", package="chromium")
    data = tmp_path / "dev.tsv"
    data.write_text("label\tsentence\n" + "".join(f"{label}\t{text}\n" for label, text in sst2_dev[:200]))
    fp32, int8 = web_folder / "onnx" / "model.onnx", web_folder / "onnx" / "model_quantized.onnx"
    proc = subprocess.run([sys.executable, "-m", "edge_albert.cli", "validate", str(trained_checkpoint), str(fp32), str(int8), "--data", str(data),
                           "--target", "node", "--target", "browser:2", "--target-texts", "200", "--runs", "2", "--no-memory", "-o", str(tmp_path / "report")],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "EDGE_ALBERT_PROGRESS": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    runs = {run["target"]: run for run in report["targets"]}
    assert set(runs) == {"node", "browser:2"}
    for run in runs.values():
        assert run["texts"] == 200 and run["tokenizer_mismatches"] == []
        by_file = {Path(m["artifact"]).name: m for m in run["models"]}
        assert by_file["model.onnx"]["vs_host"]["max_abs_logit_diff"] <= 1e-4
        assert by_file["model_quantized.onnx"]["vs_host"]["agreement"] >= 0.995
    browser = runs["browser:2"]
    assert browser["machine"]["cross_origin_isolated"] is True and browser["machine"]["threads"] == 2
    assert "onnxruntime-web" in browser["models"][0]["runtime"] and "2 threads" in browser["models"][0]["runtime"]
    assert browser["machine"]["browser"].startswith("Chromium ")
    assert "browser:2" in (tmp_path / "report" / "report.html").read_text()
    floors = tmp_path / "floors.json"
    floors.write_text(json.dumps({"artifacts": {"model.onnx": {"min_agreement": 1.0, "max_abs_logit_diff": 1e-4},
                                                "model_quantized.onnx": {"min_agreement": 0.99}}}))
    base = tmp_path / "baseline"
    for cmd in (lambda: ["baseline", str(tmp_path / "report" / "report.json"), "--floors", str(floors), "-o", str(base)],
                lambda: ["check", str(tmp_path / "report" / "report.json"), "--baseline", str(next(base.glob("*.json"))), "--floors", str(floors)]):
        proc = subprocess.run([sys.executable, "-m", "edge_albert.cli", *cmd()], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # the gate checks each target's run of each file against this host
    assert proc.stdout.count("target_agreement_vs_host") >= 4, proc.stdout[-3000:]
