// The browser target's page: onnxruntime-web (WebAssembly, SIMD, threads when cross-origin
// isolated) runs the job's models; transformers.js's tokenizer makes the ids.
import * as ort from "/ort/ort.wasm.min.mjs";
import { AutoTokenizer, env } from "/transformers/transformers.min.js";
import { runJob } from "/job.mjs";

const status = document.getElementById("status");
try {
  const get = async (name) => (await fetch(`/job/${name}`)).json();
  const job = await get("job.json");
  ort.env.wasm.wasmPaths = "/ort/";
  ort.env.wasm.numThreads = job.threads;
  env.allowRemoteModels = false;
  env.allowLocalModels = true; // off by default in browsers
  env.useBrowserCache = false;
  env.localModelPath = "/";
  const tokenizer = await AutoTokenizer.from_pretrained("job");
  const machine = {
    machine: "wasm32 in the browser",
    cpu_flags: ["wasm-simd128", ...(self.crossOriginIsolated ? ["wasm-threads"] : [])],
    runtime: `onnxruntime-web ${ort.env.versions?.web ?? "?"} (wasm, simd, ${job.threads} thread${job.threads > 1 ? "s" : ""})`,
    tokenizer: `transformers.js ${env.version}`,
    user_agent: navigator.userAgent,
    cross_origin_isolated: self.crossOriginIsolated,
    hardware_concurrency: navigator.hardwareConcurrency,
    threads: job.threads,
  };
  window.__result = await runJob({
    job, texts: await get("texts.json"), tokenizer, ort, machine,
    loadModel: async (file) => new Uint8Array(await (await fetch(`/job/${file}`)).arrayBuffer()),
    sessionOptions: { executionProviders: ["wasm"], graphOptimizationLevel: "all" },
  });
  status.textContent = "done";
} catch (error) {
  window.__error = String(error?.stack ?? error);
  status.textContent = "failed";
}
