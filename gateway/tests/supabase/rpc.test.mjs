// Functions as RPC through the unmodified clients: each API call, and the read grammar chained
// onto function results (PostgREST docs: "Functions as RPC", filters/order/limit/select on
// table-valued functions, GET for STABLE functions, HEAD, count).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertError, assertOk, gpuTotals, ids, names, postgrest, recorder, seed, supabase, tokens } from './clients.mjs';
import { describeReadGrammar } from './grammar.mjs';

const anon = supabase();
const alice = supabase({ token: tokens.alice });
const bob = supabase({ token: tokens.bob });
const dave = supabase({ token: tokens.dave });

// What the seed's active devices add up to: every device but those their owner stopped.
const active = [...seed.alice, ...seed.bob].filter((device) => !device.deactivated);
const sum = (devices, key) => devices.reduce((total, device) => total + device[key], 0);
const types = ['phone', 'laptop', 'desktop', 'server'];

async function computeScoreOfActiveDevices() {
  let total = 0;
  for (const client of [alice, bob]) {
    const { data } = await client.rpc('get_user_devices');
    total += data.filter((device) => device.is_active).reduce((t, device) => t + device.compute_score, 0);
  }
  return total;
}

describe('every plain call', () => {
  it('get_network_stats with the anon key, POST and GET', async () => {
    const expected = {
      active_nodes: active.length,
      total_ram_gb: sum(active, 'ram_gb'),
      total_cpu_cores: sum(active, 'cpu_cores'),
      total_storage_gb: sum(active, 'storage_gb'),
      ...gpuTotals(active),
    };
    const score = await computeScoreOfActiveDevices();
    for (const result of [await anon.rpc('get_network_stats'), await anon.rpc('get_network_stats', {}, { get: true })]) {
      assertOk(result);
      assert.deepEqual(Object.keys(result.data).sort(), [...Object.keys(expected), 'total_compute_score'].sort());
      const { total_compute_score, ...totals } = result.data;
      assert.deepEqual(totals, expected);
      assert.ok(Math.abs(total_compute_score - score) < 1e-6, `${total_compute_score} != ${score}`);
    }
  });

  it('get_network_stats_by_type with the anon key: one row per type, in the CHECK’s order', async () => {
    for (const result of [await anon.rpc('get_network_stats_by_type'), await anon.rpc('get_network_stats_by_type', {}, { get: true })]) {
      assertOk(result);
      assert.deepEqual(result.data.map((row) => row.device_type), types);
      for (const row of result.data) {
        const of = active.filter((device) => device.device_type === row.device_type);
        assert.equal(row.active_nodes, of.length, row.device_type);
        assert.equal(row.total_ram_gb, sum(of, 'ram_gb'), row.device_type);
        assert.equal(row.total_cpu_cores, sum(of, 'cpu_cores'), row.device_type);
        assert.equal(row.total_storage_gb, sum(of, 'storage_gb'), row.device_type);
        assert.deepEqual(
          { total_gpus: row.total_gpus, total_gpu_memory_gb: row.total_gpu_memory_gb },
          gpuTotals(of),
          row.device_type,
        );
      }
    }
  });

  it('get_user_devices: the caller’s own devices, newest first, without the internal slot', async () => {
    for (const result of [await alice.rpc('get_user_devices'), await alice.rpc('get_user_devices', {}, { get: true })]) {
      assertOk(result);
      assert.deepEqual(
        result.data.map((row) => row.device_name),
        seed.alice.map((device) => device.device_name).reverse(),
      );
      for (const row of result.data) {
        assert.equal(row.user_id, ids.alice);
        assert.ok(!('slot' in row), JSON.stringify(row));
      }
    }
    const bobs = await bob.rpc('get_user_devices');
    assertOk(bobs);
    assert.deepEqual(names(bobs.data), ['bob-desktop']);
    const daves = await dave.rpc('get_user_devices');
    assertOk(daves);
    assert.deepEqual(daves.data, []);
  });

  it('postgrest-js at the gateway’s root, with no token: the public totals', async () => {
    const result = await postgrest().rpc('get_network_stats');
    assertOk(result);
    assert.equal(result.data.active_nodes, active.length);
  });
});

describe('the read grammar on a function returning one row (get_network_stats)', () => {
  it('select keeps only the columns named (POST)', async () => {
    const result = await anon.rpc('get_network_stats').select('active_nodes');
    assertOk(result);
    assert.deepEqual(result.data, { active_nodes: active.length });
  });

  it('select keeps only the columns named (GET)', async () => {
    const result = await anon.rpc('get_network_stats', {}, { get: true }).select('active_nodes,total_cpu_cores');
    assertOk(result);
    assert.deepEqual(result.data, { active_nodes: active.length, total_cpu_cores: sum(active, 'cpu_cores') });
  });

  it('single returns the object', async () => {
    const result = await anon.rpc('get_network_stats').single();
    assertOk(result);
    assert.equal(result.data.active_nodes, active.length);
  });

  it('count exact counts its one row', async () => {
    const record = recorder();
    const result = await supabase({ record }).rpc('get_network_stats', {}, { get: true, count: 'exact' });
    assertOk(result);
    assert.equal(result.count, 1);
    assert.equal(record.last.headers.get('content-range'), '0-0/1');
    assert.equal(result.data.active_nodes, active.length);
  });

  it('head: 200 and no body', async () => {
    const record = recorder();
    const result = await supabase({ record }).rpc('get_network_stats', {}, { head: true });
    assertOk(result);
    assert.equal(record.last.method, 'HEAD');
    assert.equal(result.data, null);
  });
});

describe('the read grammar on get_network_stats_by_type', () => {
  const byType = (options) => anon.rpc('get_network_stats_by_type', {}, options);
  const typesOf = (result) => {
    assertOk(result);
    return result.data.map((row) => row.device_type);
  };

  it('eq keeps one type (POST and GET)', async () => {
    assert.deepEqual(typesOf(await byType().eq('device_type', 'laptop')), ['laptop']);
    assert.deepEqual(typesOf(await byType({ get: true }).eq('device_type', 'laptop')), ['laptop']);
  });

  it('gt, in and not filter the rows', async () => {
    assert.deepEqual(typesOf(await byType().gt('active_nodes', 0)).sort(), ['desktop', 'laptop', 'server']);
    assert.deepEqual(typesOf(await byType().in('device_type', ['phone', 'server'])).sort(), ['phone', 'server']);
    assert.deepEqual(typesOf(await byType().not('device_type', 'in', '(phone,server)')).sort(), ['desktop', 'laptop']);
  });

  it('order and limit pick the top row', async () => {
    const top = await byType().order('total_ram_gb', { ascending: false }).limit(1);
    assert.deepEqual(typesOf(top), ['server']);
    assert.deepEqual(typesOf(await byType().order('device_type')), ['desktop', 'laptop', 'phone', 'server']);
    assert.deepEqual(typesOf(await byType({ get: true }).order('device_type', { ascending: false }).limit(2)), ['server', 'phone']);
    assert.deepEqual(typesOf(await byType().order('device_type').range(1, 2)), ['laptop', 'phone']);
  });

  it('select with single', async () => {
    const result = await byType().select('device_type,active_nodes').eq('device_type', 'server').single();
    assertOk(result);
    assert.deepEqual(result.data, { device_type: 'server', active_nodes: 1 });
  });

  it('count exact and head', async () => {
    const counted = await byType({ count: 'exact' }).gt('active_nodes', 0);
    assertOk(counted);
    assert.equal(counted.count, 3);
    const head = await byType({ head: true, count: 'exact' });
    assertOk(head);
    assert.equal(head.data, null);
    assert.equal(head.count, types.length);
  });
});

{
  const record = recorder();
  const client = supabase({ token: tokens.alice, record });
  describeReadGrammar(
    'supabase-js: get_user_devices by POST',
    ({ columns, count, head }) => {
      const query = client.rpc('get_user_devices', {}, { count, head });
      return columns ? query.select(columns) : query;
    },
    record,
  );
}

{
  const record = recorder();
  const client = supabase({ token: tokens.alice, record });
  describeReadGrammar(
    'supabase-js: get_user_devices by GET',
    ({ columns, count, head }) => {
      const query = client.rpc('get_user_devices', {}, { get: true, count, head });
      return columns ? query.select(columns) : query;
    },
    record,
  );
}

{
  const record = recorder();
  const client = postgrest({ token: tokens.alice, record });
  describeReadGrammar(
    'postgrest-js at the root: get_user_devices by POST',
    ({ columns, count, head }) => {
      const query = client.rpc('get_user_devices', {}, { count, head });
      return columns ? query.select(columns) : query;
    },
    record,
  );
}
