// The part of the JavaScript harness that Node and the browser share: tokenize the job's texts
// with transformers.js's tokenizer (from the tokenizer.json the host wrote), run every model at
// batch 1 and its real length, and return what the Python harness returns (targets/harness.py).

export async function runJob({ job, texts, tokenizer, ort, loadModel, sessionOptions, machine }) {
  const encodings = texts.texts.map((text) => {
    const enc = tokenizer(text, { truncation: true, max_length: job.max_length });
    return {
      ids: Array.from(enc.input_ids.data, Number),
      types: enc.token_type_ids ? Array.from(enc.token_type_ids.data, Number) : null,
    };
  });
  const mismatched = [];
  encodings.forEach((enc, i) => {
    const host = texts.host_ids[i];
    if (enc.ids.length !== host.length || enc.ids.some((id, k) => id !== host[k])) mismatched.push(i);
  });
  const models = [];
  for (const model of job.models) {
    const started = performance.now();
    const session = await ort.InferenceSession.create(await loadModel(model.file), sessionOptions);
    const loadSeconds = (performance.now() - started) / 1000;
    const logits = [];
    const seconds = [];
    for (const enc of encodings) {
      const n = enc.ids.length;
      const feeds = {};
      const tensor = (values) => new ort.Tensor("int64", BigInt64Array.from(values, BigInt), [1, n]);
      if (session.inputNames.includes("input_ids")) feeds.input_ids = tensor(enc.ids);
      if (session.inputNames.includes("attention_mask")) feeds.attention_mask = tensor(new Array(n).fill(1));
      if (session.inputNames.includes("token_type_ids")) feeds.token_type_ids = tensor(enc.types ?? new Array(n).fill(0));
      const start = performance.now();
      const out = await session.run(feeds);
      seconds.push((performance.now() - start) / 1000);
      logits.push(Array.from(out[session.outputNames[0]].data, Number));
    }
    await session.release?.();
    models.push({ file: model.file, runtime: machine.runtime, load_seconds: loadSeconds, seconds, logits });
  }
  return { machine, tokenizer_mismatches: mismatched, models };
}
