// What a browser can honestly say about the machine it runs on. Each value records whether it was
// detected, fallen back on (the browser hides it) or overridden, because browsers deliberately blur
// these numbers (fingerprinting protection) and a registry of shared compute should not present a
// guess as a measurement:
//   - cpu_cores  <- navigator.hardwareConcurrency: logical processors; some browsers report a fixed or
//                   reduced number. Fallback 1 (the server's minimum).
//   - ram_gb     <- navigator.deviceMemory: Chromium only, secure contexts only, rounded to a power of
//                   two and capped (long 8 in Chrome; the cap varies by version). Fallback 0
//                   (unknown: contributes nothing).
//   - storage_gb <- navigator.storage.estimate().quota: what this origin may store, not the disk.
//                   Fallback 0.
//   - device_type and the name <- the user agent (and userAgentData): it tells a phone or tablet from
//                   a computer, but never a laptop from a desktop. Computers fall back to 'laptop'.
//   - accelerators <- WebGPU's adapter info (./webgpu.ts): vendor and product, memory unknown (0).
//                   Fallback: none (left out of the request).
//   - country_code <- never detected (a browser does not say where it is without asking the user);
//                   only an override sets it.

import type { Accelerator, DeviceType, RegisterDeviceRequest } from './types.js';
import { detectWebGpu, type GpuLike } from './webgpu.js';

export type SpecSource = 'detected' | 'fallback' | 'override';
export type SpecField = keyof RegisterDeviceRequest;
/** Any spec, the name included, set by the app instead of detected. */
export type SpecOverrides = Partial<RegisterDeviceRequest>;

/** The parts of `navigator` that are read (all optional: each browser exposes a different subset). */
export interface NavigatorLike {
  userAgent?: string;
  hardwareConcurrency?: number;
  deviceMemory?: number;
  maxTouchPoints?: number;
  userAgentData?: { platform?: string; mobile?: boolean } | null;
  storage?: { estimate?: () => Promise<{ quota?: number; usage?: number }> } | null;
  /** WebGPU (`navigator.gpu`). */
  gpu?: GpuLike | null;
}

/** The parts of `localStorage` that are used. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface SpecEnvironment {
  /** Defaults to globalThis.navigator. */
  navigator?: NavigatorLike | null;
  /** Where the browser id is kept; defaults to globalThis.localStorage. */
  localStorage?: StorageLike | null;
  /** The localStorage key of the browser id (default `compute-devices:browser-id`). */
  storageKey?: string;
  /** Makes a new browser id; injectable for tests. */
  newId?: () => string;
  /** Give up on navigator.storage.estimate() after this long (default 2000 ms). */
  estimateTimeoutMs?: number;
  /** Give up on WebGPU's adapter after this long (default 2000 ms). */
  gpuTimeoutMs?: number;
}

export type FormFactor = 'phone' | 'tablet' | 'computer' | 'unknown';

export interface PlatformInfo {
  os: string;
  browser: string;
  form: FormFactor;
}

export interface DetectedSpecs {
  /** The register_device body. */
  request: RegisterDeviceRequest;
  /** For each field: detected, fallback (the browser hides it) or override. */
  sources: Record<SpecField, SpecSource>;
  /** Why each fallback was used, in words, for logs and UIs. */
  notes: string[];
  platform: PlatformInfo;
  /** The id that tells this browser from the user's other browsers, and whether it persists. */
  browserId: { id: string; persisted: boolean };
}

export const DEFAULT_BROWSER_ID_KEY = 'compute-devices:browser-id';
/** The server's limit on device_name, in characters. */
export const MAX_DEVICE_NAME_LENGTH = 64;
const GIB = 1024 ** 3;

/** Reads the platform from a user agent string (plus userAgentData hints when Chromium gives them). */
export function parseUserAgent(
  ua: string,
  hints: { platform?: string; mobile?: boolean; maxTouchPoints?: number } = {},
): PlatformInfo {
  let os = 'Unknown OS';
  let form: FormFactor = 'unknown';
  if (/iPhone|iPod/.test(ua)) [os, form] = ['iOS', 'phone'];
  else if (/iPad/.test(ua)) [os, form] = ['iPadOS', 'tablet'];
  else if (/Android/.test(ua)) [os, form] = ['Android', /Mobile/.test(ua) ? 'phone' : 'tablet'];
  else if (/CrOS/.test(ua)) [os, form] = ['ChromeOS', 'computer'];
  else if (/Windows/.test(ua)) [os, form] = ['Windows', 'computer'];
  else if (/Macintosh|Mac OS X/.test(ua)) {
    // iPadOS Safari presents itself as a Mac; touch support is what gives it away.
    [os, form] = (hints.maxTouchPoints ?? 0) > 1 ? ['iPadOS', 'tablet'] : ['macOS', 'computer'];
  } else if (/Linux|X11/.test(ua)) [os, form] = ['Linux', 'computer'];

  // Chromium's client hints are more reliable than the (frozen, reduced) UA string where they exist.
  const platform = hints.platform?.trim();
  if (platform && platform !== 'Unknown') {
    os = platform === 'Chrome OS' || platform === 'Chromium OS' ? 'ChromeOS' : platform;
    if (form === 'unknown') form = 'computer';
  }
  if (hints.mobile === true && form !== 'tablet') form = 'phone';

  let browser = 'Browser';
  if (/Edg(e|A|iOS)?\//.test(ua)) browser = 'Edge';
  else if (/OPR\/|Opera/.test(ua)) browser = 'Opera';
  else if (/SamsungBrowser\//.test(ua)) browser = 'Samsung Internet';
  else if (/Firefox\/|FxiOS\//.test(ua)) browser = 'Firefox';
  else if (/HeadlessChrome\//.test(ua)) browser = 'Headless Chrome';
  else if (/CriOS\/|Chrome\/|Chromium\//.test(ua)) browser = 'Chrome';
  else if (/Safari\//.test(ua) && /Version\//.test(ua)) browser = 'Safari';
  return { os, browser, form };
}

/** "Linux · Chrome · 3fa9c2d1": readable, stable for one browser, distinct between two. <= 64 chars. */
export function makeDeviceName(os: string, browser: string, id: string): string {
  const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim();
  const tail = ` · ${clean(id)}`;
  let head = `${clean(os)} · ${clean(browser)}`;
  const room = MAX_DEVICE_NAME_LENGTH - [...tail].length;
  // Cut by code points: the server counts characters, not UTF-16 units.
  if ([...head].length > room) head = [...head].slice(0, room).join('').trimEnd();
  return head + tail;
}

// Ids generated when localStorage is unusable, so that at least one page keeps one name.
const memoryIds = new Map<string, string>();

/** A short random id for this browser profile, kept in localStorage so the device name is stable. */
export function getBrowserId(env: SpecEnvironment = {}): { id: string; persisted: boolean } {
  const key = env.storageKey ?? DEFAULT_BROWSER_ID_KEY;
  const storage = env.localStorage === undefined ? defaultLocalStorage() : env.localStorage;
  const newId = env.newId ?? randomId;
  if (storage) {
    try {
      const stored = storage.getItem(key);
      if (stored && /^[A-Za-z0-9_-]{4,32}$/.test(stored)) return { id: stored, persisted: true };
      const id = newId();
      storage.setItem(key, id);
      return { id, persisted: true };
    } catch {
      // Storage blocked (private mode, disabled cookies, sandboxed iframe): fall through.
    }
  }
  let id = memoryIds.get(key);
  if (!id) memoryIds.set(key, (id = newId()));
  return { id, persisted: false };
}

/** Detects the register_device body, with overrides applied and the source of every value. */
export async function detectSpecs(overrides: SpecOverrides = {}, env: SpecEnvironment = {}): Promise<DetectedSpecs> {
  const nav: NavigatorLike | null = env.navigator === undefined ? defaultNavigator() : env.navigator;
  const notes: string[] = [];
  const sources = {} as Record<SpecField, SpecSource>;

  const ua = typeof nav?.userAgent === 'string' ? nav.userAgent : '';
  const uaData = nav?.userAgentData ?? undefined;
  const platform = parseUserAgent(ua, {
    platform: uaData?.platform,
    mobile: uaData?.mobile,
    maxTouchPoints: nav?.maxTouchPoints,
  });
  // Asked at once, answered while the storage quota is awaited.
  const webGpu = overrides.accelerators === undefined ? detectWebGpu(nav?.gpu, env.gpuTimeoutMs ?? 2000) : null;

  // cpu_cores
  let cpu_cores: number;
  const hc = nav?.hardwareConcurrency;
  if (overrides.cpu_cores !== undefined) [cpu_cores, sources.cpu_cores] = [overrides.cpu_cores, 'override'];
  else if (typeof hc === 'number' && Number.isFinite(hc) && hc >= 1) {
    [cpu_cores, sources.cpu_cores] = [Math.min(Math.floor(hc), 8192), 'detected'];
  } else {
    [cpu_cores, sources.cpu_cores] = [1, 'fallback'];
    notes.push('cpu_cores: navigator.hardwareConcurrency is not available; counted as 1 (the least the server accepts).');
  }

  // ram_gb
  let ram_gb: number;
  const dm = nav?.deviceMemory;
  if (overrides.ram_gb !== undefined) [ram_gb, sources.ram_gb] = [overrides.ram_gb, 'override'];
  else if (typeof dm === 'number' && Number.isFinite(dm) && dm > 0) {
    [ram_gb, sources.ram_gb] = [round(dm, 3), 'detected'];
    notes.push(`ram_gb: navigator.deviceMemory says ${dm} GB, rounded and capped by the browser; the machine may have more.`);
  } else {
    [ram_gb, sources.ram_gb] = [0, 'fallback'];
    notes.push('ram_gb: navigator.deviceMemory is not available (Chromium only, secure contexts only); counted as 0.');
  }

  // storage_gb
  let storage_gb: number;
  if (overrides.storage_gb !== undefined) [storage_gb, sources.storage_gb] = [overrides.storage_gb, 'override'];
  else {
    const quota = await estimateQuota(nav, env.estimateTimeoutMs ?? 2000);
    if (quota !== null) {
      [storage_gb, sources.storage_gb] = [round(quota / GIB, 3), 'detected'];
      notes.push("storage_gb: navigator.storage.estimate() quota: what this site may store in this browser, not the disk's size.");
    } else {
      [storage_gb, sources.storage_gb] = [0, 'fallback'];
      notes.push('storage_gb: navigator.storage.estimate() is not available (or gave no quota); counted as 0.');
    }
  }

  // device_type
  let device_type: DeviceType;
  if (overrides.device_type !== undefined) [device_type, sources.device_type] = [overrides.device_type, 'override'];
  else if (platform.form === 'phone') [device_type, sources.device_type] = ['phone', 'detected'];
  else if (platform.form === 'tablet') {
    [device_type, sources.device_type] = ['phone', 'detected'];
    notes.push('device_type: a tablet; the server has no tablet type, so it is registered as a phone (mobile, battery powered).');
  } else {
    [device_type, sources.device_type] = ['laptop', 'fallback'];
    notes.push(
      platform.form === 'computer'
        ? 'device_type: the user agent cannot tell a laptop from a desktop; registered as laptop.'
        : 'device_type: the user agent is not recognized; registered as laptop.',
    );
  }

  // device_name
  const browserId = getBrowserId(env);
  let device_name: string;
  if (overrides.device_name !== undefined) [device_name, sources.device_name] = [overrides.device_name, 'override'];
  else {
    device_name = makeDeviceName(platform.os, platform.browser, browserId.id);
    sources.device_name = browserId.persisted ? 'detected' : 'fallback';
    if (!browserId.persisted) {
      notes.push('device_name: localStorage is not usable, so the browser id lasts only while this page is open; a reload registers a new device.');
    }
  }

  // accelerators: left out (none) unless overridden or WebGPU names a GPU.
  let accelerators: Accelerator[] | null | undefined;
  if (!webGpu) [accelerators, sources.accelerators] = [overrides.accelerators, 'override'];
  else {
    const found = await webGpu;
    if (found.length > 0) {
      [accelerators, sources.accelerators] = [found, 'detected'];
      notes.push('accelerators: the GPU WebGPU reports, its memory unknown (memory_mib 0).');
    } else {
      sources.accelerators = 'fallback';
      notes.push('accelerators: WebGPU is not available or names no hardware GPU; none registered.');
    }
  }

  // country_code: only ever an override.
  let country_code: string | null | undefined;
  if (overrides.country_code !== undefined) [country_code, sources.country_code] = [overrides.country_code, 'override'];
  else {
    sources.country_code = 'fallback';
    notes.push('country_code: a browser does not tell where it is; set specs.country_code to register one.');
  }

  const request: RegisterDeviceRequest = { device_name, device_type, ram_gb, cpu_cores, storage_gb };
  if (accelerators !== undefined) request.accelerators = accelerators;
  if (country_code !== undefined) request.country_code = country_code;
  return {
    request,
    sources,
    notes,
    platform,
    browserId,
  };
}

async function estimateQuota(nav: NavigatorLike | null, timeoutMs: number): Promise<number | null> {
  const estimate = nav?.storage?.estimate;
  if (typeof estimate !== 'function') return null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // Called on the storage manager (it is a method), and bounded: it has been seen to hang.
    const result = await Promise.race([
      estimate.call(nav!.storage),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs))),
    ]);
    const quota = result?.quota;
    return typeof quota === 'number' && Number.isFinite(quota) && quota > 0 ? quota : null;
  } catch {
    return null;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function round(n: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(n * f) / f;
}

function randomId(): string {
  const bytes = new Uint8Array(4);
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function defaultNavigator(): NavigatorLike | null {
  return ((globalThis as { navigator?: NavigatorLike }).navigator ?? null) as NavigatorLike | null;
}

function defaultLocalStorage(): StorageLike | null {
  try {
    // Reading the property itself throws a SecurityError where storage is blocked.
    return (globalThis as { localStorage?: StorageLike }).localStorage ?? null;
  } catch {
    return null;
  }
}
