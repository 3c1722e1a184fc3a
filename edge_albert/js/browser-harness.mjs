// The browser target: `node browser-harness.mjs JOB_DIR CHROMIUM TIMEOUT_S` serves the job, the
// page and the npm packages from 127.0.0.1 (cross-origin isolated: WebAssembly threads work),
// opens the page in headless Chromium with playwright-core, and writes JOB_DIR/result.json.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { withPage } from "./chromium-page.mjs";

const [jobDir, executablePath, timeoutSeconds] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, "..", "node_modules");
const routes = {
  "/job/": path.resolve(jobDir),
  "/ort/": path.join(modules, "onnxruntime-web", "dist"),
  "/transformers/": path.join(modules, "@huggingface", "transformers", "dist"),
  "/": here,
};

await withPage(executablePath, routes, async (page, origin, browser) => {
  await page.goto(`${origin}page.html`);
  await page.waitForFunction(() => window.__result || window.__error, null, { timeout: Number(timeoutSeconds) * 1000 });
  const { result, error } = await page.evaluate(() => ({ result: window.__result, error: window.__error }));
  if (error) throw new Error(error);
  result.machine.browser = `Chromium ${browser.version()}`;
  result.machine.machine = `wasm32 in Chromium ${browser.version()}`;
  fs.writeFileSync(path.join(jobDir, "result.json.partial"), JSON.stringify(result));
  fs.renameSync(path.join(jobDir, "result.json.partial"), path.join(jobDir, "result.json"));
});
