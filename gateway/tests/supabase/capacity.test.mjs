// Capacity filtered by capability through the unmodified clients: `get_capacity` with the anon key
// by POST (lists as JSON arrays) and GET (postgrest-js writes a list as `{a,b}`), grouped, with the
// read grammar over its rows, and its errors; registration with accelerators and a country.
// The seed's active devices: alice-laptop (no country, no accelerator), alice-server (DE, 4 A100
// 80 GB) and bob-desktop (US, an RTX 4090 24 GB); alice-phone (FR, an Adreno) is stopped.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertError, assertOk, gpuTotals, postgrest, seed, supabase, tokens, withoutClock } from './clients.mjs';

const anon = supabase();
const carol = supabase({ token: tokens.carol });
const active = [...seed.alice, ...seed.bob].filter((device) => !device.deactivated);

/** get_capacity by POST and by GET: both answers, checked to be the same. */
async function capacity(filters) {
  const byPost = await anon.rpc('get_capacity', filters);
  assertOk(byPost);
  const byGet = await anon.rpc('get_capacity', filters, { get: true });
  assertOk(byGet);
  assert.deepEqual(byGet.data, byPost.data);
  return byPost.data;
}

/** (group_key, active_nodes, total_gpus, total_gpu_memory_gb) of each row. */
const counts = (rows) => rows.map((row) => [row.group_key, row.active_nodes, row.total_gpus, row.total_gpu_memory_gb]);

describe('get_capacity', () => {
  it('without filters: one row of every active device, as get_network_stats counts them', async () => {
    const rows = await capacity({});
    assert.equal(rows.length, 1);
    const { group_key, ...columns } = rows[0];
    assert.equal(group_key, null);
    const stats = (await anon.rpc('get_network_stats')).data;
    // The totals first, in get_network_stats' order; then the reliability-weighted columns (0.7.0).
    const totals = Object.fromEntries(Object.entries(columns).slice(0, Object.keys(stats).length));
    assert.deepEqual(totals, stats);
    assert.deepEqual(Object.keys(columns).slice(Object.keys(stats).length), [
      'expected_nodes',
      'expected_ram_gb',
      'expected_cpu_cores',
      'expected_gpus',
      'p95_floor_nodes',
      'p95_floor_gpus',
    ]);
    assert.deepEqual(
      { total_gpus: totals.total_gpus, total_gpu_memory_gb: totals.total_gpu_memory_gb },
      gpuTotals(active),
    );
  });

  it('filters, lists as arrays', async () => {
    for (const [filters, expected] of [
      [{ countries: ['de', 'US'], gpu_vendors: ['nvidia'], min_gpu_memory_mib: 40000 }, [null, 1, 4, 320]],
      [{ regions: ['Americas'] }, [null, 1, 1, 24]],
      [{ regions: ['Western Europe'], device_types: ['server', 'desktop'] }, [null, 1, 4, 320]],
      [{ gpu_models: ['GeForce RTX 4090', 'a100-80gb-pcie'], min_gpus: 2 }, [null, 1, 4, 320]],
      [{ min_ram_gb: 16, min_cpu_cores: 16, min_storage_gb: 1000.5 }, [null, 1, 4, 320]],
      [{ device_types: ['phone'] }, [null, 0, 0, 0]],
    ]) {
      assert.deepEqual(counts(await capacity(filters)), [expected], JSON.stringify(filters));
    }
  });

  it('grouped: one row per group, ordered by key, no key last', async () => {
    assert.deepEqual(counts(await capacity({ group_by: 'gpu_model' })), [
      ['a100-80gb-pcie', 1, 4, 320],
      ['geforce-rtx-4090', 1, 1, 24],
      [null, 1, 0, 0],
    ]);
    assert.deepEqual(counts(await capacity({ group_by: 'region' })), [
      ['Americas', 1, 1, 24],
      ['Europe', 1, 4, 320],
      [null, 1, 0, 0],
    ]);
    assert.deepEqual(counts(await capacity({ group_by: 'country', gpu_vendors: ['nvidia'] })), [
      ['DE', 1, 4, 320],
      ['US', 1, 1, 24],
    ]);
  });

  it('the read grammar over its rows', async () => {
    const rows = await anon
      .rpc('get_capacity', { group_by: 'device_type' })
      .select('group_key,active_nodes')
      .gt('total_gpus', 0)
      .order('group_key', { ascending: false });
    assertOk(rows);
    assert.deepEqual(rows.data, [
      { group_key: 'server', active_nodes: 1 },
      { group_key: 'desktop', active_nodes: 1 },
    ]);
    const one = await anon.rpc('get_capacity', { group_by: 'device_type' }, { get: true }).eq('group_key', 'laptop').single();
    assertOk(one);
    assert.deepEqual([one.data.active_nodes, one.data.total_gpus], [1, 0]);
  });

  it('min_uptime_7d (0.7.0): a subset of the devices, each column a number', async () => {
    const [all] = await capacity({});
    for (const min_uptime_7d of [0, 0.5, 1]) {
      const [row] = await capacity({ min_uptime_7d });
      assert.ok(row.active_nodes <= all.active_nodes, JSON.stringify(row));
      assert.ok(row.expected_nodes <= all.expected_nodes, JSON.stringify(row));
      for (const value of Object.values(row).slice(1)) assert.equal(typeof value, 'number', JSON.stringify(row));
    }
  });

  it('postgrest-js at the root, no token', async () => {
    const result = await postgrest().rpc('get_capacity', { countries: ['US'] });
    assertOk(result);
    assert.deepEqual(counts(result.data), [[null, 1, 1, 24]]);
  });

  it('a bad filter is 400 naming the argument', async () => {
    for (const [filters, code, named] of [
      [{ countries: ['XX'] }, '22023', 'countries'],
      [{ regions: ['Atlantis'] }, '22023', 'regions'],
      [{ gpu_vendors: ['3dfx'] }, '22023', 'gpu_vendors'],
      [{ group_by: 'colour' }, '22023', 'group_by'],
      [{ min_gpus: -1 }, '22003', 'min_gpus'],
      [{ countries: Array(101).fill('DE') }, '22023', 'countries'],
      [{ min_uptime_7d: 1.5 }, '22023', 'min_uptime_7d'],
    ]) {
      for (const options of [{}, { get: true }]) {
        const result = await anon.rpc('get_capacity', filters, options);
        assertError(result, 400, { code });
        assert.match(result.error.message, new RegExp(named), JSON.stringify(filters));
      }
    }
  });
});

describe('register_device with accelerators and a country', () => {
  const spec = {
    device_name: 'carol-gpu-server',
    device_type: 'server',
    ram_gb: 512,
    cpu_cores: 96,
    storage_gb: 8000,
    accelerators: [{ vendor: 'amd', product_name: 'AMD Instinct MI300X', memory_mib: 196608, count: 8 }],
    country_code: 'se',
  };

  it('registers them, counts them, and stops counting them when stopped', async () => {
    const result = await carol.rpc('register_device', spec);
    assertOk(result);
    const device = result.data;
    assert.deepEqual(device.accelerators, [{ ...spec.accelerators[0], model: 'instinct-mi300x' }]);
    assert.deepEqual([device.country_code, device.region, device.subregion], ['SE', 'Europe', 'Northern Europe']);
    assert.deepEqual(counts(await capacity({ countries: ['SE'] })), [[null, 1, 8, 1536]]);
    assertOk(await carol.rpc('deactivate_device', { device_id: device.id }));
    assert.deepEqual(counts(await capacity({ countries: ['SE'] })), [[null, 0, 0, 0]]);
  });

  it('refuses bad ones by their path, and changes nothing', async () => {
    const before = withoutClock((await carol.rpc('get_user_devices')).data);
    const bad = { vendor: 'nvidia', product_name: 'NVIDIA H100', memory_mib: 81920, count: 1 };
    for (const [args, code, starts] of [
      [{ accelerators: [bad, { ...bad, vendor: 'cyrix' }] }, '22023', 'accelerators[1].vendor'],
      [{ accelerators: [{ ...bad, count: 65 }] }, '22003', 'accelerators[0].count'],
      [{ accelerators: [bad, bad] }, '22023', 'accelerators[1]'],
      [{ country_code: 'XX' }, '22023', 'country_code'],
    ]) {
      const result = await carol.rpc('register_device', { ...spec, device_name: 'carol-refused', ...args });
      assertError(result, 400, { code });
      assert.ok(result.error.message.startsWith(starts), result.error.message);
    }
    assert.deepEqual(withoutClock((await carol.rpc('get_user_devices')).data), before);
  });
});
