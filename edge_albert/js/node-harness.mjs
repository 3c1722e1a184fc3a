// The Node target: `node node-harness.mjs JOB_DIR` runs the job with onnxruntime-node and
// transformers.js's tokenizer, and writes JOB_DIR/result.json.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { AutoTokenizer, env } from "@huggingface/transformers";
import { runJob } from "./job.mjs";

const jobDir = path.resolve(process.argv[2]);
const read = (name) => JSON.parse(fs.readFileSync(path.join(jobDir, name), "utf8"));
const job = read("job.json");
env.allowRemoteModels = false;
env.localModelPath = path.dirname(jobDir) + path.sep;
const tokenizer = await AutoTokenizer.from_pretrained(path.basename(jobDir));
const transformersVersion = JSON.parse(fs.readFileSync(new URL("../node_modules/@huggingface/transformers/package.json", import.meta.url))).version;
// The SIMD flags the Python harness reports (edge_albert/machine.py), from /proc/cpuinfo where there is one.
const SIMD = ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "avx_vnni", "asimd", "asimddp", "sve"];
let flags = [];
try {
  const line = fs.readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => /^(flags|Features)\s*:/.test(l)) ?? "";
  const present = new Set(line.split(":")[1]?.trim().split(/\s+/) ?? []);
  flags = SIMD.filter((f) => present.has(f));
} catch {}
const machine = {
  machine: `${os.arch()}, Node ${process.version}`,
  cpu_flags: flags,
  cpu_model: os.cpus()[0]?.model ?? "unknown",
  logical_cpus: os.cpus().length,
  platform: `${process.platform}-${process.arch}`,
  node: process.version,
  runtime: `onnxruntime-node ${ort.env.versions?.node ?? ort.env.versions?.common ?? "?"}`,
  tokenizer: `transformers.js ${transformersVersion}`,
  threads: job.threads,
};
const result = await runJob({
  job, texts: read("texts.json"), tokenizer, ort, machine,
  loadModel: async (file) => path.join(jobDir, file),
  sessionOptions: { intraOpNumThreads: job.threads, interOpNumThreads: 1, graphOptimizationLevel: "all" },
});
fs.writeFileSync(path.join(jobDir, "result.json.partial"), JSON.stringify(result));
fs.renameSync(path.join(jobDir, "result.json.partial"), path.join(jobDir, "result.json"));
