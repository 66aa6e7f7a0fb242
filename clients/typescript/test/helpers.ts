// Test doubles: a scriptable fake of the RPC server behind an injected fetch, and browser stand-ins
// (navigator, localStorage, window) so the unit tests run in plain Node.

import { vi } from 'vitest';
import type { Device, RegisterDeviceRequest } from '../src/index.js';

export interface RecordedCall {
  fn: string;
  url: string;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  keepalive: boolean;
  /** Date.now() when the request was made (fake time under fake timers). */
  at: number;
}

export type Handler = (call: RecordedCall) => Response | Promise<Response>;

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

export function pgError(status: number, code: string, message: string, hint: string | null = null, details: string | null = null): Response {
  return json({ code, message, details, hint }, status);
}

export const DEVICE_ID = '9f731f8c-7747-4a25-b490-7768ec526dd4';
export const USER_ID = '11111111-1111-1111-1111-111111111111';

export function deviceRow(req: Partial<RegisterDeviceRequest> = {}, over: Partial<Device> = {}): Device {
  const ram = req.ram_gb ?? 16;
  const cores = req.cpu_cores ?? 8;
  const storage = req.storage_gb ?? 512;
  return {
    id: DEVICE_ID,
    user_id: USER_ID,
    device_name: req.device_name ?? 'macOS Computer',
    device_type: req.device_type ?? 'laptop',
    ram_gb: ram,
    cpu_cores: cores,
    storage_gb: storage,
    compute_score: ram * 2 + cores * 5 + storage * 0.05,
    is_active: true,
    last_seen: '2026-01-01T00:00:00+00:00',
    created_at: '2026-01-01T00:00:00+00:00',
    updated_at: '2026-01-01T00:00:00+00:00',
    deactivated_at: null,
    accelerators: [],
    country_code: null,
    region: null,
    subregion: null,
    uptime_1d: null,
    uptime_7d: null,
    flaps_24h: 0,
    health_score: 50,
    ...over,
  };
}

/**
 * A fake server: each RPC function answers through a handler (replaceable per test); every request
 * is recorded in order. Defaults behave like the real server with a fixed heartbeat interval.
 */
export function fakeServer(opts: { interval?: number } = {}) {
  const calls: RecordedCall[] = [];
  // Like the extension: register clears a stop, deactivate sets it, a heartbeat for a stopped or
  // unknown device is 404 42P01.
  const state = { interval: opts.interval ?? 2, registered: false, stopped: false };
  const handlers: Record<string, Handler> = {
    register_device: (c) => {
      state.registered = true;
      state.stopped = false;
      return json(deviceRow(c.body as Partial<RegisterDeviceRequest>));
    },
    send_heartbeat: (c) => {
      if (!state.registered || c.body.device_id !== DEVICE_ID) return pgError(404, '42P01', 'device not found');
      if (state.stopped) return pgError(404, '42P01', 'device is stopped: its owner deactivated it');
      return json({ device_id: c.body.device_id, is_active: true, last_seen: new Date().toISOString(), next_heartbeat_in_seconds: state.interval });
    },
    deactivate_device: () => {
      state.stopped = true;
      return json(deviceRow({}, { is_active: false, deactivated_at: '2026-01-01T00:00:01+00:00' }));
    },
    get_network_stats: () => json({ active_nodes: 0, total_ram_gb: 0, total_cpu_cores: 0, total_storage_gb: 0, total_compute_score: 0 }),
    get_user_devices: () => json([]),
  };
  const fetch = vi.fn(async (url: string, init: RequestInit = {}) => {
    const fn = url.slice(url.indexOf('/rpc/') + 5);
    const call: RecordedCall = {
      fn,
      url,
      body: init.body ? JSON.parse(String(init.body)) : {},
      headers: { ...(init.headers as Record<string, string>) },
      keepalive: init.keepalive === true,
      at: Date.now(),
    };
    calls.push(call);
    const handler = handlers[fn];
    if (!handler) return pgError(404, 'PGRST202', `Could not find the function ${fn}`);
    return handler(call);
  });
  const fns = () => calls.map((c) => c.fn);
  const count = (fn: string) => calls.filter((c) => c.fn === fn).length;
  return { calls, handlers, fetch, fns, count, state };
}

/** A promise with its resolve exposed, to hold a response back until the test says so. */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.has(key) ? this.map.get(key)! : null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, String(value));
  }
}

/** localStorage as Safari's private mode or a sandboxed iframe has it: every access throws. */
export class BlockedStorage {
  getItem(): string | null {
    throw new Error('SecurityError: The operation is insecure.');
  }
  setItem(): void {
    throw new Error('SecurityError: The operation is insecure.');
  }
}

export const UA = {
  linuxChrome: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  headless: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
  macSafari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  winEdge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0',
  winFirefox: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0',
  iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  iphoneChrome: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1',
  androidPhone: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
  androidTablet: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  samsung: 'Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36',
  ipad: 'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
  chromeos: 'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  opera: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/112.0.0.0',
};

/** A navigator with every value Chromium on a desktop exposes. */
export function fullNavigator(over: Record<string, unknown> = {}) {
  return {
    userAgent: UA.linuxChrome,
    hardwareConcurrency: 12,
    deviceMemory: 8,
    maxTouchPoints: 0,
    storage: { estimate: async () => ({ quota: 100 * 1024 ** 3, usage: 1234 }) },
    ...over,
  };
}

/**
 * `navigator.gpu` as WebGPU has it: requestAdapter() answers an adapter with this `info` (or, with
 * `legacy`, only requestAdapterInfo()), or `adapter: null` for none, or never answers with `hang`.
 */
export function fakeGpu(
  info: Record<string, unknown>,
  { adapter = {}, legacy = false, hang = false }: { adapter?: Record<string, unknown> | null; legacy?: boolean; hang?: boolean } = {},
) {
  const gpu = {
    requestAdapter: vi.fn(function (this: unknown, _options?: { powerPreference?: string }) {
      if (hang) return new Promise<null>(() => {});
      if (adapter === null) return Promise.resolve(null);
      return Promise.resolve(legacy ? { ...adapter, requestAdapterInfo: async () => info } : { ...adapter, info });
    }),
  };
  return gpu;
}

/** A window stand-in whose pagehide/pageshow events the test dispatches. */
export function fakeWindow() {
  const target = new EventTarget();
  return {
    target,
    pagehide: (persisted = false) => target.dispatchEvent(Object.assign(new Event('pagehide'), { persisted })),
    pageshow: (persisted = true) => target.dispatchEvent(Object.assign(new Event('pageshow'), { persisted })),
  };
}
