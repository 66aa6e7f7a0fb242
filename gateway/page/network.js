// The live network page: reads the public totals from this gateway every few seconds and draws
// them. Plain DOM and SVG, no framework and no build step. Raw values are kept in data-value
// attributes so a test can compare them with the database.

const REFRESH_MS = 5000;
const HISTORY_POINTS = 120; // ten minutes at one point per refresh
const SVG = "http://www.w3.org/2000/svg";
const TYPE_LABELS = { phone: "Phones", laptop: "Laptops", desktop: "Desktops", server: "Servers" };

const history = [];
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
};

async function read(path) {
  const response = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
  const body = await response.json().catch(() => null);
  if (!response.ok || !body || !body.success) {
    throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
  }
  return body.data;
}

function svg(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function renderTotals(stats) {
  for (const element of document.querySelectorAll("[data-stat]")) {
    const value = Number(stats[element.dataset.stat]);
    element.dataset.value = String(stats[element.dataset.stat]);
    const [number, unit] = PARTS[element.dataset.stat](value);
    const suffix = document.createElement("span");
    suffix.className = "suffix";
    suffix.textContent = unit;
    element.replaceChildren(number, suffix);
  }
}

function renderByType(rows) {
  const total = rows.reduce((sum, row) => sum + row.active_nodes, 0);
  const most = Math.max(1, ...rows.map((row) => row.active_nodes));
  const chart = document.getElementById("by-type-chart");
  const rowHeight = 44;
  const barLeft = 120;
  const barWidth = 600;
  chart.replaceChildren();
  rows.forEach((row, i) => {
    const y = i * rowHeight;
    const width = Math.max(row.active_nodes > 0 ? 3 : 0, (row.active_nodes / most) * barWidth);
    const share = total > 0 ? (100 * row.active_nodes) / total : 0;
    chart.append(
      svg("text", { x: 0, y: y + 24 }, TYPE_LABELS[row.device_type] ?? row.device_type),
      svg("rect", { class: "track", x: barLeft, y: y + 6, width: barWidth, height: 26, rx: 4 }),
      svg("rect", { class: row.device_type, x: barLeft, y: y + 6, width, height: 26, rx: 4 }),
      svg("text", { x: barLeft + barWidth + 12, y: y + 24 },
        `${count.format(row.active_nodes)} · ${decimal.format(share)}%`),
    );
  });

  const body = document.querySelector("#by-type-table tbody");
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.type = row.device_type;
      tr.dataset.activeNodes = String(row.active_nodes);
      const name = document.createElement("td");
      const swatch = document.createElement("span");
      swatch.className = `swatch ${row.device_type}`;
      name.append(swatch, TYPE_LABELS[row.device_type] ?? row.device_type);
      const share = total > 0 ? (100 * row.active_nodes) / total : 0;
      const cells = [
        count.format(row.active_nodes),
        `${decimal.format(share)}%`,
        formatGb(Number(row.total_ram_gb)),
        count.format(row.total_cpu_cores),
        formatGb(Number(row.total_storage_gb)),
        count.format(Math.round(Number(row.total_compute_score))),
      ].map((text) => {
        const td = document.createElement("td");
        td.textContent = text;
        return td;
      });
      tr.append(name, ...cells);
      return tr;
    }),
  );
}

function renderHistory() {
  const chart = document.getElementById("history-chart");
  chart.replaceChildren();
  const [left, top, width, height] = [90, 10, 780, 120];
  // From zero, so a small change looks small.
  const high = Math.max(1, ...history.map((point) => point.active));
  const last = history.length - 1;
  // The newest point at the right edge ("now"), one step per refresh to the left.
  const x = (i) => left + width - ((last - i) / (HISTORY_POINTS - 1)) * width;
  const y = (v) => top + height - (v / high) * height;
  for (const v of [0, high]) {
    chart.append(
      svg("line", { class: "grid", x1: left, x2: left + width, y1: y(v), y2: y(v) }),
      svg("text", { class: "axis", x: left - 10, y: y(v) + 5, "text-anchor": "end" }, count.format(v)),
    );
  }
  if (history.length === 0) return;
  const points = history.map((point, i) => `${x(i).toFixed(1)},${y(point.active).toFixed(1)}`);
  chart.append(
    svg("polygon", {
      class: "area",
      points: `${x(0)},${top + height} ${points.join(" ")} ${x(last)},${top + height}`,
    }),
    svg("polyline", { class: "line", points: points.join(" ") }),
    svg("circle", { class: "dot", cx: x(last), cy: y(history[last].active), r: 4 }),
    svg("text", { class: "axis", x: left, y: top + height + 24 }, "10 min ago"),
    svg("text", { class: "axis", x: left + width, y: top + height + 24, "text-anchor": "end" }, "now"),
  );
}

function setStatus(text, stale) {
  document.getElementById("status").textContent = text;
  document.body.classList.toggle("stale", stale);
}

async function refresh() {
  try {
    const [stats, byType] = await Promise.all([
      read("api/v1/network/stats"),
      read("api/v1/network/stats/by-type"),
    ]);
    const at = new Date();
    history.push({ at, active: stats.active_nodes });
    if (history.length > HISTORY_POINTS) history.shift();
    renderTotals(stats);
    renderByType(byType);
    renderHistory();
    setStatus(`Updated ${at.toLocaleTimeString()}`, false);
    document.body.dataset.updatedAt = at.toISOString();
  } catch (error) {
    setStatus(`Cannot reach the network, retrying: ${error.message}`, true);
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
