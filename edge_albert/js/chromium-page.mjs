// What the browser target and the web demo's check share: a static file server on 127.0.0.1
// (each URL prefix maps to a folder; every response is cross-origin isolated with COOP/COEP, so
// pages may use WebAssembly threads, as a production host for them must be configured too) and
// one page of headless Chromium, driven by playwright-core.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { chromium } from "playwright-core";

const types = { ".html": "text/html", ".mjs": "text/javascript", ".js": "text/javascript", ".json": "application/json", ".wasm": "application/wasm",
                ".png": "image/png" };

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


// Serve `routes`, open a page of the Chromium at `executablePath`, run `work(page, origin, browser)`,
// close everything and exit: 0 when `work` finished, 1 (its error on stderr) when it threw.
export async function withPage(executablePath, routes, work) {
  const server = serve(routes);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const browser = await chromium.launch({
    executablePath, headless: true,
    // no background traffic: the machines that run this may have no network beyond localhost
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  let exitCode = 0;
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
    await work(page, `http://127.0.0.1:${server.address().port}/`, browser);
  } catch (error) {
    console.error(String(error?.stack ?? error));
    exitCode = 1;
  } finally {
    await browser.close();
    server.close();
  }
  process.exit(exitCode);
}
