// The web demo: transformers.js classifies the typed text with the int8 model in ./model/.
// Everything is served as static files from this folder; nothing is fetched elsewhere.
import { pipeline, env } from "./lib/transformers.min.js";

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.useBrowserCache = false;
env.localModelPath = "./"; // the page's folder: ./model/
env.backends.onnx.wasm.wasmPaths = new URL("./lib/", import.meta.url).href;

const $ = (id) => document.getElementById(id);
const started = performance.now();
const classify = await pipeline("text-classification", "model", { dtype: "q8" });
$("status").textContent = `model loaded in ${Math.round(performance.now() - started)} ms`;
$("classify").disabled = false;
document.body.dataset.ready = "true";

$("classify").addEventListener("click", async () => {
  const text = $("text").value;
  const t0 = performance.now();
  const scores = await classify(text, { top_k: null });
  const ms = performance.now() - t0;
  $("label").textContent = scores[0].label;
  $("scores").textContent = scores.map((s) => `${s.label} ${s.score.toFixed(3)}`).join(", ") + ` (${ms.toFixed(1)} ms)`;
  $("label").dataset.scores = JSON.stringify(Object.fromEntries(scores.map((s) => [s.label, s.score])));
});
