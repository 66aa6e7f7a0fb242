// The network's recorded history through the unmodified clients and the package's own client:
// `get_network_history` and `get_network_stats_at` with the anon key by POST and GET, the read
// grammar over the rows, and their errors. The launcher (gateway/tests/supabase_clients.rs) wrote
// a day of minutes into the history, ending an hour before the tests, with two hours missing
// (the server was down), and the month of hours before it: `history` in clients.mjs describes
// them (minute i has a = 10 + i % 7 active devices of 16 GB, 4 cores, 100 GB and a GPU of 8 GiB
// each; a / 2 phones and the rest laptops).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertError, assertOk, history, postgrest, supabase, url } from './clients.mjs';

const anon = supabase();
const { since, until } = history;
/** The last minute written: the hour holding it has no minute of the worker's. */
const last = new Date(Date.parse(since) + 1439 * 60e3).toISOString();

/** The function by POST and by GET: both answers, checked to be the same. */
async function rows(args) {
  const byPost = await anon.rpc('get_network_history', args);
  assertOk(byPost);
  const byGet = await anon.rpc('get_network_history', args, { get: true });
  assertOk(byGet);
  assert.deepEqual(byGet.data, byPost.data);
  return byPost.data;
}

const minuteOf = (row) => (Date.parse(row.bucket_start) - Date.parse(since)) / 60e3;

describe('get_network_history', () => {
  it('a day of minutes: one row a minute recorded, in time order, the gap left out', async () => {
    const answer = await rows({ since, until });
    const expected = history.minutes();
    assert.deepEqual(
      answer.map((row) => [minuteOf(row), row.group_key, row.active_nodes, row.active_nodes_min, row.active_nodes_max]),
      expected.map((minute) => [minute.i, null, minute.active, minute.active, minute.active]),
    );
    for (const [row, minute] of answer.map((row, n) => [row, expected[n]])) {
      assert.deepEqual(
        [row.total_ram_gb, row.total_cpu_cores, row.total_storage_gb, row.total_gpus, row.total_gpu_memory_gb],
        [minute.active * 16, minute.active * 4, minute.active * 100, minute.active, minute.active * 8],
      );
    }
    // '1 minute' is the default.
    assert.deepEqual(await rows({ since, until, bucket: '1 minute' }), answer);
  });

  it('by the hour: the minutes averaged, with their low and high', async () => {
    const answer = await rows({ since, until: last, bucket: '1 hour' });
    const hours = new Map();
    for (const minute of history.minutes()) {
      const hour = Math.floor(minute.at / 3600e3) * 3600e3;
      hours.set(hour, [...(hours.get(hour) ?? []), minute.active]);
    }
    assert.deepEqual(
      answer.map((row) => [Date.parse(row.bucket_start), row.active_nodes_min, row.active_nodes_max]),
      [...hours].map(([hour, actives]) => [hour, Math.min(...actives), Math.max(...actives)]),
    );
    for (const row of answer) {
      const actives = hours.get(Date.parse(row.bucket_start));
      const mean = actives.reduce((sum, n) => sum + n, 0) / actives.length;
      assert.ok(Math.abs(row.active_nodes - mean) < 0.01, `${row.bucket_start}: ${row.active_nodes} vs ${mean}`);
    }
  });

  it('grouped by device type: the groups add up to the network', async () => {
    const overall = await rows({ since, until });
    const grouped = await rows({ since, until, group_by: 'device_type' });
    const sums = new Map();
    for (const row of grouped) {
      assert.ok(['phone', 'laptop', 'desktop', 'server'].includes(row.group_key), row.group_key);
      sums.set(row.bucket_start, (sums.get(row.bucket_start) ?? 0) + row.active_nodes);
    }
    assert.deepEqual(
      [...sums],
      overall.map((row) => [row.bucket_start, row.active_nodes]),
    );
  });

  it('the read grammar over its rows, as the live page asks', async () => {
    const result = await anon
      .rpc('get_network_history', { since, until }, { get: true })
      .select('bucket_start,active_nodes')
      .order('bucket_start', { ascending: false })
      .limit(3);
    assertOk(result);
    const newest = history.minutes().slice(-3).reverse();
    assert.deepEqual(
      result.data.map((row) => [minuteOf(row), row.active_nodes]),
      newest.map((minute) => [minute.i, minute.active]),
    );
  });

  it('postgrest-js at the root, no token', async () => {
    const result = await postgrest().rpc('get_network_history', { since, until, bucket: '1 day' });
    assertOk(result);
    assert.ok(result.data.length >= 1 && result.data.length <= 2, JSON.stringify(result.data));
  });

  it('bad input is 400 naming the argument, by POST and GET', async () => {
    for (const [args, code, named] of [
      [{ since: until, until: since }, '22023', /since/],
      [{ since, until, bucket: '2 minutes' }, '22023', /bucket/],
      [{ since, until, group_by: 'country' }, '22023', /group_by/],
      [{ since: '2000-01-01T00:00:00Z', until }, '22023', /retention/],
      [{ since: 'the day before', until }, '22007', /the day before/],
    ]) {
      for (const options of [{}, { get: true }]) {
        const result = await anon.rpc('get_network_history', args, options);
        assertError(result, 400, { code });
        assert.match(result.error.message, named, JSON.stringify(args));
      }
    }
  });
});

describe('get_network_stats_at', () => {
  it('the totals recorded for the minute holding `at`, as get_network_stats names them', async () => {
    const minute = history.minutes().find((m) => m.i === 100);
    const at = new Date(minute.at + 30e3).toISOString();
    const byPost = await anon.rpc('get_network_stats_at', { at });
    assertOk(byPost);
    const byGet = await anon.rpc('get_network_stats_at', { at }, { get: true });
    assertOk(byGet);
    assert.deepEqual(byGet.data, byPost.data);
    const now = (await anon.rpc('get_network_stats')).data;
    assert.deepEqual(Object.keys(byPost.data), Object.keys(now));
    assert.equal(byPost.data.active_nodes, minute.active);
    assert.equal(byPost.data.total_ram_gb, minute.active * 16);
    assert.equal(byPost.data.total_gpus, minute.active);
  });

  it('a minute nothing was recorded in: every column null', async () => {
    const at = new Date(Date.parse(since) + 650 * 60e3).toISOString();
    const result = await anon.rpc('get_network_stats_at', { at }, { get: true });
    assertOk(result);
    assert.ok(Object.values(result.data).every((value) => value === null), JSON.stringify(result.data));
  });

  it('a future `at` is 22008, one older than the minutes are kept 22023, a time that is not one 22007', async () => {
    for (const [at, code, named] of [
      ['2999-01-01T00:00:00Z', '22008', /^at is in the future/],
      ['2000-01-01T00:00:00Z', '22023', /^at is older than compute_devices.history_retention/],
      ['noon', '22007', /noon/],
    ]) {
      for (const options of [{}, { get: true }]) {
        const result = await anon.rpc('get_network_stats_at', { at }, options);
        assertError(result, 400, { code });
        assert.match(result.error.message, named);
      }
    }
  });
});

describe('the TypeScript client', async () => {
  let client;
  try {
    client = await import('../../../clients/typescript/dist/index.js');
  } catch (error) {
    throw new Error(`build the client first (cd clients/typescript && npm run build): ${error.message}`);
  }
  const api = client.createClient({ baseUrl: url });

  it('getNetworkHistory: the rows supabase-js gets, Dates or strings', async () => {
    const expected = await rows({ since, until: last, bucket: '1 hour', group_by: 'device_type' });
    assert.deepEqual(
      await api.getNetworkHistory({ since: new Date(since), until: new Date(last), bucket: '1 hour', groupBy: 'device_type' }),
      expected,
    );
    assert.deepEqual(await api.getNetworkHistory({ since, until }), await rows({ since, until }));
  });

  it('getNetworkStatsAt, and its errors as ComputeDevicesError', async () => {
    const minute = history.minutes().find((m) => m.i === 1000);
    const stats = await api.getNetworkStatsAt(new Date(minute.at));
    assert.equal(stats.active_nodes, minute.active);
    await assert.rejects(api.getNetworkStatsAt(new Date(Date.now() + 3600e3)), (error) => {
      assert.ok(error instanceof client.ComputeDevicesError);
      assert.deepEqual([error.status, error.code], [400, '22008']);
      return true;
    });
    await assert.rejects(api.getNetworkHistory({ since: until, until: since }), { status: 400, code: '22023' });
  });
});
