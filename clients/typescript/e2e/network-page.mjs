// The gateway's live network page, rendered in headless Chromium: prints, as one JSON line, the
// raw numbers the page shows (its data-value attributes and by-type rows), so the caller can
// compare them with the database. Env: COMPUTE_GATEWAY_URL (the gateway root), CHROMIUM
// (default /usr/bin/chromium), PAGE_SCREENSHOT (optional: a PNG path).
import { chromium } from "playwright-core";

const gateway = process.env.COMPUTE_GATEWAY_URL;
if (!gateway) {
  console.error("network-page: set COMPUTE_GATEWAY_URL");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // Without the background-networking flags Chromium keeps dialing Google, which this closed
  // network refuses.
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  await page.goto(new URL("/", gateway).href);
  await page.waitForSelector("body[data-updated-at]", { timeout: 15000 });
  const shown = await page.evaluate(() => ({
    stats: Object.fromEntries(
      [...document.querySelectorAll("[data-stat]")].map((e) => [e.dataset.stat, e.dataset.value]),
    ),
    text: Object.fromEntries(
      [...document.querySelectorAll("[data-stat]")].map((e) => [e.dataset.stat, e.textContent]),
    ),
    by_type: Object.fromEntries(
      [...document.querySelectorAll("#by-type-table tbody tr")].map((row) => [
        row.dataset.type,
        Number(row.dataset.activeNodes),
      ]),
    ),
    bars: document.querySelectorAll("#by-type-chart rect").length,
    history_points: document.querySelectorAll("#history-chart polyline").length,
    status: document.getElementById("status").textContent,
    stale: document.body.classList.contains("stale"),
  }));
  if (process.env.PAGE_SCREENSHOT) {
    await page.screenshot({ path: process.env.PAGE_SCREENSHOT, fullPage: true });
  }
  console.log(JSON.stringify({ ...shown, problems }));
} finally {
  await browser.close();
}
