// The live network page: reads the public totals from this gateway every few seconds and draws
// them. Plain DOM and SVG, no framework and no build step. Raw values are kept in data-*
// attributes so a test can compare them with the database.

const REFRESH_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";
const TYPE_LABELS = { phone: "Phones", laptop: "Laptops", desktop: "Desktops", server: "Servers" };
const MAP_LEVELS = 5; // colour steps of the map (network.css: .level-1 … .level-5)

const count = new Intl.NumberFormat("en-US");
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const compact = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

/** GB as [number, unit] in GB, TB or PB (decimal units, as disks are sold). */
function gbParts(gb) {
  if (gb >= 1e6) return [decimal.format(gb / 1e6), "PB"];
  if (gb >= 1e3) return [decimal.format(gb / 1e3), "TB"];
  return [decimal.format(gb), "GB"];
}

const formatGb = (gb) => gbParts(gb).join(" ");

/** Counts in full up to a million, then compact (3.42M), so a tile never overflows. */
function countParts(n) {
  if (n >= 1e6) return [compact.format(n / 1e6), "M"];
  return [count.format(Math.round(n)), ""];
}

const PARTS = {
  active_nodes: countParts,
  total_ram_gb: gbParts,
  total_cpu_cores: countParts,
  total_storage_gb: gbParts,
  total_compute_score: countParts,
  total_gpus: countParts,
  total_gpu_memory_gb: gbParts,
};

// The server's clock, from each answer's Date header: the chart's "now" is the server's, so a
// browser whose clock is off still asks for the last 24 hours the server recorded.
let clockOffsetMs = 0;
const serverNow = () => Date.now() + clockOffsetMs;

async function get(path) {
  const response = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
  const date = Date.parse(response.headers.get("date") ?? "");
  // The header has whole seconds: move only when off by more than that.
  if (Number.isFinite(date) && Math.abs(date - Date.now() - clockOffsetMs) > 1500) {
    clockOffsetMs = date - Date.now();
  }
  return response;
}

/** A seed route: the answer is in the seed's envelope. */
async function read(path) {
  const response = await get(path);
  const body = await response.json().catch(() => null);
  if (!response.ok || !body || !body.success) {
    throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
  }
  return body.data;
}

/** A PostgREST route (an RPC or a table): the answer is the rows themselves. */
async function readRows(path) {
  const response = await get(path);
  const body = await response.json().catch(() => null);
  if (!response.ok || !Array.isArray(body)) {
    throw new Error(body?.message ?? `HTTP ${response.status}`);
  }
  return body;
}

function svg(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function element(name, className, text) {
  const made = document.createElement(name);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

/** A table row: the first cell is the row's name (text or nodes), the rest right-aligned figures. */
function tableRow(name, figures, data) {
  const tr = document.createElement("tr");
  Object.assign(tr.dataset, data);
  const first = document.createElement("td");
  first.append(...[name].flat());
  tr.append(first, ...figures.map((text) => element("td", "", text)));
  return tr;
}

const counted = (n, noun) => `${count.format(n)} ${noun}${n === 1 ? "" : "s"}`;
const share = (part, total) => (total > 0 ? (100 * part) / total : 0);

function renderTotals(stats) {
  for (const shown of document.querySelectorAll("[data-stat]")) {
    const value = Number(stats[shown.dataset.stat]);
    shown.dataset.value = String(stats[shown.dataset.stat]);
    const [number, unit] = PARTS[shown.dataset.stat](value);
    shown.replaceChildren(number, element("span", "suffix", unit));
  }
}

/** A type's swatch and name, kept on one line. */
function typeName(type) {
  const name = element("span", "nowrap");
  name.append(element("span", `swatch ${type}`), TYPE_LABELS[type] ?? type);
  return name;
}

function renderByType(rows) {
  const total = rows.reduce((sum, row) => sum + row.active_nodes, 0);
  // Each bar is its type's share of all active devices, the figure it is labelled with.
  document.getElementById("by-type-bars").replaceChildren(
    ...rows.map((row) => {
      const percent = share(row.active_nodes, total);
      const bar = element("span", `bar ${row.device_type}`);
      bar.style.width = `${percent}%`;
      const item = element("li");
      item.dataset.type = row.device_type;
      item.dataset.share = String(percent);
      item.append(
        element("span", "bar-label", TYPE_LABELS[row.device_type] ?? row.device_type),
        element("span", "bar-track"),
        element("span", "bar-value", `${count.format(row.active_nodes)} · ${decimal.format(percent)}%`),
      );
      item.querySelector(".bar-track").append(bar);
      return item;
    }),
  );

  document.querySelector("#by-type-table tbody").replaceChildren(
    ...rows.map((row) =>
      tableRow(
        typeName(row.device_type),
        [
          count.format(row.active_nodes),
          `${decimal.format(share(row.active_nodes, total))}%`,
          formatGb(Number(row.total_ram_gb)),
          count.format(row.total_cpu_cores),
          formatGb(Number(row.total_storage_gb)),
          count.format(Math.round(Number(row.total_compute_score))),
        ],
        { type: row.device_type, activeNodes: String(row.active_nodes) },
      ),
    ),
  );
}

/** The capacity's raw figures, for the test. A NULL group key is kept as "". */
const capacityData = (row) => ({
  key: row.group_key ?? "",
  activeNodes: String(row.active_nodes),
  gpus: String(row.total_gpus),
  gpuMemoryGb: String(row.total_gpu_memory_gb),
});

function renderByModel(rows) {
  document.querySelector("#by-model-table tbody").replaceChildren(
    ...rows.map((row) =>
      tableRow(
        row.group_key === null
          ? element("span", "muted", "No accelerator")
          : element("code", "", row.group_key),
        [
          count.format(row.active_nodes),
          count.format(row.total_gpus),
          formatGb(Number(row.total_gpu_memory_gb)),
        ],
        capacityData(row),
      ),
    ),
  );
}

// The map: world.svg (built from world-atlas, see world-map.mjs) has one path per country, keyed
// by ISO 3166-1 numeric code; the countries table maps the alpha-2 keys of get_capacity to it.
const world = { countries: new Map(), paths: new Map() };

async function loadMap() {
  const [text, countries] = await Promise.all([
    fetch("world.svg", { cache: "no-cache" }).then((response) => {
      if (!response.ok) throw new Error(`world.svg: HTTP ${response.status}`);
      return response.text();
    }),
    readRows("countries?select=country_code,numeric_code,country_name"),
  ]);
  for (const row of countries) world.countries.set(row.country_code, row);
  const map = document.importNode(
    new DOMParser().parseFromString(text, "image/svg+xml").documentElement,
    true,
  );
  for (const path of map.querySelectorAll("path[data-name]")) {
    path.append(svg("title", {}, path.dataset.name));
    if (path.dataset.id) world.paths.set(path.dataset.id, path);
    const describe = () => {
      document.getElementById("map-caption").textContent = path.querySelector("title").textContent;
    };
    path.addEventListener("pointerenter", describe);
    path.addEventListener("click", describe);
  }
  document.getElementById("map").replaceChildren(map);
}

/** Lower bounds of the colour steps: evenly spaced on a log scale up to the busiest country. */
function levels(most) {
  const bounds = [];
  for (let i = 0; i < MAP_LEVELS; i++) {
    const bound = Math.max(1, Math.round(most ** (i / MAP_LEVELS)));
    if (bound > (bounds.at(-1) ?? 0)) bounds.push(bound);
  }
  return bounds;
}

/** The step's colour class: with fewer steps than colours, they spread to the bright end. */
const levelClass = (step, steps) => `level-${Math.ceil(((step + 1) * MAP_LEVELS) / steps)}`;

const countryName = (code) => world.countries.get(code)?.country_name ?? code;

function renderByCountry(rows) {
  const located = rows.filter((row) => row.group_key !== null);
  const most = Math.max(1, ...located.map((row) => row.active_nodes));
  const bounds = levels(most);
  const stepOf = (n) => bounds.findLastIndex((bound) => n >= bound);

  for (const path of world.paths.values()) {
    path.removeAttribute("class");
    delete path.dataset.code;
    delete path.dataset.count;
    path.querySelector("title").textContent = `${path.dataset.name}: no active devices`;
  }
  for (const row of located) {
    const path = world.paths.get(world.countries.get(row.group_key)?.numeric_code);
    if (!path) continue; // too small for a 1:110m map; the table lists it
    path.setAttribute("class", levelClass(stepOf(row.active_nodes), bounds.length));
    path.dataset.code = row.group_key;
    path.dataset.count = String(row.active_nodes);
    path.querySelector("title").textContent =
      `${countryName(row.group_key)}: ${counted(row.active_nodes, "active device")}, ` +
      counted(row.total_gpus, "GPU");
  }

  const legendItem = (level, text) => {
    const item = element("li", "", text);
    item.prepend(element("span", `swatch ${level}`));
    return item;
  };
  document.getElementById("map-legend").replaceChildren(
    legendItem("level-0", "none"),
    ...bounds.map((bound, i) => {
      const last = i === bounds.length - 1 ? most : bounds[i + 1] - 1;
      const text = last === bound ? count.format(bound) : `${count.format(bound)}–${count.format(last)}`;
      return legendItem(levelClass(i, bounds.length), text);
    }),
  );

  // Busiest first; devices that did not say where they are, last.
  const byName = (a, b) => countryName(a.group_key).localeCompare(countryName(b.group_key));
  const ordered = [...located].sort((a, b) => b.active_nodes - a.active_nodes || byName(a, b));
  ordered.push(...rows.filter((row) => row.group_key === null));
  document.querySelector("#by-country-table tbody").replaceChildren(
    ...ordered.map((row) =>
      tableRow(
        row.group_key === null ? element("span", "muted", "Not stated") : countryName(row.group_key),
        [count.format(row.active_nodes), count.format(row.total_gpus)],
        capacityData(row),
      ),
    ),
  );
}

// The chart: the server's record from get_network_history, the last 24 hours by the minute or the
// last 30 days by the hour. The rows are fetched when the view opens, then only the buckets since
// the newest one held (it may have grown), once a bucket may have closed; between those the dot
// at "now" follows the live total.
const MINUTE = 60e3;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const RANGES = {
  day: { title: "last 24 hours", span: DAY, bucket: "1 minute", step: MINUTE, every: MINUTE, tick: 6 * HOUR },
  month: { title: "last 30 days", span: 30 * DAY, bucket: "1 hour", step: HOUR, every: 5 * MINUTE, tick: 7 * DAY },
};
const chart = {
  range: "day",
  /** Per range: { rows: [{ start (ms), active, min, max }], fetchedAt (ms) }. */
  series: { day: { rows: [], fetchedAt: 0 }, month: { rows: [], fetchedAt: 0 } },
  /** The live total: { at (ms), active }. */
  live: null,
  /** The rows drawn now. */
  drawn: [],
};
const hourMinute = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit" });
const dayMonth = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short" });
const when = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

const HISTORY_COLUMNS = "bucket_start,active_nodes,active_nodes_min,active_nodes_max";

/** Brings the range's rows up to date, if a bucket may have closed since they were fetched. */
async function updateHistory(name) {
  const range = RANGES[name];
  const series = chart.series[name];
  const now = serverNow();
  if (now - series.fetchedAt < range.every) return false;
  const oldest = now - range.span;
  // From the newest bucket held (it is read again: it may have grown), else the whole range.
  const since = Math.max(oldest, series.rows.at(-1)?.start ?? oldest);
  const query = new URLSearchParams({
    since: new Date(since).toISOString(),
    until: new Date(now).toISOString(),
    bucket: range.bucket,
    select: HISTORY_COLUMNS,
    order: "bucket_start",
  });
  const rows = await readRows(`rpc/get_network_history?${query}`);
  const fresh = rows.map((row) => ({
    start: Date.parse(row.bucket_start),
    active: Number(row.active_nodes),
    min: Number(row.active_nodes_min),
    max: Number(row.active_nodes_max),
    raw: String(row.active_nodes),
  }));
  const first = fresh[0]?.start ?? Infinity;
  series.rows = series.rows
    .filter((row) => row.start >= oldest && row.start < Math.min(since, first))
    .concat(fresh);
  series.fetchedAt = now;
  series.until = now;
  return true;
}

/** Consecutive buckets, split where nothing was recorded for more than a bucket. */
function runs(rows, step) {
  const split = [];
  for (const row of rows) {
    const run = split.at(-1);
    if (run && row.start - run.at(-1).start <= step * 1.5) run.push(row);
    else split.push([row]);
  }
  return split;
}

function renderHistory() {
  const element = document.getElementById("history-chart");
  const range = RANGES[chart.range];
  const series = chart.series[chart.range];
  // Drawn in the chart's own pixels, so its labels keep their size at any width.
  const [chartWidth, chartHeight] = [Math.max(200, element.clientWidth), 180];
  element.setAttribute("viewBox", `0 0 ${chartWidth} ${chartHeight}`);
  element.replaceChildren();
  const [left, top, width, height] = [56, 10, chartWidth - 70, 130];
  const until = series.until ?? serverNow();
  const since = until - range.span;
  const rows = series.rows.filter((row) => row.start >= since);
  const live = chart.live;
  // From zero, so a small change looks small.
  const high = Math.max(1, ...rows.map((row) => row.max), live?.active ?? 0);
  const x = (t) => left + ((t - since) / range.span) * width;
  const y = (v) => top + height - (v / high) * height;
  Object.assign(element.dataset, {
    range: chart.range,
    bucket: range.bucket,
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    left, top, width, height, high,
    points: String(rows.length),
    fetched: String(series.fetchedAt > 0),
  });
  for (const v of [0, high]) {
    element.append(
      svg("line", { class: "grid", x1: left, x2: left + width, y1: y(v), y2: y(v) }),
      svg("text", { class: "axis", x: left - 10, y: y(v) + 5, "text-anchor": "end" }, countParts(v).join("")),
    );
  }
  // Time labels on round hours (24 hours) or days (30 days) of the local clock, not too near "now".
  const offset = new Date(until).getTimezoneOffset() * MINUTE;
  const label = chart.range === "day" ? hourMinute : dayMonth;
  for (let t = Math.ceil((since - offset) / range.tick) * range.tick + offset; t < until; t += range.tick) {
    if (x(t) < left + 24 || x(t) > left + width - 64) continue;
    element.append(
      svg("line", { class: "tick", x1: x(t), x2: x(t), y1: top + height, y2: top + height + 5 }),
      svg("text", { class: "axis", x: x(t), y: top + height + 24, "text-anchor": "middle" }, label.format(t)),
    );
  }
  element.append(
    svg("text", { class: "axis", x: left + width, y: top + height + 24, "text-anchor": "end" }, "now"),
  );
  const base = top + height;
  for (const run of runs(rows, range.step)) {
    const points = run.map((row) => `${x(row.start).toFixed(1)},${y(row.active).toFixed(1)}`);
    if (chart.range === "month") {
      // The hours' lows and highs, shaded behind their averages.
      const highs = run.map((row) => `${x(row.start).toFixed(1)},${y(row.max).toFixed(1)}`);
      const lows = run.map((row) => `${x(row.start).toFixed(1)},${y(row.min).toFixed(1)}`).reverse();
      element.append(svg("polygon", { class: "band", points: [...highs, ...lows].join(" ") }));
    } else {
      element.append(
        svg("polygon", {
          class: "area",
          points: `${x(run[0].start).toFixed(1)},${base} ${points.join(" ")} ${x(run.at(-1).start).toFixed(1)},${base}`,
        }),
      );
    }
    const line = svg("polyline", { class: "line", points: points.join(" ") });
    line.dataset.starts = run.map((row) => new Date(row.start).toISOString()).join(",");
    line.dataset.values = run.map((row) => row.raw).join(",");
    element.append(line);
  }
  if (live) {
    const dot = svg("circle", { class: "dot", cx: x(until), cy: y(live.active), r: 4 });
    dot.dataset.value = String(live.active);
    element.append(dot);
  }
  if (rows.length === 0) {
    element.append(
      svg("text", { class: "axis", x: left + width / 2, y: top + height / 2, "text-anchor": "middle" },
        "Nothing recorded yet in this range"),
    );
  }
  document.getElementById("history-title").textContent = `Active devices, ${range.title}`;
  chart.drawn = rows;
  describeRange(rows);
}

/** The caption: the range's low and high (or the bucket under the pointer, see below). */
function describeRange(rows) {
  const caption = document.getElementById("history-caption");
  if (rows.length === 0) {
    caption.textContent = "No history recorded in this range.";
    delete caption.dataset.high;
    delete caption.dataset.low;
    return;
  }
  const peak = rows.reduce((best, row) => (row.max > best.max ? row : best));
  const low = rows.reduce((best, row) => (row.min < best.min ? row : best));
  caption.textContent =
    `High ${count.format(peak.max)} (${when.format(peak.start)}), ` +
    `low ${count.format(low.min)} (${when.format(low.start)}). Point at the chart for a ${
      chart.range === "day" ? "minute" : "hour"
    }.`;
  caption.dataset.high = String(peak.max);
  caption.dataset.low = String(low.min);
}

/** Pointing at the chart names the nearest bucket's figures. */
function pointAt(event) {
  const element = document.getElementById("history-chart");
  const { left, width } = element.dataset;
  const box = element.getBoundingClientRect();
  const scale = element.viewBox.baseVal.width / box.width;
  const since = Date.parse(element.dataset.since);
  const t = since + (((event.clientX - box.left) * scale - Number(left)) / Number(width)) * RANGES[chart.range].span;
  const rows = chart.drawn;
  if (rows.length === 0) return;
  const near = rows.reduce((best, row) => (Math.abs(row.start - t) < Math.abs(best.start - t) ? row : best));
  const caption = document.getElementById("history-caption");
  caption.textContent =
    chart.range === "day"
      ? `${when.format(near.start)}: ${counted(near.active, "active device")}`
      : `${when.format(near.start)}: ${decimal.format(near.active)} active devices on average ` +
        `(${count.format(near.min)} to ${count.format(near.max)})`;
}

async function showRange(name) {
  chart.range = name;
  for (const button of document.querySelectorAll(".views button")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === name));
  }
  renderHistory();
  try {
    if (await updateHistory(name)) renderHistory();
  } catch (error) {
    setStatus(`Cannot read the history, retrying: ${error.message}`, true);
  }
}

function setStatus(text, stale) {
  document.getElementById("status").textContent = text;
  document.body.classList.toggle("stale", stale);
}

async function refresh() {
  try {
    // The shapes and names are loaded once; a failed load is tried again at the next refresh.
    if (world.countries.size === 0) await loadMap();
    const [stats, byType, byModel, byCountry] = await Promise.all([
      read("api/v1/network/stats"),
      read("api/v1/network/stats/by-type"),
      readRows("rpc/get_capacity?group_by=gpu_model"),
      readRows("rpc/get_capacity?group_by=country"),
    ]);
    await updateHistory(chart.range);
    const at = new Date();
    chart.live = { at: serverNow(), active: stats.active_nodes };
    renderTotals(stats);
    renderByType(byType);
    renderByModel(byModel);
    renderByCountry(byCountry);
    renderHistory();
    setStatus(`Updated ${at.toLocaleTimeString()}`, false);
    document.body.dataset.updatedAt = at.toISOString();
  } catch (error) {
    setStatus(`Cannot reach the network, retrying: ${error.message}`, true);
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

window.addEventListener("resize", renderHistory);
for (const button of document.querySelectorAll(".views button")) {
  button.addEventListener("click", () => showRange(button.dataset.range));
}
const chartElement = document.getElementById("history-chart");
chartElement.addEventListener("pointermove", pointAt);
chartElement.addEventListener("pointerleave", () => describeRange(chart.drawn));
refresh();
