// `node demo-check.mjs SITE_DIR CHROMIUM SCREENSHOT TEXT`: serve the demo folder, open it in
// headless Chromium, type TEXT, press Classify, print the label and scores the page shows (and
// any request that left the page's origin) as JSON, and save a screenshot.
import path from "node:path";
import { withPage } from "./chromium-page.mjs";

const [site, executablePath, screenshot, text] = process.argv.slice(2);

await withPage(executablePath, { "/": path.resolve(site) }, async (page, origin) => {
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(`${origin}index.html`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 120000 });
  await page.fill("#text", text);
  await page.click("#classify");
  await page.waitForFunction(() => document.getElementById("label").dataset.scores, null, { timeout: 60000 });
  const label = await page.textContent("#label");
  const scores = JSON.parse(await page.getAttribute("#label", "data-scores"));
  await page.screenshot({ path: screenshot });
  const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith("data:") && !u.startsWith("blob:"));
  console.log(JSON.stringify({ label, scores, foreign_requests: foreign }));
});
