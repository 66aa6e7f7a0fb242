// The gateway's live network page, rendered in headless Chromium at a desktop's width (1400 px)
// and a phone's (420 px): prints, as one JSON line, the raw numbers the page shows (its data-*
// attributes: totals, by-type rows and bars, the table by accelerator model, the countries on the
// map and in the table, the history chart's points in its 24-hour and 30-day views) and how each
// layout fits (document width, smallest text drawn), so the caller can compare them with the
// database. Env: COMPUTE_GATEWAY_URL (the gateway root),
// CHROMIUM (default /usr/bin/chromium), PAGE_SCREENSHOTS (optional: a directory for
// network-page-1400.png, network-page-420.png and the 30-day views network-page-1400-30d.png and
// network-page-420-30d.png).
import { chromium } from "playwright-core";
import { join } from "node:path";

const gateway = process.env.COMPUTE_GATEWAY_URL;
if (!gateway) {
  console.error("network-page: set COMPUTE_GATEWAY_URL");
  process.exit(2);
}

/** What the page shows: read in the page. */
function shownNumbers() {
  const rows = (selector) =>
    [...document.querySelectorAll(`${selector} tbody tr`)].map((row) => ({
      key: row.dataset.key,
      active_nodes: Number(row.dataset.activeNodes),
      gpus: Number(row.dataset.gpus),
      gpu_memory_gb: Number(row.dataset.gpuMemoryGb),
    }));
  const width = (element) => element.getBoundingClientRect().width;
  return {
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
    // Each bar's length as a fraction of its track, beside the share it is labelled with.
    bars: Object.fromEntries(
      [...document.querySelectorAll("#by-type-bars li")].map((item) => [
        item.dataset.type,
        {
          share: Number(item.dataset.share) / 100,
          length: width(item.querySelector(".bar")) / width(item.querySelector(".bar-track")),
        },
      ]),
    ),
    by_model: rows("#by-model-table"),
    by_country: rows("#by-country-table"),
    map: Object.fromEntries(
      [...document.querySelectorAll("#map path[data-count]")].map((path) => [
        path.dataset.code,
        { count: Number(path.dataset.count), coloured: /^level-[1-5]$/.test(path.getAttribute("class")) },
      ]),
    ),
    map_shapes: document.querySelectorAll("#map path[data-name]").length,
    status: document.getElementById("status").textContent,
    stale: document.body.classList.contains("stale"),
  };
}

/** The history chart as drawn: its scale (data-* of the SVG), each line's points and the raw
 * bucket starts and values they stand for, the dot at "now", the caption's high and low, and
 * which range the title and the pressed button name. */
function shownHistory() {
  const chart = document.getElementById("history-chart");
  const number = (name) => Number(chart.dataset[name]);
  const list = (text) => (text ? text.split(",") : []);
  return {
    range: chart.dataset.range,
    bucket: chart.dataset.bucket,
    since: chart.dataset.since,
    until: chart.dataset.until,
    left: number("left"),
    top: number("top"),
    width: number("width"),
    height: number("height"),
    high: number("high"),
    points: number("points"),
    lines: [...chart.querySelectorAll("polyline.line")].map((line) => ({
      starts: list(line.dataset.starts),
      values: list(line.dataset.values).map(Number),
      points: line
        .getAttribute("points")
        .trim()
        .split(/\s+/)
        .map((point) => point.split(",").map(Number)),
    })),
    bands: chart.querySelectorAll("polygon.band").length,
    dot: chart.querySelector("circle.dot")?.dataset.value ?? null,
    caption: {
      high: document.getElementById("history-caption").dataset.high ?? null,
      low: document.getElementById("history-caption").dataset.low ?? null,
    },
    title: document.getElementById("history-title").textContent,
    pressed: [...document.querySelectorAll(".views button[aria-pressed=true]")].map((b) => b.dataset.range),
  };
}

/** Switches the chart to the 30-day view, as a user would, and waits for its rows. */
async function showMonth(page) {
  await page.click('.views button[data-range="month"]');
  await page.waitForSelector('#history-chart[data-range="month"][data-fetched="true"]', { timeout: 15000 });
}

/** How the layout fits: the document's width, and the smallest text drawn (SVG text at the
 * size it is drawn, after its viewBox scales it). */
function layout() {
  let smallest = null;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const parent = walker.currentNode.parentElement;
    if (!text || parent.closest("title") || parent.getClientRects().length === 0) continue;
    const style = getComputedStyle(parent);
    if (style.visibility !== "visible") continue;
    let size = parseFloat(style.fontSize);
    const matrix = parent instanceof SVGElement ? parent.getScreenCTM() : null;
    if (matrix) size *= Math.hypot(matrix.a, matrix.b);
    if (!smallest || size < smallest.px) smallest = { px: size, text: text.slice(0, 60) };
  }
  return {
    inner_width: window.innerWidth,
    scroll_width: document.documentElement.scrollWidth,
    smallest_font: smallest,
  };
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

/** Opens the page in a fresh context of this viewport, once it has drawn the network. */
async function open(options, problems) {
  const page = await (await browser.newContext(options)).newPage();
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  // Anything not from the gateway would be a third-party request.
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith("data:") && new URL(url).origin !== new URL(gateway).origin) {
      problems.push(`request elsewhere: ${url}`);
    }
  });
  await page.goto(new URL("/", gateway).href);
  await page.waitForSelector("body[data-updated-at]", { timeout: 15000 });
  await page.waitForSelector('#history-chart[data-range="day"][data-fetched="true"]', { timeout: 15000 });
  return page;
}

async function screenshot(page, name) {
  if (process.env.PAGE_SCREENSHOTS) {
    const path = join(process.env.PAGE_SCREENSHOTS, `network-page-${name}.png`);
    await page.screenshot({ path, fullPage: true });
  }
}

try {
  const problems = [];
  const wide = await open({ viewport: { width: 1400, height: 1000 } }, problems);
  const shown = await wide.evaluate(shownNumbers);
  shown.history = await wide.evaluate(shownHistory);
  const wideLayout = await wide.evaluate(layout);
  await screenshot(wide, 1400);
  await showMonth(wide);
  const month = await wide.evaluate(shownHistory);
  const wideMonthLayout = await wide.evaluate(layout);
  await screenshot(wide, "1400-30d");
  const phone = await open(
    { viewport: { width: 420, height: 900 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
    problems,
  );
  const phoneLayout = await phone.evaluate(layout);
  const phoneNumbers = await phone.evaluate(shownNumbers);
  const phoneDay = await phone.evaluate(shownHistory);
  await screenshot(phone, 420);
  await showMonth(phone);
  const phoneMonth = await phone.evaluate(shownHistory);
  const phoneMonthLayout = await phone.evaluate(layout);
  await screenshot(phone, "420-30d");
  console.log(
    JSON.stringify({
      ...shown,
      month,
      layout: {
        1400: wideLayout,
        "1400-30d": wideMonthLayout,
        420: { ...phoneLayout, bars: phoneNumbers.bars, history: phoneDay },
        "420-30d": { ...phoneMonthLayout, history: phoneMonth },
      },
      problems,
    }),
  );
} finally {
  await browser.close();
}
