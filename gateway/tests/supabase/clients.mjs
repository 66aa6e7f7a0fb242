// The clients as an app builds them, pointed at the gateway the launcher started
// (gateway/tests/supabase_clients.rs passes its address and the keys in the environment).
import { createClient } from '@supabase/supabase-js';
import { PostgrestClient } from '@supabase/postgrest-js';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through gateway/tests/supabase_clients.rs`);
  return value;
}

/** The gateway's address: supabase-js adds /rest/v1, postgrest-js speaks to it as to PostgREST. */
export const url = required('GATEWAY_URL');
/** A JWT with `role: anon`, signed with the gateway's secret, as Supabase's anon key is. */
export const anonKey = required('ANON_KEY');
/** Signed-in users' tokens (role authenticated): alice and bob own the seed's devices, carol
 * registers hers in the tests, dave never has any. */
export const tokens = {
  alice: required('ALICE_TOKEN'),
  bob: required('BOB_TOKEN'),
  carol: required('CAROL_TOKEN'),
  dave: required('DAVE_TOKEN'),
  /** role service_role, as Supabase's service key. */
  service: required('SERVICE_ROLE_KEY'),
  /** alice's, expired an hour ago. */
  expired: required('EXPIRED_TOKEN'),
};
export const ids = { alice: required('ALICE_ID'), carol: required('CAROL_ID') };

/** The devices the launcher registered, per user (seed.json). */
export const seed = JSON.parse(readFileSync(new URL('./seed.json', import.meta.url), 'utf8'));

/** The day of minutes the launcher wrote into the history (write_history in
 * gateway/tests/common/mod.rs): from HISTORY_SINCE, 1440 minutes but for minutes 600 to 719
 * (the server was down); minute i has `10 + i % 7` active devices. */
export const history = {
  since: required('HISTORY_SINCE'),
  get until() {
    return new Date(Date.parse(this.since) + 1440 * 60e3).toISOString();
  },
  /** The minutes written: { i, at (ms), active }. */
  minutes() {
    const start = Date.parse(this.since);
    const minutes = [];
    for (let i = 0; i < 1440; i++) {
      if (i >= 600 && i < 720) continue;
      minutes.push({ i, at: start + i * 60e3, active: 10 + (i % 7) });
    }
    return minutes;
  },
};

/** What devices' accelerators add up to, as the totals count them: how many, and their memory
 * in GB (`memory_mib × count` / 1024). */
export function gpuTotals(devices) {
  const groups = devices.flatMap((device) => device.accelerators ?? []);
  return {
    total_gpus: groups.reduce((total, group) => total + group.count, 0),
    total_gpu_memory_gb: groups.reduce((total, group) => total + group.memory_mib * group.count, 0) / 1024,
  };
}

/** A fetch that keeps each exchange, for what the clients do not expose (Content-Range,
 * WWW-Authenticate, the request's own headers). */
export function recorder() {
  const exchanges = [];
  return {
    exchanges,
    get last() {
      return exchanges.at(-1);
    },
    fetch: async (input, init = {}) => {
      const response = await fetch(input, init);
      exchanges.push({
        method: init.method ?? 'GET',
        url: String(input),
        requestHeaders: new Headers(init.headers),
        status: response.status,
        headers: response.headers,
      });
      return response;
    },
  };
}

/** supabase-js with the anon key, and a signed-in user's token when given (Supabase's
 * `accessToken` option, as with a third-party auth provider). */
export function supabase({ token, schema, record } = {}) {
  const options = {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: record ? { fetch: record.fetch } : {},
  };
  if (schema) options.db = { schema };
  if (token) options.accessToken = async () => token;
  return createClient(url, anonKey, options);
}

/** postgrest-js on its own, at the gateway's root as at PostgREST's; no token is anonymous. */
export function postgrest({ token, schema, record } = {}) {
  return new PostgrestClient(url, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    schema,
    fetch: record?.fetch,
  });
}

/** Device rows without the health figures that move with the clock alone (a stopped device's
 * uptime falls as time passes): what a failed call must leave as it was. */
export function withoutClock(devices) {
  return devices.map(({ uptime_1d, uptime_7d, health_score, ...device }) => device);
}

/** Device names of rows, sorted: for answers whose order the request leaves open. */
export function names(rows) {
  assert.ok(Array.isArray(rows), `an array of rows, got ${JSON.stringify(rows)}`);
  return rows.map((row) => row.device_name).sort();
}

/** Asserts a failed call as the client reports it: HTTP status, no data, and PostgREST's
 * error body field by field (`error` gives the fields to compare; all four when complete). */
export function assertError(result, status, error) {
  assert.equal(result.status, status, `status of ${JSON.stringify(result)}`);
  assert.equal(result.data, null);
  assert.ok(result.error, `an error in ${JSON.stringify(result)}`);
  const reported = Object.fromEntries(Object.keys(error).map((key) => [key, result.error[key]]));
  assert.deepEqual(reported, error);
}

/** Asserts a successful call: 200 (or `status`) and no error. */
export function assertOk(result, status = 200) {
  assert.equal(result.error, null, `error: ${JSON.stringify(result.error)}`);
  assert.equal(result.status, status, `status of ${JSON.stringify(result)}`);
}
