import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BROWSER_ID_KEY,
  MAX_DEVICE_NAME_LENGTH,
  detectSpecs,
  makeDeviceName,
  parseUserAgent,
} from '../src/index.js';
import { BlockedStorage, MemoryStorage, UA, fakeGpu, fullNavigator } from './helpers.js';

const ids = (...list: string[]) => () => list.shift() ?? 'exhausted';

describe('detectSpecs with every navigator value present', () => {
  it('reads cores, memory, storage quota and the user agent, and says they were detected', async () => {
    const storage = new MemoryStorage();
    const specs = await detectSpecs({}, { navigator: fullNavigator(), localStorage: storage, newId: ids('a1b2c3d4') });
    expect(specs.request).toEqual({
      device_name: 'Linux · Chrome · a1b2c3d4',
      device_type: 'laptop',
      ram_gb: 8,
      cpu_cores: 12,
      storage_gb: 100,
    });
    expect(specs.sources).toEqual({
      cpu_cores: 'detected',
      ram_gb: 'detected',
      storage_gb: 'detected',
      device_name: 'detected',
      // A computer's user agent never says laptop or desktop.
      device_type: 'fallback',
      // This navigator has no WebGPU; no browser tells its country.
      accelerators: 'fallback',
      country_code: 'fallback',
    });
    expect(storage.getItem(DEFAULT_BROWSER_ID_KEY)).toBe('a1b2c3d4');
    expect(specs.notes.join('\n')).toMatch(/cannot tell a laptop from a desktop/);
  });

  it('reports a phone from the user agent as detected', async () => {
    const specs = await detectSpecs({}, { navigator: fullNavigator({ userAgent: UA.androidPhone }), localStorage: new MemoryStorage(), newId: ids('abcd1234') });
    expect(specs.request.device_type).toBe('phone');
    expect(specs.sources.device_type).toBe('detected');
    expect(specs.request.device_name).toBe('Android · Chrome · abcd1234');
  });
});

describe('detectSpecs with each navigator value missing', () => {
  const env = (nav: Record<string, unknown>) => ({ navigator: nav, localStorage: new MemoryStorage(), newId: ids('feedf00d') });

  it('hardwareConcurrency missing or nonsense: 1 core, fallback', async () => {
    for (const hardwareConcurrency of [undefined, 0, NaN]) {
      const specs = await detectSpecs({}, env(fullNavigator({ hardwareConcurrency })));
      expect(specs.request.cpu_cores).toBe(1);
      expect(specs.sources.cpu_cores).toBe('fallback');
      expect(specs.sources.ram_gb).toBe('detected');
    }
  });

  it('deviceMemory missing (Firefox, Safari): 0 GB, fallback, and says why', async () => {
    const specs = await detectSpecs({}, env(fullNavigator({ deviceMemory: undefined })));
    expect(specs.request.ram_gb).toBe(0);
    expect(specs.sources.ram_gb).toBe('fallback');
    expect(specs.notes.join('\n')).toMatch(/deviceMemory is not available/);
    expect(specs.sources.cpu_cores).toBe('detected');
  });

  it('storage.estimate missing, rejecting or without a quota: 0 GB, fallback', async () => {
    const variants = [
      undefined,
      { estimate: undefined },
      { estimate: async () => Promise.reject(new Error('SecurityError')) },
      { estimate: async () => ({ usage: 5 }) },
    ];
    for (const storage of variants) {
      const specs = await detectSpecs({}, env(fullNavigator({ storage })));
      expect(specs.request.storage_gb).toBe(0);
      expect(specs.sources.storage_gb).toBe('fallback');
    }
  });

  it('storage.estimate that never settles is given up on', async () => {
    const specs = await detectSpecs({}, { ...env(fullNavigator({ storage: { estimate: () => new Promise(() => {}) } })), estimateTimeoutMs: 5 });
    expect(specs.sources.storage_gb).toBe('fallback');
  });

  it('no navigator at all (a worker-less server runtime): every value falls back', async () => {
    const specs = await detectSpecs({}, { navigator: null, localStorage: null, newId: ids('00c0ffee') });
    expect(specs.request).toEqual({ device_name: 'Unknown OS · Browser · 00c0ffee', device_type: 'laptop', ram_gb: 0, cpu_cores: 1, storage_gb: 0 });
    expect(Object.values(specs.sources).every((s) => s === 'fallback')).toBe(true);
  });

  it('reports storage quota in GB with at most 3 decimals', async () => {
    const specs = await detectSpecs({}, env(fullNavigator({ storage: { estimate: async () => ({ quota: 299_123_456 }) } })));
    expect(specs.request.storage_gb).toBe(0.279);
  });
});

describe('overrides', () => {
  it('replace any detected value, the name included, and are marked as overrides', async () => {
    const all = {
      device_name: 'Studio PC',
      device_type: 'desktop',
      ram_gb: 64,
      cpu_cores: 24,
      storage_gb: 2000,
      accelerators: [{ vendor: 'nvidia', product_name: 'NVIDIA GeForce RTX 4090', memory_mib: 24576, count: 2 }],
      country_code: 'DE',
    } as const;
    const gpu = fakeGpu({ vendor: 'amd', description: 'AMD Radeon' });
    const specs = await detectSpecs(
      { ...all, accelerators: [...all.accelerators] },
      { navigator: fullNavigator({ gpu }), localStorage: new MemoryStorage() },
    );
    expect(specs.request).toEqual(all);
    expect(Object.values(specs.sources)).toEqual(Array(7).fill('override'));
    // Stated accelerators: WebGPU is not asked.
    expect(gpu.requestAdapter).not.toHaveBeenCalled();
  });

  it('can replace a single value and leave the rest detected', async () => {
    const specs = await detectSpecs({ ram_gb: 32 }, { navigator: fullNavigator(), localStorage: new MemoryStorage() });
    expect(specs.request.ram_gb).toBe(32);
    expect(specs.sources).toMatchObject({ ram_gb: 'override', cpu_cores: 'detected', storage_gb: 'detected' });
  });
});

describe('accelerators and country', () => {
  it('registers the GPU WebGPU reports, memory unknown', async () => {
    const gpu = fakeGpu({ vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA GeForce RTX 3080' });
    const specs = await detectSpecs({}, { navigator: fullNavigator({ gpu }), localStorage: new MemoryStorage() });
    expect(specs.request.accelerators).toEqual([{ vendor: 'nvidia', product_name: 'NVIDIA GeForce RTX 3080', memory_mib: 0, count: 1 }]);
    expect(specs.sources.accelerators).toBe('detected');
    expect(specs.notes.join('\n')).toMatch(/memory unknown/);
  });

  it('registers none (the argument left out) without WebGPU, without an adapter, or when it hangs', async () => {
    for (const gpu of [undefined, fakeGpu({}, { adapter: null }), fakeGpu({ vendor: 'nvidia', description: 'x' }, { hang: true })]) {
      const specs = await detectSpecs({}, { navigator: fullNavigator({ gpu }), localStorage: new MemoryStorage(), gpuTimeoutMs: 5 });
      expect('accelerators' in specs.request).toBe(false);
      expect(specs.sources.accelerators).toBe('fallback');
    }
  });

  it('an empty override states no accelerator; a country is only ever an override', async () => {
    const specs = await detectSpecs(
      { accelerators: [], country_code: 'fr' },
      { navigator: fullNavigator({ gpu: fakeGpu({ vendor: 'intel', description: 'Intel Arc' }) }), localStorage: new MemoryStorage() },
    );
    expect(specs.request).toMatchObject({ accelerators: [], country_code: 'fr' });
    expect(specs.sources).toMatchObject({ accelerators: 'override', country_code: 'override' });
    const detected = await detectSpecs({}, { navigator: fullNavigator(), localStorage: new MemoryStorage() });
    expect('country_code' in detected.request).toBe(false);
    expect(detected.notes.join('\n')).toMatch(/country_code: a browser does not tell where it is/);
  });
});

describe('device name', () => {
  it('is stable for one browser profile (same localStorage)', async () => {
    const storage = new MemoryStorage();
    const first = await detectSpecs({}, { navigator: fullNavigator(), localStorage: storage, newId: ids('11112222', '33334444') });
    const again = await detectSpecs({}, { navigator: fullNavigator(), localStorage: storage, newId: ids('55556666') });
    expect(again.request.device_name).toBe(first.request.device_name);
  });

  it('differs between two browsers of one user with the same OS and browser', async () => {
    const a = await detectSpecs({}, { navigator: fullNavigator(), localStorage: new MemoryStorage() });
    const b = await detectSpecs({}, { navigator: fullNavigator(), localStorage: new MemoryStorage() });
    expect(a.request.device_name.startsWith('Linux · Chrome · ')).toBe(true);
    expect(b.request.device_name.startsWith('Linux · Chrome · ')).toBe(true);
    expect(a.request.device_name).not.toBe(b.request.device_name);
  });

  it('replaces a corrupt stored id', async () => {
    const storage = new MemoryStorage();
    storage.setItem(DEFAULT_BROWSER_ID_KEY, 'x'.repeat(500));
    const specs = await detectSpecs({}, { navigator: fullNavigator(), localStorage: storage, newId: ids('deadbeef') });
    expect(specs.request.device_name).toBe('Linux · Chrome · deadbeef');
  });

  it('falls back to an id kept in memory when localStorage throws (stable within the page, marked fallback)', async () => {
    const key = 'test:blocked';
    const first = await detectSpecs({}, { navigator: fullNavigator(), localStorage: new BlockedStorage(), storageKey: key, newId: ids('aaaa0001') });
    const second = await detectSpecs({}, { navigator: fullNavigator(), localStorage: new BlockedStorage(), storageKey: key, newId: ids('bbbb0002') });
    expect(first.request.device_name).toBe('Linux · Chrome · aaaa0001');
    expect(second.request.device_name).toBe(first.request.device_name);
    expect(first.sources.device_name).toBe('fallback');
    expect(first.browserId.persisted).toBe(false);
    expect(first.notes.join('\n')).toMatch(/localStorage is not usable/);
  });

  it('stays within 64 characters and drops control characters', () => {
    const name = makeDeviceName('O'.repeat(80), 'Br\u0007owser', 'abcd1234');
    expect([...name].length).toBeLessThanOrEqual(MAX_DEVICE_NAME_LENGTH);
    expect(name.endsWith(' · abcd1234')).toBe(true);
    expect(makeDeviceName('Linux', 'Br\u0007owser', 'x1')).toBe('Linux · Browser · x1');
  });
});

describe('parseUserAgent', () => {
  it.each([
    ['linuxChrome', 'Linux', 'Chrome', 'computer'],
    ['headless', 'Linux', 'Headless Chrome', 'computer'],
    ['macSafari', 'macOS', 'Safari', 'computer'],
    ['winEdge', 'Windows', 'Edge', 'computer'],
    ['winFirefox', 'Windows', 'Firefox', 'computer'],
    ['iphone', 'iOS', 'Safari', 'phone'],
    ['iphoneChrome', 'iOS', 'Chrome', 'phone'],
    ['androidPhone', 'Android', 'Chrome', 'phone'],
    ['androidTablet', 'Android', 'Chrome', 'tablet'],
    ['samsung', 'Android', 'Samsung Internet', 'phone'],
    ['ipad', 'iPadOS', 'Safari', 'tablet'],
    ['chromeos', 'ChromeOS', 'Chrome', 'computer'],
    ['opera', 'Windows', 'Opera', 'computer'],
  ] as const)('%s -> %s / %s / %s', (key, os, browser, form) => {
    expect(parseUserAgent(UA[key])).toEqual({ os, browser, form });
  });

  it('tells an iPad (which claims to be a Mac) by its touch points', () => {
    expect(parseUserAgent(UA.macSafari, { maxTouchPoints: 5 })).toEqual({ os: 'iPadOS', browser: 'Safari', form: 'tablet' });
  });

  it('prefers Chromium client hints for the platform and mobile flag', () => {
    expect(parseUserAgent(UA.linuxChrome, { platform: 'Chrome OS' }).os).toBe('ChromeOS');
    expect(parseUserAgent('Mozilla/5.0', { platform: 'Android', mobile: true })).toEqual({ os: 'Android', browser: 'Browser', form: 'phone' });
  });

  it('maps a tablet to the phone device type and says so', async () => {
    const specs = await detectSpecs({}, { navigator: fullNavigator({ userAgent: UA.ipad }), localStorage: new MemoryStorage() });
    expect(specs.request.device_type).toBe('phone');
    expect(specs.notes.join('\n')).toMatch(/tablet/);
  });
});
