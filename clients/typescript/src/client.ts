// The RPC client. Every call is `POST {baseUrl}/rpc/<function>` with a JSON object of named arguments,
// which is what compute-gateway, PostgREST and Supabase (`https://<project>.supabase.co/rest/v1`) all
// accept, so one client serves the three. No runtime dependencies: only `fetch`.

import { ClientErrorCode, ComputeDevicesError, ComputeDevicesNetworkError } from './errors.js';
import type {
  CapacityFilters,
  CapacityRow,
  Device,
  Heartbeat,
  Instant,
  NetworkHistoryQuery,
  NetworkHistoryRequest,
  NetworkHistoryRow,
  NetworkStats,
  NetworkStatsAtRequest,
  NetworkStatsByType,
  RegisterDeviceRequest,
  UnrecordedStats,
} from './types.js';

export type TokenValue = string | null | undefined;
/**
 * The caller's JWT, or a function that returns it (possibly async). A function is called for every
 * request, so a refreshed session token is picked up without recreating the client.
 */
export type TokenProvider = TokenValue | (() => TokenValue | Promise<TokenValue>);

/** The subset of `fetch` the client uses; inject one for tests or for runtimes without a global fetch. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /**
   * Where the RPC routes live: the server root for compute-gateway and plain PostgREST
   * (`http://127.0.0.1:3000`), `https://<project>.supabase.co/rest/v1` for Supabase.
   */
  baseUrl: string;
  /** The user's JWT (string or provider). Without one, calls run as the anonymous role. */
  token?: TokenProvider;
  /** Sent as the `apikey` header; Supabase requires it (its anon or publishable key). */
  apiKey?: string;
  /** Defaults to the global fetch. */
  fetch?: FetchLike;
  /** Extra headers for every request. */
  headers?: Record<string, string>;
  /** Abort a request that has not answered after this long (default 30000 ms; 0 = never). */
  timeoutMs?: number;
}

export interface CallOptions {
  /** Cancels the request; the call then rejects with code `ABORTED`. */
  signal?: AbortSignal;
}

/** What an RPC function answers: one row (a JSON object) or a set of rows (an array). */
type Shape = 'object' | 'array';

const DEFAULT_TIMEOUT_MS = 30_000;

export class ComputeDevicesClient {
  readonly baseUrl: string;
  private readonly options: ClientOptions;
  private readonly fetchImpl: FetchLike;
  private token: string | null;

  constructor(options: ClientOptions) {
    if (!options || typeof options.baseUrl !== 'string' || options.baseUrl.trim() === '') {
      throw new TypeError('ComputeDevicesClient needs a baseUrl, e.g. http://127.0.0.1:3000');
    }
    this.options = options;
    // Trailing slashes would give `//rpc`, which PostgREST answers with 404.
    this.baseUrl = options.baseUrl.trim().replace(/\/+$/, '');
    const f = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (typeof f !== 'function') throw new TypeError('no fetch available: pass options.fetch');
    // Bound: browsers throw "Illegal invocation" when window.fetch is called with another `this`.
    this.fetchImpl = options.fetch ? f : f.bind(globalThis);
    this.token = typeof options.token === 'string' ? options.token : null;
  }

  /**
   * The token the last request was sent with (or the static token). It is synchronously available,
   * which a `pagehide` handler needs: it cannot wait for an async token provider.
   */
  get lastToken(): string | null {
    return this.token;
  }

  /** Asks the token option for the current token (calling the provider, if it is one). */
  async getToken(): Promise<string | null> {
    const t = this.options.token;
    let value: TokenValue;
    try {
      value = typeof t === 'function' ? await t() : t;
    } catch (cause) {
      throw new ComputeDevicesError({
        code: ClientErrorCode.TOKEN,
        status: 0,
        message: `the token provider failed: ${describe(cause)}`,
        cause,
      });
    }
    this.token = value ? String(value) : null;
    return this.token;
  }

  /** The URL and request init for one RPC call; used by {@link rpc} and by keepalive requests. */
  buildRequest(fn: string, args: Record<string, unknown>, token: string | null): { url: string; init: RequestInit } {
    const headers: Record<string, string> = {
      ...this.options.headers,
      'Content-Type': 'application/json',
      Accept: 'application/json',
    };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (this.options.apiKey) headers.apikey = this.options.apiKey;
    return {
      url: `${this.baseUrl}/rpc/${encodeURIComponent(fn)}`,
      init: { method: 'POST', headers, body: JSON.stringify(args) },
    };
  }

  /**
   * Calls any RPC function. `shape` says whether it answers one row (object) or a set (array); the
   * answer is checked against it so a misrouted baseUrl fails loudly instead of returning HTML.
   */
  async rpc<T>(fn: string, args: Record<string, unknown> = {}, shape: Shape = 'object', opts: CallOptions = {}): Promise<T> {
    const token = await this.getToken();
    if (opts.signal?.aborted) {
      throw new ComputeDevicesError({ code: ClientErrorCode.ABORTED, status: 0, message: `${fn}: aborted`, rpc: fn });
    }
    const { url, init } = this.buildRequest(fn, args, token);

    const controller = new AbortController();
    let timedOut = false;
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs)
        : undefined;
    const onAbort = () => controller.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    try {
      let res: Response;
      try {
        res = await this.fetchImpl(url, { ...init, signal: controller.signal });
      } catch (cause) {
        if (timedOut) {
          throw new ComputeDevicesNetworkError({
            code: ClientErrorCode.TIMEOUT,
            message: `${fn}: no answer from ${this.baseUrl} within ${timeoutMs} ms`,
            rpc: fn,
            cause,
          });
        }
        if (controller.signal.aborted) {
          throw new ComputeDevicesError({ code: ClientErrorCode.ABORTED, status: 0, message: `${fn}: aborted`, rpc: fn, cause });
        }
        throw new ComputeDevicesNetworkError({
          code: ClientErrorCode.NETWORK,
          message: `${fn}: could not reach ${this.baseUrl} (${describe(cause)})`,
          rpc: fn,
          cause,
        });
      }

      const text = await res.text().catch(() => '');
      const body = parseJson(text);
      if (!res.ok) throw ComputeDevicesError.fromResponse(res.status, body === undefined ? text : body, fn, res.statusText);
      return checkShape<T>(fn, body, shape, res.status);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Sends an RPC call that outlives the page (`fetch` with `keepalive: true`), with the last token the
   * client had: it must start synchronously, inside a `pagehide` handler. Never rejects; resolves
   * whether the server accepted it (a page being unloaded usually never sees the answer).
   */
  sendKeepalive(fn: string, args: Record<string, unknown>): Promise<boolean> {
    const { url, init } = this.buildRequest(fn, args, this.token);
    try {
      return this.fetchImpl(url, { ...init, keepalive: true }).then(
        (res) => res.ok,
        () => false,
      );
    } catch {
      return Promise.resolve(false);
    }
  }

  /** `get_network_stats()`: the totals of the active devices. Public: no token needed. */
  getNetworkStats(opts?: CallOptions): Promise<NetworkStats> {
    return this.rpc<NetworkStats>('get_network_stats', {}, 'object', opts);
  }

  /** `get_network_stats_by_type()`: one row per device type. Public: no token needed. */
  getNetworkStatsByType(opts?: CallOptions): Promise<NetworkStatsByType[]> {
    return this.rpc<NetworkStatsByType[]>('get_network_stats_by_type', {}, 'array', opts);
  }

  /**
   * `get_capacity(...)`: the totals of the active devices that match every filter given, one row (or
   * one per group with `group_by`). Public: no token needed.
   */
  getCapacity(filters: CapacityFilters = {}, opts?: CallOptions): Promise<CapacityRow[]> {
    return this.rpc<CapacityRow[]>('get_capacity', pick(filters, CAPACITY_FILTERS), 'array', opts);
  }

  /**
   * `get_network_history(since, until, bucket, group_by)`: the network's recorded totals from the
   * bucket holding `since` to the bucket holding `until`, one row per bucket recorded in (and per
   * group) in time order, for charts. Public: no token needed. A range longer than the server keeps
   * rows of that bucket for, `since` after `until`, or an unknown bucket or group is a 400 (`22023`)
   * naming the argument.
   */
  async getNetworkHistory(query: NetworkHistoryQuery, opts?: CallOptions): Promise<NetworkHistoryRow[]> {
    const args: NetworkHistoryRequest = { since: instant(query.since, 'since'), until: instant(query.until, 'until') };
    if (query.bucket !== undefined) args.bucket = query.bucket;
    if (query.groupBy !== undefined) args.group_by = query.groupBy;
    return this.rpc<NetworkHistoryRow[]>('get_network_history', { ...args }, 'array', opts);
  }

  /**
   * `get_network_stats_at(at)`: the network's totals as recorded for the minute that holds `at`;
   * every column null for a minute nothing was recorded in. A future `at` is a 400 (`22008`), one
   * older than the server keeps minutes for a 400 (`22023`). Public: no token needed.
   */
  async getNetworkStatsAt(at: Instant, opts?: CallOptions): Promise<NetworkStats | UnrecordedStats> {
    const args: NetworkStatsAtRequest = { at: instant(at, 'at') };
    return this.rpc<NetworkStats | UnrecordedStats>('get_network_stats_at', { ...args }, 'object', opts);
  }

  /**
   * `register_device(...)`: creates or updates the caller's device of that name, and marks it active.
   * `accelerators` and `country_code` are sent only when given, so the seed's five-field call (and a
   * server without them) is unchanged; a registration states the whole inventory, so leaving
   * `accelerators` out registers none.
   */
  registerDevice(device: RegisterDeviceRequest, opts?: CallOptions): Promise<Device> {
    return this.rpc<Device>('register_device', pick(device, REGISTER_ARGUMENTS), 'object', opts);
  }

  /** `send_heartbeat(device_id)`: keeps the device active; answers when to send the next one. */
  sendHeartbeat(deviceId: string, opts?: CallOptions): Promise<Heartbeat> {
    return this.rpc<Heartbeat>('send_heartbeat', { device_id: deviceId }, 'object', opts);
  }

  /** `deactivate_device(device_id)`: stops sharing the device (idempotent). */
  deactivateDevice(deviceId: string, opts?: CallOptions): Promise<Device> {
    return this.rpc<Device>('deactivate_device', { device_id: deviceId }, 'object', opts);
  }

  /** `get_user_devices()`: the caller's devices, newest first. */
  getUserDevices(opts?: CallOptions): Promise<Device[]> {
    return this.rpc<Device[]>('get_user_devices', {}, 'array', opts);
  }
}

/** Same as `new ComputeDevicesClient(options)`. */
export function createClient(options: ClientOptions): ComputeDevicesClient {
  return new ComputeDevicesClient(options);
}

// The arguments each call sends: another key would be a 404 PGRST202 (no such overload).
const REGISTER_ARGUMENTS = [
  'device_name',
  'device_type',
  'ram_gb',
  'cpu_cores',
  'storage_gb',
  'accelerators',
  'country_code',
] as const satisfies readonly (keyof RegisterDeviceRequest)[];
const CAPACITY_FILTERS = [
  'device_types',
  'countries',
  'regions',
  'min_ram_gb',
  'min_cpu_cores',
  'min_storage_gb',
  'gpu_vendors',
  'gpu_models',
  'min_gpus',
  'min_gpu_memory_mib',
  'group_by',
  'min_uptime_7d',
] as const satisfies readonly (keyof CapacityFilters)[];

/** A time as the server reads it: a Date as ISO 8601 in UTC, a string as given. */
function instant(value: Instant, name: string): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError(`${name} is an invalid Date`);
    return value.toISOString();
  }
  return value;
}

/** The named keys of `from` that are not undefined. */
function pick<T extends object>(from: T, keys: readonly (keyof T)[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const key of keys) if (from[key] !== undefined) picked[key as string] = from[key];
  return picked;
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function checkShape<T>(fn: string, body: unknown, shape: Shape, status: number): T {
  if (shape === 'array') {
    if (Array.isArray(body)) return body as T;
  } else if (typeof body === 'object' && body !== null) {
    // A single-row function answers an object. A one-element array is accepted too, as the same row
    // wrapped by a proxy or another PostgREST-compatible server, rather than failing the call.
    if (!Array.isArray(body)) return body as T;
    if (body.length === 1 && typeof body[0] === 'object' && body[0] !== null) return body[0] as T;
  }
  throw new ComputeDevicesError({
    code: ClientErrorCode.INVALID_RESPONSE,
    status,
    message: `${fn}: expected a JSON ${shape} in the answer, got ${body === undefined ? 'no JSON' : Array.isArray(body) ? 'an array' : typeof body}; is baseUrl the RPC root?`,
    rpc: fn,
  });
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
