import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ClientErrorCode,
  ComputeDevicesError,
  ComputeDevicesNetworkError,
  createClient,
  isAuthError,
  isDeviceGoneError,
  isTransientError,
  type CapacityRow,
  type NetworkHistoryRow,
  type NetworkStats,
  type NetworkStatsByType,
} from '../src/index.js';
import { DEVICE_ID, deviceRow, fakeServer, json, pgError } from './helpers.js';

const BASE = 'http://127.0.0.1:3000';

afterEach(() => {
  vi.useRealTimers();
});

/** get_capacity's reliability-weighted columns for `nodes` expected devices with `gpus` GPUs. */
function expected(nodes: number, gpus: number) {
  return {
    expected_nodes: nodes,
    expected_ram_gb: nodes * 16,
    expected_cpu_cores: nodes * 8,
    expected_gpus: gpus,
    p95_floor_nodes: Math.floor(nodes / 2),
    p95_floor_gpus: Math.floor(gpus / 2),
  };
}

/** Runs `call` and returns what it threw (fails the test if it did not throw). */
async function caught(call: () => Promise<unknown>): Promise<ComputeDevicesError> {
  try {
    await call();
  } catch (err) {
    expect(err).toBeInstanceOf(ComputeDevicesError);
    return err as ComputeDevicesError;
  }
  throw new Error('expected the call to throw');
}

describe('requests', () => {
  it('POSTs each function to {baseUrl}/rpc/<fn> with its named arguments as JSON', async () => {
    const server = fakeServer();
    const api = createClient({ baseUrl: BASE + '/', token: 'tok', fetch: server.fetch });
    await api.getNetworkStats();
    await api.registerDevice({ device_name: 'macOS Computer', device_type: 'laptop', ram_gb: 16, cpu_cores: 8, storage_gb: 512 });
    await api.sendHeartbeat(DEVICE_ID);
    await api.deactivateDevice(DEVICE_ID);
    await api.getUserDevices();

    expect(server.calls.map((c) => [c.url, c.body])).toEqual([
      [`${BASE}/rpc/get_network_stats`, {}],
      [`${BASE}/rpc/register_device`, { device_name: 'macOS Computer', device_type: 'laptop', ram_gb: 16, cpu_cores: 8, storage_gb: 512 }],
      [`${BASE}/rpc/send_heartbeat`, { device_id: DEVICE_ID }],
      [`${BASE}/rpc/deactivate_device`, { device_id: DEVICE_ID }],
      [`${BASE}/rpc/get_user_devices`, {}],
    ]);
    for (const [, init] of server.fetch.mock.calls) expect(init?.method).toBe('POST');
  });

  it('sends Content-Type, the bearer token, and apikey only when one is configured', async () => {
    const server = fakeServer();
    await createClient({ baseUrl: BASE, token: 'tok', fetch: server.fetch }).getNetworkStats();
    await createClient({ baseUrl: 'https://p.supabase.co/rest/v1', token: 'tok', apiKey: 'anon-key', fetch: server.fetch }).getNetworkStats();
    await createClient({ baseUrl: BASE, fetch: server.fetch }).getNetworkStats();

    const [gateway, supabase, anonymous] = server.calls;
    expect(gateway.headers['Content-Type']).toBe('application/json');
    expect(gateway.headers.Authorization).toBe('Bearer tok');
    expect(gateway.headers.apikey).toBeUndefined();
    expect(supabase.url).toBe('https://p.supabase.co/rest/v1/rpc/get_network_stats');
    expect(supabase.headers.apikey).toBe('anon-key');
    expect(supabase.headers.Authorization).toBe('Bearer tok');
    expect(anonymous.headers.Authorization).toBeUndefined();
  });

  it('asks a token provider (sync or async) on every request, so refreshed tokens are used', async () => {
    const server = fakeServer();
    let n = 0;
    const api = createClient({ baseUrl: BASE, token: async () => `tok${++n}`, fetch: server.fetch });
    await api.getUserDevices();
    await api.getUserDevices();
    expect(server.calls.map((c) => c.headers.Authorization)).toEqual(['Bearer tok1', 'Bearer tok2']);
    expect(api.lastToken).toBe('tok2');

    const sync = createClient({ baseUrl: BASE, token: () => null, fetch: server.fetch });
    await sync.getNetworkStats();
    expect(server.calls[2].headers.Authorization).toBeUndefined();
  });

  it('sends only the register arguments, accelerators and country_code only when given', async () => {
    const server = fakeServer();
    const api = createClient({ baseUrl: BASE, fetch: server.fetch });
    const five = { device_name: 'n', device_type: 'server', ram_gb: 1, cpu_cores: 2, storage_gb: 3 } as const;
    await api.registerDevice({ ...five, id: 'x', notes: 'y', accelerators: undefined } as never);
    expect(Object.keys(server.calls[0].body).sort()).toEqual(['cpu_cores', 'device_name', 'device_type', 'ram_gb', 'storage_gb']);
    const accelerators = [{ vendor: 'amd', product_name: 'AMD Radeon RX 7900 XTX', memory_mib: 24576, count: 1 }] as const;
    await api.registerDevice({ ...five, accelerators: [...accelerators], country_code: 'de' });
    expect(server.calls[1].body).toEqual({ ...five, accelerators, country_code: 'de' });
    await api.registerDevice({ ...five, accelerators: null, country_code: null });
    expect(server.calls[2].body).toEqual({ ...five, accelerators: null, country_code: null });
  });

  it('getCapacity sends the filters given (lists as JSON arrays), publicly, and returns the rows', async () => {
    const server = fakeServer();
    const rows: CapacityRow[] = [
      { group_key: 'DE', active_nodes: 2, total_ram_gb: 96, total_cpu_cores: 48, total_storage_gb: 5000, total_compute_score: 600, total_gpus: 3, total_gpu_memory_gb: 72, ...expected(1.5, 3) },
      { group_key: null, active_nodes: 1, total_ram_gb: 16, total_cpu_cores: 8, total_storage_gb: 512, total_compute_score: 97.6, total_gpus: 0, total_gpu_memory_gb: 0, ...expected(0.5, 0) },
    ];
    server.handlers.get_capacity = () => json(rows);
    const api = createClient({ baseUrl: BASE, fetch: server.fetch });
    const filters = { countries: ['DE', 'FR'], gpu_vendors: ['nvidia'], min_gpu_memory_mib: 16384, group_by: 'country', min_uptime_7d: 0.9 } as const;
    expect(await api.getCapacity({ ...filters, countries: [...filters.countries], gpu_vendors: [...filters.gpu_vendors], min_gpus: undefined })).toEqual(rows);
    await api.getCapacity();
    await api.getCapacity({ colour: 'red' } as never);
    expect(server.calls.map((c) => [c.url, c.body])).toEqual([
      [`${BASE}/rpc/get_capacity`, filters],
      [`${BASE}/rpc/get_capacity`, {}],
      [`${BASE}/rpc/get_capacity`, {}],
    ]);
    expect(server.calls[0].headers.Authorization).toBeUndefined();
  });

  it('getNetworkHistory sends since and until (Dates as UTC ISO 8601), bucket and group_by only when given', async () => {
    const server = fakeServer();
    const rows: NetworkHistoryRow[] = [
      { bucket_start: '2026-12-01T10:00:00+00:00', group_key: null, active_nodes: 2.5, active_nodes_min: 2, active_nodes_max: 3, total_ram_gb: 40, total_cpu_cores: 20, total_storage_gb: 1000, total_compute_score: 230, total_gpus: 1, total_gpu_memory_gb: 24 },
    ];
    server.handlers.get_network_history = () => json(rows);
    const api = createClient({ baseUrl: BASE, fetch: server.fetch });
    const since = new Date(Date.UTC(2026, 11, 1, 10, 0, 0));
    expect(await api.getNetworkHistory({ since, until: '2026-12-01 12:00+01' })).toEqual(rows);
    await api.getNetworkHistory({ since, until: since, bucket: '1 hour', groupBy: 'region' });
    await api.getNetworkHistory({ since, until: since, bucket: undefined, groupBy: undefined, colour: 'red' } as never);
    expect(server.calls.map((c) => [c.url, c.body])).toEqual([
      [`${BASE}/rpc/get_network_history`, { since: '2026-12-01T10:00:00.000Z', until: '2026-12-01 12:00+01' }],
      [
        `${BASE}/rpc/get_network_history`,
        { since: '2026-12-01T10:00:00.000Z', until: '2026-12-01T10:00:00.000Z', bucket: '1 hour', group_by: 'region' },
      ],
      [`${BASE}/rpc/get_network_history`, { since: '2026-12-01T10:00:00.000Z', until: '2026-12-01T10:00:00.000Z' }],
    ]);
    expect(server.calls[0].headers.Authorization).toBeUndefined();
    // An invalid Date is refused before any request, as a rejection.
    await expect(api.getNetworkHistory({ since: new Date(NaN), until: since })).rejects.toThrow(/since is an invalid Date/);
    expect(server.calls).toHaveLength(3);
  });

  it('getNetworkStatsAt sends at and returns the one row; the server refuses a future at', async () => {
    const server = fakeServer();
    const stats: NetworkStats = { active_nodes: 3, total_ram_gb: 24.5, total_cpu_cores: 12, total_storage_gb: 600, total_compute_score: 139, total_gpus: 1, total_gpu_memory_gb: 24 };
    server.handlers.get_network_stats_at = (c) =>
      c.body.at === '2999-01-01T00:00:00.000Z' ? pgError(400, '22008', 'at is in the future') : json(stats);
    const api = createClient({ baseUrl: BASE, fetch: server.fetch });
    expect(await api.getNetworkStatsAt('2026-12-01T10:00:30Z')).toEqual(stats);
    expect(server.calls[0]).toMatchObject({ url: `${BASE}/rpc/get_network_stats_at`, body: { at: '2026-12-01T10:00:30Z' } });
    expect(await caught(() => api.getNetworkStatsAt(new Date(Date.UTC(2999, 0, 1))))).toMatchObject({ status: 400, code: '22008' });
  });

  it('sends keepalive requests synchronously with the last token', async () => {
    const server = fakeServer();
    let token = 'first';
    const api = createClient({ baseUrl: BASE, token: async () => token, fetch: server.fetch });
    await api.getUserDevices();
    token = 'second'; // the provider now has a newer one, but a pagehide handler cannot await it
    const sent = api.sendKeepalive('deactivate_device', { device_id: DEVICE_ID });
    expect(server.fetch).toHaveBeenCalledTimes(2); // started before any await
    expect(await sent).toBe(true);
    const call = server.calls[1];
    expect(call).toMatchObject({ fn: 'deactivate_device', keepalive: true, body: { device_id: DEVICE_ID } });
    expect(call.headers.Authorization).toBe('Bearer first');
  });
});

describe('responses', () => {
  it('returns the object of single-row functions and the array of set-returning ones', async () => {
    const server = fakeServer();
    const row = deviceRow();
    server.handlers.get_user_devices = () => json([row, { ...row, id: 'other' }]);
    server.handlers.get_network_stats = () =>
      json({ active_nodes: 3, total_ram_gb: 24.5, total_cpu_cores: 12, total_storage_gb: 600, total_compute_score: 139.0, total_gpus: 1, total_gpu_memory_gb: 24.0 });
    const api = createClient({ baseUrl: BASE, fetch: server.fetch });
    expect(await api.getNetworkStats()).toEqual({
      active_nodes: 3,
      total_ram_gb: 24.5,
      total_cpu_cores: 12,
      total_storage_gb: 600,
      total_compute_score: 139,
      total_gpus: 1,
      total_gpu_memory_gb: 24,
    });
    const devices = await api.getUserDevices();
    expect(devices.map((d) => d.id)).toEqual([DEVICE_ID, 'other']);
  });

  it('getNetworkStatsByType calls get_network_stats_by_type without arguments and returns its rows', async () => {
    const server = fakeServer();
    const rows: NetworkStatsByType[] = [
      { device_type: 'phone', active_nodes: 2, total_ram_gb: 8, total_cpu_cores: 16, total_storage_gb: 256, total_compute_score: 108.8, total_gpus: 2, total_gpu_memory_gb: 0 },
      { device_type: 'laptop', active_nodes: 1, total_ram_gb: 16, total_cpu_cores: 8, total_storage_gb: 512, total_compute_score: 97.6, total_gpus: 1, total_gpu_memory_gb: 8 },
    ];
    server.handlers.get_network_stats_by_type = () => json(rows);
    const api = createClient({ baseUrl: BASE, fetch: server.fetch });
    expect(await api.getNetworkStatsByType()).toEqual(rows);
    expect(server.calls[0]).toMatchObject({ url: `${BASE}/rpc/get_network_stats_by_type`, body: {} });
    expect(server.calls[0].headers.Authorization).toBeUndefined(); // public, like get_network_stats
  });

  it('rejects a 2xx answer that is not the expected JSON (a wrong baseUrl)', async () => {
    const server = fakeServer();
    server.handlers.get_network_stats = () => new Response('<html>hello</html>', { status: 200 });
    server.handlers.get_user_devices = () => json({ not: 'an array' });
    const api = createClient({ baseUrl: BASE, fetch: server.fetch });
    expect(await caught(() => api.getNetworkStats())).toMatchObject({ code: ClientErrorCode.INVALID_RESPONSE, status: 200 });
    expect(await caught(() => api.getUserDevices())).toMatchObject({ code: ClientErrorCode.INVALID_RESPONSE });
  });
});

describe('error mapping', () => {
  const hint = 'Register the device again with register_device to resume sharing.';
  const cases: Array<[string, () => Response, Partial<ComputeDevicesError>]> = [
    ['unknown device', () => pgError(404, '42P01', 'device not found', hint), { status: 404, code: '42P01', message: 'device not found', hint }],
    ['stopped device', () => pgError(404, '42P01', 'device is stopped: its owner deactivated it'), { status: 404, code: '42P01', hint: null }],
    ['bad token', () => pgError(401, 'PGRST301', 'JWT is malformed'), { status: 401, code: 'PGRST301' }],
    ['anon', () => pgError(401, '42501', 'permission denied for function send_heartbeat'), { status: 401, code: '42501' }],
    ['bad input', () => pgError(400, '22023', 'device_type must be one of phone, laptop, desktop, server (got "toaster")', null, 'd'), { status: 400, code: '22023', details: 'd' }],
    ['device limit', () => pgError(400, '23514', 'device limit reached'), { status: 400, code: '23514' }],
    ['database down', () => pgError(503, 'PGRST001', 'Database client error'), { status: 503, code: 'PGRST001' }],
    ['out of slots', () => pgError(503, '53000', 'no shared-memory slot left'), { status: 503, code: '53000' }],
    ['proxy page', () => new Response('<h1>Bad Gateway</h1>', { status: 502, statusText: 'Bad Gateway' }), { status: 502, code: 'HTTP_ERROR', message: 'HTTP 502 Bad Gateway from send_heartbeat', details: '<h1>Bad Gateway</h1>' }],
  ];
  it.each(cases)('%s: carries the server code, status, message, details and hint', async (_name, response, expected) => {
    const server = fakeServer();
    server.handlers.send_heartbeat = response;
    const err = await caught(() => createClient({ baseUrl: BASE, fetch: server.fetch }).sendHeartbeat(DEVICE_ID));
    expect(err).toMatchObject({ ...expected, rpc: 'send_heartbeat', name: 'ComputeDevicesError' });
    expect(err).toBeInstanceOf(Error);
  });

  it('classifies errors: gone, auth, transient', async () => {
    const make = (status: number, code: string) => new ComputeDevicesError({ status, code, message: '' });
    expect(isDeviceGoneError(make(404, '42P01'))).toBe(true);
    expect(isDeviceGoneError(make(404, 'PGRST202'))).toBe(false); // unknown function, not a gone device
    expect(isAuthError(make(401, 'PGRST303'))).toBe(true);
    expect(isAuthError(make(400, '22023'))).toBe(false);
    for (const s of [500, 503, 504, 408, 429]) expect(isTransientError(make(s, 'x'))).toBe(true);
    for (const s of [400, 401, 403, 404, 413]) expect(isTransientError(make(s, 'x'))).toBe(false);
    expect(isTransientError(new Error('plain'))).toBe(false);
  });

  it('turns a fetch failure into a network error with status 0', async () => {
    const failing = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    const err = await caught(() => createClient({ baseUrl: BASE, fetch: failing }).getNetworkStats());
    expect(err).toBeInstanceOf(ComputeDevicesNetworkError);
    expect(err).toMatchObject({ status: 0, code: ClientErrorCode.NETWORK });
    expect(err.message).toContain('Failed to fetch');
    expect((err as Error & { cause?: unknown }).cause).toBeInstanceOf(TypeError);
    expect(isTransientError(err)).toBe(true);
  });

  it('times out a request that does not answer', async () => {
    vi.useFakeTimers();
    const hanging = vi.fn(
      (_url: string, init?: RequestInit) =>
        new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))),
    );
    const pending = caught(() => createClient({ baseUrl: BASE, fetch: hanging, timeoutMs: 5000 }).getNetworkStats());
    await vi.advanceTimersByTimeAsync(4999);
    expect(hanging.mock.calls[0][1]?.signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const err = await pending;
    expect(err).toBeInstanceOf(ComputeDevicesNetworkError);
    expect(err).toMatchObject({ status: 0, code: ClientErrorCode.TIMEOUT });
  });

  it("reports the caller's abort as ABORTED, not as a network failure", async () => {
    const hanging = vi.fn(
      (_url: string, init?: RequestInit) =>
        new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))),
    );
    const controller = new AbortController();
    const api = createClient({ baseUrl: BASE, fetch: hanging });
    const pending = caught(() => api.getUserDevices({ signal: controller.signal }));
    await vi.waitFor(() => expect(hanging).toHaveBeenCalledTimes(1)); // aborted while in flight
    controller.abort();
    expect(await pending).toMatchObject({ status: 0, code: ClientErrorCode.ABORTED });
    // Aborted before the request: fetch is never called.
    expect(await caught(() => api.getUserDevices({ signal: controller.signal }))).toMatchObject({ code: ClientErrorCode.ABORTED });
    expect(hanging).toHaveBeenCalledTimes(1);
  });

  it('wraps a failing token provider as TOKEN_ERROR (an auth error)', async () => {
    const server = fakeServer();
    const api = createClient({
      baseUrl: BASE,
      fetch: server.fetch,
      token: async () => {
        throw new Error('session expired');
      },
    });
    const err = await caught(() => api.getUserDevices());
    expect(err).toMatchObject({ code: ClientErrorCode.TOKEN, status: 0 });
    expect(isAuthError(err)).toBe(true);
    expect(server.fetch).not.toHaveBeenCalled();
  });

  it('needs a baseUrl', () => {
    expect(() => createClient({ baseUrl: '' })).toThrow(/baseUrl/);
  });
});
