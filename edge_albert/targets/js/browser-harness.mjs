// The browser target: `node browser-harness.mjs JOB_DIR CHROMIUM TIMEOUT_S` serves the job, the
// page and the npm packages from 127.0.0.1 (cross-origin isolated: WebAssembly threads work),
// opens the page in headless Chromium with playwright-core, and writes JOB_DIR/result.json.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const [jobDir, executablePath, timeoutSeconds] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, "..", "node_modules");
const roots = {
  "/job/": path.resolve(jobDir),
  "/ort/": path.join(modules, "onnxruntime-web", "dist"),
  "/transformers/": path.join(modules, "@huggingface", "transformers", "dist"),
  "/": here,
};
const types = { ".html": "text/html", ".mjs": "text/javascript", ".js": "text/javascript", ".json": "application/json", ".wasm": "application/wasm" };

export function serve(routes) {
  return http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, "http://localhost").pathname);
    const prefix = Object.keys(routes).find((p) => url.startsWith(p));
    const file = prefix && path.resolve(routes[prefix], url.slice(prefix.length));
    if (!file || !file.startsWith(routes[prefix]) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      "Content-Type": types[path.extname(file)] ?? "application/octet-stream",
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
      "Cross-Origin-Resource-Policy": "same-origin",
      "Cache-Control": "no-store",
    });
    fs.createReadStream(file).pipe(res);
  });
}

const server = serve(roots);
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const browser = await chromium.launch({
  executablePath, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let exitCode = 0;
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/page.html`);
  await page.waitForFunction(() => window.__result || window.__error, null, { timeout: Number(timeoutSeconds) * 1000 });
  const { result, error } = await page.evaluate(() => ({ result: window.__result, error: window.__error }));
  if (error) throw new Error(error);
  result.machine.browser = `Chromium ${browser.version()}`;
  result.machine.machine = `wasm32 in Chromium ${browser.version()}`;
  fs.writeFileSync(path.join(jobDir, "result.json.partial"), JSON.stringify(result));
  fs.renameSync(path.join(jobDir, "result.json.partial"), path.join(jobDir, "result.json"));
} catch (error) {
  console.error(String(error?.stack ?? error));
  exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
process.exit(exitCode);
