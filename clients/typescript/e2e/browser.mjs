#!/usr/bin/env node
// Browser end-to-end test: the built package (dist/) in headless Chromium against a running
// compute-gateway, cross-origin, exactly as a web app would use it.
//
//   COMPUTE_GATEWAY_URL  the gateway root, e.g. http://127.0.0.1:3200   (required)
//   COMPUTE_TOKEN        a user's JWT (role authenticated)              (required)
//   CHROMIUM             the browser binary (default /usr/bin/chromium; Debian's `chromium` package)
//
// Run `npm run build` first. Every assertion compares with what the server says before and after
// (other devices may exist), never with fixed totals.

import { createServer } from 'node:http';
import { access, readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const distDir = join(root, 'dist');
const pagePath = join(root, 'e2e', 'page.html');

const GATEWAY = (process.env.COMPUTE_GATEWAY_URL ?? '').replace(/\/+$/, '');
const TOKEN = process.env.COMPUTE_TOKEN ?? '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = Number(process.env.E2E_WAIT_MS || 30_000);

let passed = 0;
let browser;
let server;

function step(message) {
  passed++;
  console.log(`ok ${passed} - ${message}`);
}

async function fail(message) {
  console.error(`\nFAILED: ${message}`);
  console.log(`e2e: ${passed} passed, 1 failed`);
  await cleanup();
  process.exit(1);
}

async function cleanup() {
  await browser?.close().catch(() => {});
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
}

/** Polls `probe` until it returns a truthy value; fails with `what` (and the last value) on timeout. */
async function until(what, probe, describeLast = (v) => JSON.stringify(v)) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  for (;;) {
    last = await probe();
    if (last && last.ok) return last.value;
    if (Date.now() > deadline) return fail(`${what}: not true after ${WAIT_MS} ms; last seen ${describeLast(last?.value ?? last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const close = (a, b) => Math.abs(Number(a) - Number(b)) < 1e-6;
const FIELDS = ['active_nodes', 'total_ram_gb', 'total_cpu_cores', 'total_storage_gb', 'total_compute_score'];

/** The stats `base` plus `sign` times this device (sign +1: counted, 0: not counted). */
function expectedStats(base, device, sign) {
  return {
    active_nodes: base.active_nodes + sign,
    total_ram_gb: base.total_ram_gb + sign * device.ram_gb,
    total_cpu_cores: base.total_cpu_cores + sign * device.cpu_cores,
    total_storage_gb: base.total_storage_gb + sign * device.storage_gb,
    total_compute_score: base.total_compute_score + sign * device.compute_score,
  };
}
const statsMatch = (got, want) => FIELDS.every((f) => close(got[f], want[f]));

function serveStatic() {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json', '.ts': 'text/plain' };
  return createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      let file;
      if (url.pathname === '/' || url.pathname === '/page.html') file = pagePath;
      else if (url.pathname === '/favicon.ico') {
        res.writeHead(204);
        return res.end();
      } else if (url.pathname === '/away.html') {
        res.writeHead(200, { 'Content-Type': types['.html'] });
        return res.end('<!doctype html><meta charset="utf-8"><title>away</title><p>navigated away</p>');
      } else if (url.pathname.startsWith('/dist/')) {
        file = normalize(join(distDir, decodeURIComponent(url.pathname.slice('/dist/'.length))));
        if (!file.startsWith(distDir + sep)) throw new Error('outside dist');
      } else throw new Error('not found');
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
    }
  });
}

async function main() {
  if (!GATEWAY || !TOKEN) {
    console.error('usage: COMPUTE_GATEWAY_URL=http://127.0.0.1:3200 COMPUTE_TOKEN=<a user JWT> [CHROMIUM=/usr/bin/chromium] npm run e2e');
    process.exit(2);
  }
  try {
    await access(join(distDir, 'index.js'));
  } catch {
    console.error(`${distDir}/index.js is missing: run \`npm run build\` first`);
    process.exit(2);
  }
  try {
    await access(CHROMIUM);
  } catch {
    console.error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM`);
    process.exit(2);
  }

  // The same package from Node, for the checks that must not depend on the page (it navigates away).
  const { createClient } = await import(pathToFileURL(join(distDir, 'index.js')).href);
  const api = createClient({ baseUrl: GATEWAY, token: TOKEN });
  try {
    await api.getNetworkStats();
  } catch (e) {
    return fail(`the gateway at ${GATEWAY} does not answer get_network_stats: ${e.code} ${e.message}`);
  }
  step(`gateway ${GATEWAY} answers get_network_stats`);

  server = serveStatic();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;

  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => console.log(`    [page] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`    [page error] ${e.message}`));

  await page.goto(`${origin}/page.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' && window.harness);
  await page.evaluate((cfg) => window.harness.setup(cfg), { baseUrl: GATEWAY, token: TOKEN });
  step(`page ${origin}/page.html loaded the built package (${await page.evaluate(() => window.harness.userAgent())})`);

  // ---- scenario 1: start, heartbeats, counted, stop, not counted -------------------------------
  const before = await page.evaluate(() => window.harness.stats());
  step(`network stats before: ${JSON.stringify(before)}`);

  const { device, specs } = await page.evaluate(() => window.harness.start());
  step(`computeHeartbeat.start() registered ${device.id} "${device.device_name}" (${device.device_type}, ${device.ram_gb} GB RAM, ${device.cpu_cores} cores, ${device.storage_gb} GB storage)`);
  console.log(`    specs: ${Object.entries(specs.sources).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  for (const note of specs.notes) console.log(`    note: ${note}`);
  if (!device.is_active) return fail('the registered device is not active');
  if (await page.evaluate(() => !window.harness.isRunning())) return fail('isRunning() is false after start()');

  const beats = await until('at least two heartbeats', async () => {
    const n = await page.evaluate(() => window.harness.heartbeats());
    return { ok: n >= 2, value: n };
  });
  step(`${beats} heartbeats sent at the server's interval`);

  const counted = expectedStats(before, device, 1);
  const during = await until(
    'get_network_stats counts the device (active_nodes + 1, its RAM, cores, storage and score in the totals)',
    async () => {
      const s = await page.evaluate(() => window.harness.stats());
      return { ok: statsMatch(s, counted), value: { got: s, want: counted } };
    },
  );
  step(`get_network_stats counts it: ${JSON.stringify(during)}`);

  const mine = await page.evaluate(() => window.harness.devices());
  const row = mine.find((d) => d.id === device.id);
  if (!row) return fail(`get_user_devices does not list ${device.id}`);
  if (!row.is_active || row.deactivated_at !== null) return fail(`get_user_devices shows the device inactive: ${JSON.stringify(row)}`);
  step('get_user_devices shows the device active');

  await page.evaluate(() => window.harness.stop());
  if (await page.evaluate(() => window.harness.isRunning())) return fail('isRunning() is true after stop()');
  step(`computeHeartbeat.stop() resolved; state ${await page.evaluate(() => window.harness.state())}`);

  const uncounted = expectedStats(before, device, 0);
  const after = await until('get_network_stats drops the device again', async () => {
    const s = await page.evaluate(() => window.harness.stats());
    return { ok: statsMatch(s, uncounted), value: { got: s, want: uncounted } };
  });
  step(`get_network_stats back to ${JSON.stringify(after)}`);

  const stoppedRow = (await page.evaluate(() => window.harness.devices())).find((d) => d.id === device.id);
  if (!stoppedRow || stoppedRow.is_active || !stoppedRow.deactivated_at) return fail(`the device is not shown stopped: ${JSON.stringify(stoppedRow)}`);
  step(`get_user_devices shows the device inactive (deactivated_at ${stoppedRow.deactivated_at})`);

  // ---- scenario 2: start again, navigate away, the pagehide keepalive deactivates it ------------
  const heartbeatsBefore = await page.evaluate(() => window.harness.heartbeats());
  const again = await page.evaluate(() => window.harness.start());
  if (again.device.device_name !== device.device_name || again.device.id !== device.id) {
    return fail(`a second start in the same browser registered another device: "${again.device.device_name}" ${again.device.id}`);
  }
  if (again.device.deactivated_at !== null) return fail('registering again did not clear the stop');
  step(`start() again re-registered the same device (same name, same id ${again.device.id})`);
  await until('a heartbeat after the restart', async () => {
    const n = await page.evaluate(() => window.harness.heartbeats());
    return { ok: n > heartbeatsBefore, value: n };
  });
  const active = (await api.getUserDevices()).find((d) => d.id === device.id);
  if (!active?.is_active) return fail(`from Node the device is not active after the restart: ${JSON.stringify(active)}`);
  step('from Node: the device is active again');

  await page.goto(`${origin}/away.html`);
  step('navigated the page away (pagehide)');

  const gone = await until('the device is deactivated by the pagehide keepalive request', async () => {
    const d = (await api.getUserDevices()).find((x) => x.id === device.id);
    // deactivated_at is set only by deactivate_device: a device that merely went silent keeps it null.
    return { ok: d && !d.is_active && d.deactivated_at !== null, value: d };
  });
  if (Date.parse(gone.deactivated_at) < Date.parse(again.device.updated_at)) {
    return fail(`deactivated_at ${gone.deactivated_at} is older than the re-registration (${again.device.updated_at})`);
  }
  step(`from Node: the device is inactive, deactivated at ${gone.deactivated_at}, after its re-registration: the pagehide keepalive request arrived`);

  await cleanup();
  console.log(`e2e: ${passed} passed, 0 failed`);
}

main().catch((e) => fail(e?.stack ?? String(e)));
