// One error type for everything the package throws, so callers branch on `code` and `status` instead
// of parsing messages. Server errors keep the server's code (a SQLSTATE such as 42P01, or a PostgREST
// code such as PGRST301); failures that never got an HTTP answer have status 0 and a code of our own.

import type { PostgrestErrorBody } from './types.js';

/** Codes of the errors this package raises itself (the server's codes are SQLSTATEs or PGRSTxxx). */
export const ClientErrorCode = {
  /** fetch itself failed: DNS, refused connection, CORS refusal, offline. Status 0. */
  NETWORK: 'NETWORK_ERROR',
  /** No answer within the client's `timeoutMs`. Status 0. */
  TIMEOUT: 'TIMEOUT',
  /** Cancelled by the caller's AbortSignal, or a heartbeat start cancelled by stop(). Status 0. */
  ABORTED: 'ABORTED',
  /** A 2xx answer whose body is not the JSON the function returns (a wrong baseUrl, usually). */
  INVALID_RESPONSE: 'INVALID_RESPONSE',
  /** An error status without PostgREST's JSON error body (a proxy's HTML 502, say). */
  HTTP: 'HTTP_ERROR',
  /** The token provider threw. Status 0; treated like a 401 (ask again, then give up). */
  TOKEN: 'TOKEN_ERROR',
  /** computeHeartbeat.start() before configure(). Status 0. */
  NOT_CONFIGURED: 'NOT_CONFIGURED',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export interface ComputeDevicesErrorInit {
  code: string;
  status: number;
  message: string;
  details?: string | null;
  hint?: string | null;
  /** The RPC function the call was for, when there was one. */
  rpc?: string | null;
  cause?: unknown;
}

/** An error from the server (HTTP status and its code) or from the client (status 0). */
export class ComputeDevicesError extends Error {
  /** SQLSTATE (e.g. `42P01`), PostgREST code (e.g. `PGRST301`) or a {@link ClientErrorCode}. */
  readonly code: string;
  /** HTTP status; 0 when no HTTP answer was received. */
  readonly status: number;
  readonly details: string | null;
  readonly hint: string | null;
  readonly rpc: string | null;

  constructor(init: ComputeDevicesErrorInit) {
    super(init.message);
    this.name = 'ComputeDevicesError';
    this.code = init.code;
    this.status = init.status;
    this.details = init.details ?? null;
    this.hint = init.hint ?? null;
    this.rpc = init.rpc ?? null;
    // Set by hand: the ES2022 `cause` constructor option is not honoured by every runtime we target.
    if (init.cause !== undefined) (this as { cause?: unknown }).cause = init.cause;
  }

  /** Builds the error for a non-2xx answer from PostgREST's `{code, message, details, hint}` body. */
  static fromResponse(status: number, body: unknown, rpc?: string, statusText = ''): ComputeDevicesError {
    const b = isErrorBody(body) ? body : null;
    const code = b?.code ? String(b.code) : ClientErrorCode.HTTP;
    const message =
      b?.message ? String(b.message) : `HTTP ${status}${statusText ? ` ${statusText}` : ''}${rpc ? ` from ${rpc}` : ''}`;
    return new ComputeDevicesError({
      code,
      status,
      message,
      details: b?.details ?? (typeof body === 'string' && body ? body.slice(0, 500) : null),
      hint: b?.hint ?? null,
      rpc: rpc ?? null,
    });
  }
}

/** The request never got an HTTP answer (network failure or timeout): status 0. */
export class ComputeDevicesNetworkError extends ComputeDevicesError {
  constructor(init: Omit<ComputeDevicesErrorInit, 'status'> & { code: typeof ClientErrorCode.NETWORK | typeof ClientErrorCode.TIMEOUT }) {
    super({ ...init, status: 0 });
    this.name = 'ComputeDevicesNetworkError';
  }
}

function isErrorBody(body: unknown): body is PostgrestErrorBody {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && ('code' in body || 'message' in body);
}

export function isComputeDevicesError(err: unknown): err is ComputeDevicesError {
  return err instanceof ComputeDevicesError;
}

/**
 * Worth retrying as is: no answer at all, a server-side failure (5xx: 503 PGRST001 database
 * unreachable, 53000 out of slots, 504 timeout), 408 or 429.
 */
export function isTransientError(err: unknown): boolean {
  if (!(err instanceof ComputeDevicesError)) return false;
  if (err.code === ClientErrorCode.NETWORK || err.code === ClientErrorCode.TIMEOUT) return true;
  return err.status >= 500 || err.status === 408 || err.status === 429;
}

/**
 * A token problem: 401 (PGRST301/PGRST303, or 42501 when no usable token reached the database), or
 * the token provider itself failing.
 */
export function isAuthError(err: unknown): boolean {
  return err instanceof ComputeDevicesError && (err.status === 401 || err.code === ClientErrorCode.TOKEN);
}

/**
 * The server no longer has this device for the caller: unknown, not the caller's, or stopped by its
 * owner (404 with SQLSTATE 42P01). The server's hint says what to do: register it again.
 * PostgREST's own 404 (PGRST202, unknown function) is not this.
 */
export function isDeviceGoneError(err: unknown): boolean {
  return err instanceof ComputeDevicesError && err.status === 404 && err.code === '42P01';
}
