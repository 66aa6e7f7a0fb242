import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ClientErrorCode,
  ComputeDevicesError,
  computeHeartbeat,
  createComputeHeartbeat,
  type HeartbeatErrorEvent,
  type HeartbeatOptions,
  type HeartbeatState,
} from '../src/index.js';
import { DEVICE_ID, MemoryStorage, deferred, fakeGpu, fakeServer, fakeWindow, fullNavigator, json, pgError } from './helpers.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Lets every pending promise chain run without moving the fake clock. */
const flush = () => vi.advanceTimersByTimeAsync(0);

function setup(options: Partial<HeartbeatOptions> & { interval?: number } = {}) {
  const { interval, ...rest } = options;
  const server = fakeServer({ interval });
  const win = fakeWindow();
  const errors: HeartbeatErrorEvent[] = [];
  const states: Array<{ state: HeartbeatState; running: boolean }> = [];
  const hb = createComputeHeartbeat({
    baseUrl: 'http://gateway.test',
    token: 'tok',
    fetch: server.fetch,
    environment: { navigator: fullNavigator(), localStorage: new MemoryStorage(), window: win.target },
    random: () => 0,
    onError: (e) => errors.push(e),
    ...rest,
  });
  hb.on('state', ({ state }) => states.push({ state, running: hb.isRunning() }));
  const t0 = Date.now();
  /** [fn, ms since setup] for every request so far. */
  const timeline = () => server.calls.map((c) => [c.fn, c.at - t0] as const);
  return { server, win, hb, errors, states, timeline, t0 };
}

describe('schedule', () => {
  it('registers, heartbeats at once, then at the interval each answer asks for', async () => {
    const { server, hb, timeline } = setup({ interval: 2 });
    const device = await hb.start();
    expect(device.id).toBe(DEVICE_ID);
    await flush();
    expect(timeline()).toEqual([
      ['register_device', 0],
      ['send_heartbeat', 0],
    ]);
    expect(hb.intervalMs).toBe(2000);

    await vi.advanceTimersByTimeAsync(1999);
    expect(server.count('send_heartbeat')).toBe(1);
    server.state.interval = 7; // the server changes its mind; the next answer says 7 s
    await vi.advanceTimersByTimeAsync(1);
    expect(server.count('send_heartbeat')).toBe(2);
    await vi.advanceTimersByTimeAsync(6999);
    expect(server.count('send_heartbeat')).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(timeline().filter(([fn]) => fn === 'send_heartbeat').map(([, t]) => t)).toEqual([0, 2000, 9000]);
    expect(hb.intervalMs).toBe(7000);
    await hb.stop();
  });

  it('counts the interval from when a heartbeat was sent, not from its slow answer', async () => {
    const { server, hb, timeline } = setup({ interval: 5 });
    const normal = server.handlers.send_heartbeat;
    server.handlers.send_heartbeat = (c) => new Promise((resolve) => setTimeout(() => resolve(normal(c)), 1500));
    await hb.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(timeline().filter(([fn]) => fn === 'send_heartbeat').map(([, t]) => t)).toEqual([0, 5000, 10_000]);
    const stop = hb.stop(); // waits for the heartbeat still in flight
    await vi.advanceTimersByTimeAsync(1500);
    await stop;
  });

  it('emits a heartbeat event with the answer and the next delay', async () => {
    const seen: number[] = [];
    const { hb } = setup({ interval: 3, onHeartbeat: (e) => seen.push(e.nextInMs) });
    await hb.start();
    await vi.advanceTimersByTimeAsync(3000);
    expect(seen).toEqual([3000, 3000]);
    await hb.stop();
  });
});

describe('retries', () => {
  it('retries transient heartbeat failures with exponential backoff and the injected jitter', async () => {
    const randoms = [0, 1, 0.5, 0.25, 0];
    const { server, hb, errors, timeline } = setup({ interval: 60, random: () => randoms.shift() ?? 0, retry: { baseDelayMs: 1000 } });
    await hb.start();
    await flush();
    const failures: Array<() => Response> = [
      () => pgError(503, 'PGRST001', 'Database client error'),
      () => {
        throw new TypeError('Failed to fetch');
      },
      () => pgError(500, 'XX000', 'internal'),
      () => pgError(429, 'PGRST000', 'too many'),
      () => pgError(408, 'PGRST000', 'timeout'),
    ];
    const ok = server.handlers.send_heartbeat;
    server.handlers.send_heartbeat = (c) => (failures.length ? failures.shift()!() : ok(c));

    await vi.advanceTimersByTimeAsync(60_000 + 500 + 2000 + 3000 + 5000 + 8000);
    // step = 1000 * 2^n; delay = step/2 + step/2 * random: 500, 2000, 3000, 5000, 8000
    expect(errors.map((e) => [e.phase, (e.error as ComputeDevicesError).status, e.willRetry, e.retryInMs, e.attempt])).toEqual([
      ['heartbeat', 503, true, 500, 1],
      ['heartbeat', 0, true, 2000, 2],
      ['heartbeat', 500, true, 3000, 3],
      ['heartbeat', 429, true, 5000, 4],
      ['heartbeat', 408, true, 8000, 5],
    ]);
    const beats = timeline().filter(([fn]) => fn === 'send_heartbeat').map(([, t]) => t);
    expect(beats).toEqual([0, 60_000, 60_500, 62_500, 65_500, 70_500, 78_500]);
    expect(hb.state).toBe('running');
    await hb.stop();
  });

  it('never waits longer than the last heartbeat interval the server gave', async () => {
    const { server, hb, errors } = setup({ interval: 2, random: () => 0.999, retry: { baseDelayMs: 1000, maxDelayMs: 60_000 } });
    await hb.start();
    await flush();
    server.handlers.send_heartbeat = () => pgError(503, 'PGRST001', 'down');
    await vi.advanceTimersByTimeAsync(30_000);
    const delays = errors.map((e) => e.retryInMs!);
    expect(delays.length).toBeGreaterThan(10);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2000);
    expect(delays.slice(0, 3)).toEqual([1000, 1999, 1999]);
    await hb.stop();
  });

  it('retries a registration that fails transiently; start() resolves once it succeeds', async () => {
    const { server, hb, timeline } = setup({ retry: { baseDelayMs: 1000 } });
    let failures = 2;
    const ok = server.handlers.register_device;
    server.handlers.register_device = (c) => (failures-- > 0 ? pgError(503, '53000', 'no shared-memory slot left') : ok(c));
    let started = false;
    const start = hb.start().then(() => (started = true));
    await vi.advanceTimersByTimeAsync(1499);
    expect(started).toBe(false);
    expect(hb.state).toBe('starting');
    expect(hb.isRunning()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    await start;
    expect(timeline().filter(([fn]) => fn === 'register_device').map(([, t]) => t)).toEqual([0, 500, 1500]);
    await hb.stop();
  });

  it('on 401 asks the token provider again and retries with the new token', async () => {
    let n = 0;
    const { server, hb, errors } = setup({ token: async () => `tok${++n}` });
    await hb.start();
    await flush();
    let rejectNext = true;
    const ok = server.handlers.send_heartbeat;
    server.handlers.send_heartbeat = (c) => {
      if (rejectNext) {
        rejectNext = false;
        return pgError(401, 'PGRST303', 'JWT expired');
      }
      return ok(c);
    };
    await vi.advanceTimersByTimeAsync(2000 + 500);
    const beats = server.calls.filter((c) => c.fn === 'send_heartbeat');
    expect(beats.map((c) => c.headers.Authorization)).toEqual(['Bearer tok2', 'Bearer tok3', 'Bearer tok4']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ phase: 'heartbeat', willRetry: true });
    expect(hb.state).toBe('running');
    await hb.stop();
  });

  it('gives up after maxAuthRetries 401s in a row and surfaces the error', async () => {
    const { server, hb, errors } = setup({ retry: { maxAuthRetries: 2 } });
    server.handlers.register_device = () => pgError(401, '42501', 'permission denied for function register_device');
    const start = hb.start();
    const outcome = start.then(
      () => 'resolved',
      (e: ComputeDevicesError) => e.code,
    );
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await outcome).toBe('42501');
    expect(server.count('register_device')).toBe(3);
    expect(errors.map((e) => e.willRetry)).toEqual([true, true, false]);
    expect(hb.isRunning()).toBe(false);
    expect(hb.state).toBe('idle');
  });
});

describe('permanent errors', () => {
  it('stop on a 4xx from register, reject start() with the server error and report it', async () => {
    const { server, hb, errors, states } = setup();
    server.handlers.register_device = () => pgError(400, '22023', 'device_type must be one of phone, laptop, desktop, server (got "toaster")');
    const err = await hb.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComputeDevicesError);
    expect(err).toMatchObject({ code: '22023', status: 400 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ phase: 'register', willRetry: false });
    expect(hb.isRunning()).toBe(false);
    expect(states.map((s) => s.state)).toEqual(['starting', 'idle']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.fns()).toEqual(['register_device']);
  });

  it('stop on a permanent heartbeat error', async () => {
    const { server, hb, errors } = setup();
    await hb.start();
    await flush();
    server.handlers.send_heartbeat = () => pgError(400, '22004', 'device_id must not be null');
    await vi.advanceTimersByTimeAsync(2000);
    expect(hb.state).toBe('idle');
    expect(errors.at(-1)).toMatchObject({ phase: 'heartbeat', willRetry: false });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.count('send_heartbeat')).toBe(2);
  });
});

describe('device gone', () => {
  it('registers again when a heartbeat answers 404 42P01 (stopped elsewhere), then heartbeats on', async () => {
    const registers: boolean[] = [];
    const { server, hb, errors, timeline } = setup({ interval: 2, onRegister: (e) => registers.push(e.reregistered) });
    await hb.start();
    await flush();
    server.state.stopped = true; // the owner deactivated it from another tab
    await vi.advanceTimersByTimeAsync(2000);
    expect(timeline()).toEqual([
      ['register_device', 0],
      ['send_heartbeat', 0],
      ['send_heartbeat', 2000],
      ['register_device', 2000],
      ['send_heartbeat', 2000],
    ]);
    expect(registers).toEqual([false, true]);
    expect(errors[0]).toMatchObject({ phase: 'heartbeat', willRetry: true });
    expect((errors[0].error as ComputeDevicesError).code).toBe('42P01');
    await vi.advanceTimersByTimeAsync(2000);
    expect(server.count('send_heartbeat')).toBe(4);
    expect(hb.state).toBe('running');
    await hb.stop();
  });

  it('does not re-register in a tight loop when the device keeps disappearing', async () => {
    const { server, hb } = setup({ interval: 2, retry: { baseDelayMs: 1000 } });
    await hb.start();
    server.handlers.send_heartbeat = () => pgError(404, '42P01', 'device not found');
    await vi.advanceTimersByTimeAsync(10_000);
    // Without a pause this would be thousands of requests; with it, a handful.
    expect(server.count('register_device')).toBeLessThan(10);
    expect(server.count('register_device')).toBeGreaterThan(2);
    await hb.stop();
  });

  it('stops instead when reregisterWhenGone is false', async () => {
    const { server, hb } = setup({ reregisterWhenGone: false });
    await hb.start();
    await flush();
    server.state.stopped = true;
    await vi.advanceTimersByTimeAsync(2000);
    expect(hb.state).toBe('idle');
    expect(server.count('register_device')).toBe(1);
  });

  it('treats a 404 that is not 42P01 (unknown function) as permanent, not as a gone device', async () => {
    const { server, hb } = setup();
    await hb.start();
    await flush();
    server.handlers.send_heartbeat = () => pgError(404, 'PGRST202', 'Could not find the function send_heartbeat');
    await vi.advanceTimersByTimeAsync(2000);
    expect(hb.state).toBe('idle');
    expect(server.count('register_device')).toBe(1);
  });
});

describe('start/stop races', () => {
  it('start() while starting or running returns the same promise and runs one loop', async () => {
    const { server, hb } = setup({ interval: 2 });
    const a = hb.start();
    const b = hb.start();
    expect(b).toBe(a);
    await a;
    expect(hb.start()).toBe(a);
    await vi.advanceTimersByTimeAsync(4000);
    expect(server.count('register_device')).toBe(1);
    expect(server.count('send_heartbeat')).toBe(3); // 0, 2000, 4000: one loop, not two
    await hb.stop();
  });

  it('stop() while registering cancels the start and deactivates the device that registration created', async () => {
    const { server, hb, states } = setup();
    const held = deferred<Response>();
    const ok = server.handlers.register_device;
    server.handlers.register_device = async (c) => {
      await held.promise;
      return ok(c);
    };
    const start = hb.start();
    const startOutcome = start.then(
      () => 'resolved',
      (e: ComputeDevicesError) => e.code,
    );
    await flush();
    expect(server.fns()).toEqual(['register_device']);

    let stopped = false;
    const stop = hb.stop().then(() => (stopped = true));
    expect(hb.isRunning()).toBe(false);
    expect(hb.state).toBe('stopping');
    expect(await startOutcome).toBe(ClientErrorCode.ABORTED);
    await flush();
    expect(stopped).toBe(false); // waits for the registration in flight

    held.resolve(json({}));
    await stop;
    expect(server.fns()).toEqual(['register_device', 'deactivate_device']);
    expect(server.calls[1].body).toEqual({ device_id: DEVICE_ID });
    expect(hb.state).toBe('idle');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.count('send_heartbeat')).toBe(0);
    expect(states.map((s) => [s.state, s.running])).toEqual([
      ['starting', true],
      ['stopping', false],
      ['idle', false],
    ]);
  });

  it('stop() during a registration backoff ends at once, with nothing to deactivate', async () => {
    const { server, hb } = setup();
    server.handlers.register_device = () => pgError(503, 'PGRST001', 'down');
    void hb.start().catch(() => {});
    await flush();
    await hb.stop();
    expect(hb.state).toBe('idle');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.fns()).toEqual(['register_device']);
  });

  it('start() right after stop() waits for the deactivation, so it cannot land after the new registration', async () => {
    const { server, hb, states } = setup();
    await hb.start();
    await flush();
    const held = deferred<void>();
    const ok = server.handlers.deactivate_device;
    server.handlers.deactivate_device = async (c) => {
      await held.promise;
      return ok(c);
    };

    const stop = hb.stop();
    const restart = hb.start();
    expect(hb.isRunning()).toBe(true);
    expect(hb.state).toBe('starting');
    expect(hb.start()).toBe(restart); // still one pending start
    await vi.advanceTimersByTimeAsync(5000);
    expect(server.fns()).toEqual(['register_device', 'send_heartbeat', 'deactivate_device']); // no register yet

    held.resolve();
    await stop;
    await restart;
    await flush();
    expect(server.fns()).toEqual(['register_device', 'send_heartbeat', 'deactivate_device', 'register_device', 'send_heartbeat']);
    expect(server.state.stopped).toBe(false); // the server ends up with the device shared
    expect(hb.state).toBe('running');
    expect(states.map((s) => [s.state, s.running])).toEqual([
      ['starting', true],
      ['running', true],
      ['stopping', false],
      ['starting', true],
      ['running', true],
    ]);
    await hb.stop();
  });

  it('start, stop, start, stop in one tick ends stopped, with the last request a deactivation', async () => {
    const { server, hb } = setup();
    const first = hb.start();
    const stop1 = hb.stop();
    const second = hb.start();
    const stop2 = hb.stop();
    expect(hb.isRunning()).toBe(false);
    await Promise.all([stop1, stop2, first.catch(() => {}), second.catch(() => {})]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(hb.state).toBe('idle');
    expect(server.count('send_heartbeat')).toBe(0);
    // Both starts were cancelled before they registered anything.
    expect(server.fns()).toEqual([]);
  });

  it('stop() while a heartbeat is in flight waits for it, then deactivates; stop() twice is one stop', async () => {
    const { server, hb } = setup();
    await hb.start();
    await flush();
    const held = deferred<void>();
    const ok = server.handlers.send_heartbeat;
    server.handlers.send_heartbeat = async (c) => {
      await held.promise;
      return ok(c);
    };
    await vi.advanceTimersByTimeAsync(2000);
    const s1 = hb.stop();
    const s2 = hb.stop();
    expect(s2).toBe(s1);
    await flush();
    expect(server.count('deactivate_device')).toBe(0);
    held.resolve();
    await s1;
    expect(server.fns().slice(-2)).toEqual(['send_heartbeat', 'deactivate_device']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(server.count('send_heartbeat')).toBe(2);
  });

  it('stop() when idle resolves and sends nothing', async () => {
    const { server, hb } = setup();
    await hb.stop();
    expect(server.calls).toHaveLength(0);
  });

  it('reports a failed deactivation on stop without rejecting', async () => {
    const { server, hb, errors } = setup();
    await hb.start();
    server.handlers.deactivate_device = () => pgError(503, 'PGRST001', 'down');
    await expect(hb.stop()).resolves.toBeUndefined();
    expect(errors.at(-1)).toMatchObject({ phase: 'deactivate', willRetry: false });
    expect(hb.state).toBe('idle');
  });
});

describe('pagehide', () => {
  it('sends a keepalive deactivate_device with the last token, synchronously, and pauses the loop', async () => {
    let n = 0;
    const { server, hb, win } = setup({ token: async () => `tok${++n}` });
    await hb.start();
    await flush();
    const lastToken = server.calls.at(-1)!.headers.Authorization;
    const before = server.calls.length;

    win.pagehide();
    // Inside the event handler: no await happened, the request already left.
    expect(server.calls).toHaveLength(before + 1);
    const call = server.calls.at(-1)!;
    expect(call).toMatchObject({ fn: 'deactivate_device', keepalive: true, body: { device_id: DEVICE_ID } });
    expect(call.headers.Authorization).toBe(lastToken);
    expect(n).toBe(2); // the token provider was not asked again

    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.calls).toHaveLength(before + 1); // no heartbeats while the page is hidden
  });

  it('resumes from the back/forward cache: heartbeats at once and registers again', async () => {
    const { server, hb, win } = setup({ interval: 30 });
    await hb.start();
    await flush();
    win.pagehide(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.state.stopped).toBe(true);
    win.pageshow(true);
    await flush();
    expect(server.fns().slice(-3)).toEqual(['send_heartbeat', 'register_device', 'send_heartbeat']);
    expect(server.state.stopped).toBe(false);
    expect(hb.state).toBe('running');
    await hb.stop();
  });

  it('sends nothing when deactivateOnPageHide is false, when idle, or after stop()', async () => {
    const off = setup({ deactivateOnPageHide: false });
    await off.hb.start();
    await flush();
    const before = off.server.calls.length;
    off.win.pagehide();
    expect(off.server.calls).toHaveLength(before);

    const idle = setup();
    idle.win.pagehide();
    expect(idle.server.calls).toHaveLength(0);

    const stopped = setup();
    await stopped.hb.start();
    await stopped.hb.stop();
    const after = stopped.server.calls.length;
    stopped.win.pagehide();
    expect(stopped.server.calls).toHaveLength(after);
  });
});

describe('pagehide edge cases', () => {
  it('a registration that lands after pagehide is deactivated at once by keepalive', async () => {
    const { server, hb, win } = setup();
    const held = deferred<void>();
    const ok = server.handlers.register_device;
    server.handlers.register_device = async (c) => {
      await held.promise;
      return ok(c);
    };
    void hb.start();
    await flush();
    win.pagehide();
    expect(server.fns()).toEqual(['register_device']); // nothing to deactivate yet
    held.resolve();
    await flush();
    expect(server.calls.at(-1)).toMatchObject({ fn: 'deactivate_device', keepalive: true });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(server.count('send_heartbeat')).toBe(0);
    expect(server.state.stopped).toBe(true);
  });
});

describe('observability', () => {
  it('a throwing listener is reported but does not stop the loop; on() returns an unsubscribe', async () => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { server, hb } = setup({
      onHeartbeat: () => {
        throw new Error('app bug');
      },
    });
    hb.on('heartbeat', () => {
      throw new Error('another app bug');
    });
    let seen = 0;
    const off = hb.on('heartbeat', () => seen++);
    await hb.start();
    await vi.advanceTimersByTimeAsync(4000);
    expect(server.count('send_heartbeat')).toBe(3);
    expect(seen).toBe(3);
    expect(consoleError).toHaveBeenCalled();
    off();
    await vi.advanceTimersByTimeAsync(2000);
    expect(seen).toBe(3);
    expect(server.count('send_heartbeat')).toBe(4);
    await hb.stop();
  });
});

describe('configuration', () => {
  it('the exported singleton rejects start() until configured, with a clear error', async () => {
    const err = (await computeHeartbeat.start().catch((e: unknown) => e)) as ComputeDevicesError;
    expect(err).toBeInstanceOf(ComputeDevicesError);
    expect(err.code).toBe(ClientErrorCode.NOT_CONFIGURED);
    expect(err.message).toMatch(/configure\(\{ baseUrl, token \}\)/);
    expect(computeHeartbeat.isRunning()).toBe(false);
    expect(computeHeartbeat.configured).toBe(false);
  });

  it('configure() needs a baseUrl or a client', () => {
    expect(() => createComputeHeartbeat().configure({})).toThrow(/baseUrl/);
  });

  it('registers the detected specs, with overrides applied, and exposes what was detected', async () => {
    const { server, hb } = setup({ specs: { device_type: 'desktop' } });
    await hb.start();
    expect(server.calls[0].body).toMatchObject({ device_type: 'desktop', cpu_cores: 12, ram_gb: 8, storage_gb: 100 });
    expect(String(server.calls[0].body.device_name)).toMatch(/^Linux · Chrome · [0-9a-f]{8}$/);
    expect(hb.specs?.sources).toMatchObject({ device_type: 'override', ram_gb: 'detected' });
    await hb.stop();
  });

  it('registers the GPU WebGPU reports and the country the app states', async () => {
    const gpu = fakeGpu({ vendor: 'apple', description: 'Apple M2 Max' });
    const { server, hb } = setup({
      specs: { country_code: 'NL' },
      environment: { navigator: fullNavigator({ gpu }), localStorage: new MemoryStorage(), window: fakeWindow().target },
    });
    await hb.start();
    expect(server.calls[0].body).toMatchObject({
      accelerators: [{ vendor: 'apple', product_name: 'Apple M2 Max', memory_mib: 0, count: 1 }],
      country_code: 'NL',
    });
    await hb.stop();
  });
});
