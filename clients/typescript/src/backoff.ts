// Retry delays: exponential growth so a struggling server is not hammered, jitter so that many
// browsers that failed together (a gateway restart) do not all come back in the same instant, and a
// cap so a device never stays silent longer than the heartbeat interval the server asked for.

export interface BackoffOptions {
  /** First delay before jitter, in ms. */
  baseMs: number;
  /** Largest delay, in ms (the caller passes min(its own maximum, the last heartbeat interval)). */
  capMs: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Uniform random in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry): "equal jitter", i.e. half of the
 * exponential step for sure plus a random share of the other half. Unlike full jitter it never
 * retries at once, and it stays within [step/2, step] where step = min(cap, base * factor^attempt).
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const factor = opts.factor ?? 2;
  const random = opts.random ?? Math.random;
  const cap = Math.max(0, opts.capMs);
  const step = Math.min(cap, opts.baseMs * Math.pow(factor, Math.max(0, attempt)));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(step / 2 + (step / 2) * r);
}
