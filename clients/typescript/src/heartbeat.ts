// computeHeartbeat: shares this browser's compute while it runs. start() registers the device and
// heartbeats at the interval the server asks for; stop() deactivates it. The seed's interface
// (start/stop/isRunning) on top of a loop that survives flaky networks, expired tokens, devices the
// server forgot, page unloads and apps that call start and stop in quick succession.
//
// Concurrency model: each start() creates a Run; at most one Run is current (this.run) and only the
// current one may change the public state. stop() cancels its Run, waits for the request in flight to
// settle (so a registration that lands after stop() is still undone), then deactivates. A start()
// during that stop creates the next Run, which first waits for the previous stop to finish, so the
// old deactivation can never arrive after the new registration.

import { backoffDelay } from './backoff.js';
import { ComputeDevicesClient, type ClientOptions } from './client.js';
import { Emitter, reportListenerError, type Listener } from './emitter.js';
import {
  ClientErrorCode,
  ComputeDevicesError,
  isAuthError,
  isDeviceGoneError,
  isTransientError,
} from './errors.js';
import { detectSpecs, type DetectedSpecs, type SpecEnvironment, type SpecOverrides } from './specs.js';
import type { Device, Heartbeat } from './types.js';

export type HeartbeatState = 'idle' | 'starting' | 'running' | 'stopping';
/** What the heartbeat was doing when something happened. */
export type HeartbeatPhase = 'register' | 'heartbeat' | 'deactivate' | 'pagehide';

export interface HeartbeatErrorEvent {
  error: Error;
  phase: HeartbeatPhase;
  /** True when the heartbeat retries (or registers again); false when it gave up on this. */
  willRetry: boolean;
  /** The delay before the retry, when there is one. */
  retryInMs: number | null;
  /** How many times this operation has failed in a row (1 for the first failure). */
  attempt: number;
}

export interface HeartbeatEvents {
  state: { state: HeartbeatState; previous: HeartbeatState };
  register: { device: Device; specs: DetectedSpecs; reregistered: boolean };
  heartbeat: { heartbeat: Heartbeat; device: Device; nextInMs: number };
  error: HeartbeatErrorEvent;
  deactivate: { deviceId: string; via: 'stop' | 'pagehide'; ok: boolean; device: Device | null };
}

/** The window-like object whose pagehide/pageshow events are watched. */
export interface PageEventTarget {
  addEventListener(type: string, listener: (event: Event) => void): void;
  removeEventListener(type: string, listener: (event: Event) => void): void;
}

export interface RetryOptions {
  /** First retry delay before jitter (default 1000 ms). */
  baseDelayMs?: number;
  /** Longest retry delay (default 60000 ms); also never longer than the last heartbeat interval. */
  maxDelayMs?: number;
  /** Growth per failure (default 2). */
  factor?: number;
  /** 401s (or token provider failures) in a row retried before giving up (default 3). */
  maxAuthRetries?: number;
}

export interface HeartbeatOptions extends Partial<ClientOptions> {
  /** Use this client instead of building one from baseUrl/token/apiKey/fetch. */
  client?: ComputeDevicesClient;
  /** Values to register instead of the detected ones (any of them, the name included). */
  specs?: SpecOverrides;
  /** Where navigator, localStorage and the page events come from (defaults: the globals). */
  environment?: SpecEnvironment & { window?: PageEventTarget | null };
  /** Uniform random in [0, 1) for the retry jitter; inject for deterministic tests. */
  random?: () => number;
  retry?: RetryOptions;
  /** Used only if a heartbeat answer lacks a valid next_heartbeat_in_seconds (default 30). */
  fallbackIntervalSeconds?: number;
  /** Send a keepalive deactivate_device on pagehide (default true). */
  deactivateOnPageHide?: boolean;
  /** Register again when a heartbeat answers 404/42P01: unknown or stopped device (default true). */
  reregisterWhenGone?: boolean;
  onStateChange?: Listener<HeartbeatEvents['state']>;
  onRegister?: Listener<HeartbeatEvents['register']>;
  onHeartbeat?: Listener<HeartbeatEvents['heartbeat']>;
  onError?: Listener<HeartbeatEvents['error']>;
  onDeactivate?: Listener<HeartbeatEvents['deactivate']>;
}

interface Run {
  phase: 'starting' | 'running' | 'stopping';
  cancelled: boolean;
  device: Device | null;
  startPromise: Promise<Device>;
  resolveStart: (device: Device) => void;
  rejectStart: (error: Error) => void;
  startSettled: boolean;
  done: Promise<void>;
  stopPromise: Promise<void> | null;
  /** Ends the current sleep or page-hidden wait early (stop, pageshow). */
  wake: (() => void) | null;
  /** Between pagehide and pageshow: send nothing (the page is going away or frozen). */
  pageHidden: boolean;
}

/** Thrown inside the loop when its Run was cancelled; never escapes the class. */
const CANCELLED = Symbol('cancelled');

const HOOKS = {
  state: 'onStateChange',
  register: 'onRegister',
  heartbeat: 'onHeartbeat',
  error: 'onError',
  deactivate: 'onDeactivate',
} as const satisfies Record<keyof HeartbeatEvents, keyof HeartbeatOptions>;

export class ComputeHeartbeat {
  private options: HeartbeatOptions = {};
  private apiClient: ComputeDevicesClient | null = null;
  private run: Run | null = null;
  private stateValue: HeartbeatState = 'idle';
  private readonly events = new Emitter<HeartbeatEvents>();
  private lastIntervalMs: number | null = null;
  private lastSpecs: DetectedSpecs | null = null;
  private pageTarget: PageEventTarget | null = null;
  // Errors already reported through 'error', so a failure is not reported twice.
  private readonly reported = new WeakSet<object>();

  constructor(options?: HeartbeatOptions) {
    if (options) this.configure(options);
  }

  /**
   * Sets where and as whom to share: `{ baseUrl, token }` (plus apiKey for Supabase) or `{ client }`.
   * Can be called again; a running heartbeat uses the new client from its next request on.
   */
  configure(options: HeartbeatOptions): this {
    const client = options.client ?? (options.baseUrl ? new ComputeDevicesClient(options as ClientOptions) : null);
    if (!client) throw new TypeError('computeHeartbeat.configure() needs a baseUrl (and usually a token) or a client');
    this.options = { ...options };
    this.apiClient = client;
    return this;
  }

  /** Whether configure() has been called. */
  get configured(): boolean {
    return this.apiClient !== null;
  }

  /** The API client the heartbeat uses (for getNetworkStats and friends with the same settings). */
  get client(): ComputeDevicesClient | null {
    return this.apiClient;
  }

  get state(): HeartbeatState {
    return this.stateValue;
  }

  /** True from start() until stop() or a permanent failure; `state` tells starting from running. */
  isRunning(): boolean {
    return this.run !== null && this.run.phase !== 'stopping';
  }

  /** The device as last registered by the current run (null before registration and when idle). */
  get device(): Device | null {
    return this.run?.device ?? null;
  }

  /** The last detected specs, with which values were detected, fallen back on or overridden. */
  get specs(): DetectedSpecs | null {
    return this.lastSpecs;
  }

  /** The heartbeat interval the server last asked for, in ms (null before the first heartbeat). */
  get intervalMs(): number | null {
    return this.lastIntervalMs;
  }

  /** Listens to 'state', 'register', 'heartbeat', 'error' or 'deactivate'; returns an unsubscribe. */
  on<K extends keyof HeartbeatEvents>(event: K, listener: Listener<HeartbeatEvents[K]>): () => void {
    return this.events.on(event, listener);
  }

  off<K extends keyof HeartbeatEvents>(event: K, listener: Listener<HeartbeatEvents[K]>): void {
    this.events.off(event, listener);
  }

  /**
   * Starts sharing: detects the specs, registers the device, sends the first heartbeat and keeps
   * heartbeating. Resolves with the registered device. While starting or running it returns the same
   * promise; during a stop() it starts once that stop has deactivated the device. Rejects with the
   * server's error on a permanent failure, or with code ABORTED when stop() cancels it.
   */
  start(): Promise<Device> {
    const current = this.run;
    if (current && current.phase !== 'stopping') return current.startPromise;
    if (!this.apiClient) {
      return Promise.reject(
        new ComputeDevicesError({
          code: ClientErrorCode.NOT_CONFIGURED,
          status: 0,
          message: 'computeHeartbeat is not configured: call computeHeartbeat.configure({ baseUrl, token }) before start()',
        }),
      );
    }
    const previousStop = current?.stopPromise ?? null;
    const run = newRun();
    this.run = run;
    this.listenToPage();
    this.setState('starting');
    run.done = this.loop(run, previousStop);
    return run.startPromise;
  }

  /**
   * Stops sharing: cancels the loop (or a start in progress), waits for the request in flight, then
   * deactivates the device. Resolves when done; a failed deactivation is reported through 'error'
   * (the server marks a silent device inactive by itself). Calling it again returns the same promise.
   */
  stop(): Promise<void> {
    const run = this.run;
    if (!run) return Promise.resolve();
    if (run.phase === 'stopping') return run.stopPromise!;
    run.phase = 'stopping';
    run.cancelled = true;
    run.wake?.();
    settleStart(run, new ComputeDevicesError({ code: ClientErrorCode.ABORTED, status: 0, message: 'computeHeartbeat.start() was cancelled by stop()' }));
    this.setState('stopping');
    run.stopPromise = (async () => {
      await run.done;
      const device = run.device;
      if (device && this.apiClient) {
        try {
          const row = await this.apiClient.deactivateDevice(device.id);
          this.emit('deactivate', { deviceId: device.id, via: 'stop', ok: true, device: row });
        } catch (error) {
          this.report(error as Error, 'deactivate', false, null, 1);
          this.emit('deactivate', { deviceId: device.id, via: 'stop', ok: false, device: null });
        }
      }
      // A start() during this stop made a new current Run: the state is now that Run's.
      if (this.run === run) {
        this.run = null;
        this.stopListeningToPage();
        this.setState('idle');
      }
    })();
    return run.stopPromise;
  }

  private async loop(run: Run, previousStop: Promise<void> | null): Promise<void> {
    try {
      if (previousStop) await previousStop;
      this.checkCancelled(run);
      const specs = await detectSpecs(this.options.specs, this.options.environment ?? {});
      this.checkCancelled(run);
      this.lastSpecs = specs;

      let device = await this.register(run, specs, false);
      run.phase = 'running';
      this.setState('running');
      settleStart(run, device);

      // register_device answers no interval: heartbeat at once and schedule from that answer.
      let goneInARow = 0;
      for (;;) {
        await this.waitWhilePageHidden(run);
        const sentAt = Date.now();
        let heartbeat: Heartbeat;
        try {
          heartbeat = await this.withRetry(run, 'heartbeat', () => this.clientOrThrow().sendHeartbeat(device.id));
        } catch (error) {
          if (error === CANCELLED || !isDeviceGoneError(error) || this.options.reregisterWhenGone === false) throw error;
          // Unknown, or stopped by its owner (or by our own pagehide): the server says register again.
          // Pause first if that already happened right before, so a device someone keeps stopping is
          // not re-registered in a tight loop.
          const pause = goneInARow > 0 ? this.retryDelay(goneInARow - 1) : 0;
          goneInARow++;
          this.report(error as Error, 'heartbeat', true, pause, goneInARow);
          if (pause > 0) await this.sleep(run, pause);
          await this.waitWhilePageHidden(run);
          device = await this.register(run, specs, true);
          continue;
        }
        this.checkCancelled(run);
        goneInARow = 0;
        const intervalMs = this.intervalOf(heartbeat);
        this.lastIntervalMs = intervalMs;
        this.emit('heartbeat', { heartbeat, device, nextInMs: intervalMs });
        // The interval counts from when the heartbeat was sent, not from its (possibly slow) answer.
        await this.sleep(run, Math.max(0, intervalMs - (Date.now() - sentAt)));
        this.checkCancelled(run);
      }
    } catch (error) {
      if (error === CANCELLED) return;
      this.fail(run, error instanceof Error ? error : new Error(String(error)));
    }
  }

  private async register(run: Run, specs: DetectedSpecs, reregistered: boolean): Promise<Device> {
    const device = await this.withRetry(run, 'register', () => this.clientOrThrow().registerDevice(specs.request));
    // Recorded before the cancellation check: a stop() that raced this registration must undo it.
    run.device = device;
    if (run.pageHidden && !run.cancelled) this.deactivateOnPageHide(run);
    this.checkCancelled(run);
    this.emit('register', { device, specs, reregistered });
    return device;
  }

  /**
   * Runs one request until it succeeds, retrying transient failures (no answer, 5xx, 408, 429) and
   * 401s (the token provider is asked again on every attempt) with jittered exponential backoff.
   * Anything else is permanent and thrown; so is 404/42P01 on a heartbeat, which the loop handles.
   */
  private async withRetry<T>(run: Run, phase: 'register' | 'heartbeat', request: () => Promise<T>): Promise<T> {
    let failures = 0;
    let authFailures = 0;
    for (;;) {
      this.checkCancelled(run);
      try {
        return await request();
      } catch (error) {
        if (run.cancelled) throw CANCELLED;
        if (phase === 'heartbeat' && isDeviceGoneError(error)) throw error;
        failures++;
        let retry = isTransientError(error);
        if (!retry && isAuthError(error)) retry = ++authFailures <= (this.options.retry?.maxAuthRetries ?? 3);
        if (!retry) {
          this.report(error as Error, phase, false, null, failures);
          throw error;
        }
        const delay = this.retryDelay(failures - 1);
        this.report(error as Error, phase, true, delay, failures);
        await this.sleep(run, delay);
      }
    }
  }

  /** Backoff for the n-th retry, capped by the heartbeat interval the server last asked for. */
  private retryDelay(n: number): number {
    const r = this.options.retry ?? {};
    const maxMs = r.maxDelayMs ?? 60_000;
    return backoffDelay(n, {
      baseMs: r.baseDelayMs ?? 1000,
      capMs: this.lastIntervalMs === null ? maxMs : Math.min(maxMs, this.lastIntervalMs),
      factor: r.factor ?? 2,
      random: this.options.random,
    });
  }

  private intervalOf(heartbeat: Heartbeat): number {
    const seconds = Number(heartbeat.next_heartbeat_in_seconds);
    if (Number.isFinite(seconds) && seconds > 0) return seconds * 1000;
    return this.lastIntervalMs ?? (this.options.fallbackIntervalSeconds ?? 30) * 1000;
  }

  /** A permanent failure: the loop ends, start() rejects, and the app hears about it. */
  private fail(run: Run, error: Error): void {
    if (!this.reported.has(error)) this.report(error, run.phase === 'starting' ? 'register' : 'heartbeat', false, null, 1);
    settleStart(run, error);
    if (this.run !== run) return;
    this.run = null;
    this.stopListeningToPage();
    this.setState('idle');
  }

  private sleep(run: Run, ms: number): Promise<void> {
    if (run.cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        if (run.wake === finish) run.wake = null;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      run.wake = finish;
    });
  }

  private async waitWhilePageHidden(run: Run): Promise<void> {
    while (run.pageHidden && !run.cancelled) {
      await new Promise<void>((resolve) => {
        run.wake = () => {
          run.wake = null;
          resolve();
        };
      });
    }
    this.checkCancelled(run);
  }

  private checkCancelled(run: Run): void {
    if (run.cancelled || this.run !== run) throw CANCELLED;
  }

  private clientOrThrow(): ComputeDevicesClient {
    if (!this.apiClient) throw new Error('computeHeartbeat lost its client');
    return this.apiClient;
  }

  // --- page lifecycle ---------------------------------------------------------------------------

  // Also during a stop(): its own deactivation may not survive the unload; a second one is harmless
  // (deactivate_device is idempotent).
  private readonly handlePageHide = (): void => {
    const run = this.run;
    if (!run) return;
    run.pageHidden = true;
    this.deactivateOnPageHide(run);
  };

  // Back from the back/forward cache: heartbeat at once. The pagehide deactivation stopped the
  // device, so that heartbeat gets 404 and the loop registers it again.
  private readonly handlePageShow = (): void => {
    const run = this.run;
    if (!run || !run.pageHidden) return;
    run.pageHidden = false;
    run.wake?.();
  };

  /**
   * The page may be going away and async work may never finish: send deactivate_device as a keepalive
   * fetch, started synchronously, with the last token the client had.
   */
  private deactivateOnPageHide(run: Run): void {
    const device = run.device;
    if (!device || !this.apiClient || this.options.deactivateOnPageHide === false) return;
    void this.apiClient.sendKeepalive('deactivate_device', { device_id: device.id }).then((ok) => {
      this.emit('deactivate', { deviceId: device.id, via: 'pagehide', ok, device: null });
      if (!ok) {
        this.report(new ComputeDevicesError({ code: ClientErrorCode.NETWORK, status: 0, message: 'the pagehide deactivation was not accepted' }), 'pagehide', false, null, 1);
      }
    });
  }

  private listenToPage(): void {
    if (this.pageTarget) return;
    const env = this.options.environment;
    const target =
      env && env.window !== undefined ? env.window : (globalThis as unknown as Partial<PageEventTarget>);
    if (!target || typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function') return;
    this.pageTarget = target as PageEventTarget;
    this.pageTarget.addEventListener('pagehide', this.handlePageHide);
    this.pageTarget.addEventListener('pageshow', this.handlePageShow);
  }

  private stopListeningToPage(): void {
    if (!this.pageTarget) return;
    this.pageTarget.removeEventListener('pagehide', this.handlePageHide);
    this.pageTarget.removeEventListener('pageshow', this.handlePageShow);
    this.pageTarget = null;
  }

  // --- events -----------------------------------------------------------------------------------

  private setState(state: HeartbeatState): void {
    const previous = this.stateValue;
    if (previous === state) return;
    this.stateValue = state;
    this.emit('state', { state, previous });
  }

  private report(error: Error, phase: HeartbeatPhase, willRetry: boolean, retryInMs: number | null, attempt: number): void {
    if (typeof error === 'object' && error !== null) this.reported.add(error);
    this.emit('error', { error, phase, willRetry, retryInMs, attempt });
  }

  private emit<K extends keyof HeartbeatEvents>(event: K, payload: HeartbeatEvents[K]): void {
    const hook = this.options[HOOKS[event]] as Listener<HeartbeatEvents[K]> | undefined;
    if (hook) {
      try {
        hook(payload);
      } catch (err) {
        reportListenerError(err);
      }
    }
    this.events.emit(event, payload);
  }
}

function newRun(): Run {
  let resolveStart!: (device: Device) => void;
  let rejectStart!: (error: Error) => void;
  const startPromise = new Promise<Device>((resolve, reject) => {
    resolveStart = resolve;
    rejectStart = reject;
  });
  // Marked handled: fire-and-forget callers get failures through 'error' instead of an unhandled
  // rejection; callers that await start() still see the rejection.
  startPromise.catch(() => {});
  return {
    phase: 'starting',
    cancelled: false,
    device: null,
    startPromise,
    resolveStart,
    rejectStart,
    startSettled: false,
    done: Promise.resolve(),
    stopPromise: null,
    wake: null,
    pageHidden: false,
  };
}

function settleStart(run: Run, outcome: Device | Error): void {
  if (run.startSettled) return;
  run.startSettled = true;
  if (outcome instanceof Error) run.rejectStart(outcome);
  else run.resolveStart(outcome);
}

/** A separate heartbeat, for apps that share more than one identity or server at once. */
export function createComputeHeartbeat(options?: HeartbeatOptions): ComputeHeartbeat {
  return new ComputeHeartbeat(options);
}

/** The seed's singleton: `computeHeartbeat.configure({ baseUrl, token }); await computeHeartbeat.start();` */
export const computeHeartbeat = new ComputeHeartbeat();
