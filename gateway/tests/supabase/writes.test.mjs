// The writing calls through the unmodified clients, as a device's app makes them: carol
// registers a device, beats, reads it back live, and stops it again, so the network's totals
// end as they began. Service-role batches use Supabase's service key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertError, assertOk, ids, supabase, tokens } from './clients.mjs';

const carol = supabase({ token: tokens.carol });
const anon = supabase();
const spec = { device_name: 'carol-desktop', device_type: 'desktop', ram_gb: 12.5, cpu_cores: 6, storage_gb: 256.25 };

describe('register, beat, read live, deactivate', () => {
  let device;
  let deactivated;
  let baseline;

  it('the totals before', async () => {
    baseline = (await anon.rpc('get_network_stats')).data;
    assert.equal(typeof baseline?.active_nodes, 'number');
  });

  it('register_device returns the new row, numbers as written', async () => {
    const result = await carol.rpc('register_device', spec);
    assertOk(result);
    device = result.data;
    assert.ok(!Array.isArray(device));
    assert.equal(device.user_id, ids.carol);
    for (const [key, value] of Object.entries(spec)) assert.equal(device[key], value, key);
    assert.equal(device.is_active, true);
    assert.equal(device.deactivated_at, null);
    const stats = (await anon.rpc('get_network_stats')).data;
    assert.equal(stats.active_nodes, baseline.active_nodes + 1);
    assert.equal(stats.total_ram_gb, baseline.total_ram_gb + spec.ram_gb);
  });

  it('register_device again under the same name updates it, with select on the result', async () => {
    const result = await carol.rpc('register_device', { ...spec, cpu_cores: 12 }).select('id,cpu_cores');
    assertOk(result);
    assert.deepEqual(result.data, { id: device.id, cpu_cores: 12 });
  });

  it('send_heartbeat, and the live view shows the beat at once', async () => {
    const beat = await carol.rpc('send_heartbeat', { device_id: device.id });
    assertOk(beat);
    assert.equal(beat.data.device_id, device.id);
    assert.equal(beat.data.is_active, true);
    assert.equal(typeof beat.data.next_heartbeat_in_seconds, 'number');
    const live = await carol.from('compute_devices_live').select('id,is_active,last_seen').eq('id', device.id).single();
    assertOk(live);
    assert.equal(live.data.is_active, true);
    assert.equal(Date.parse(live.data.last_seen), Date.parse(beat.data.last_seen));
  });

  it('send_heartbeats with the service key beats for any owner', async () => {
    const result = await supabase({ token: tokens.service }).rpc('send_heartbeats', {
      user_ids: [ids.carol, ids.alice],
      device_ids: [device.id, device.id],
    });
    assertOk(result);
    assert.equal(result.data.length, 2);
    assert.equal(result.data[0].device_id, device.id);
    assert.equal(result.data[0].error_code, null);
    assert.equal(result.data[1].error_code, '42P01');
  });

  it('deactivate_device stops it; its heartbeats are refused; the totals are back', async () => {
    const result = await carol.rpc('deactivate_device', { device_id: device.id });
    assertOk(result);
    deactivated = result.data;
    assert.equal(deactivated.id, device.id);
    assert.equal(deactivated.is_active, false);
    assert.notEqual(deactivated.deactivated_at, null);
    assertError(await carol.rpc('send_heartbeat', { device_id: device.id }), 404, {
      code: '42P01',
      message: 'device is stopped: its owner deactivated it',
      details: null,
      hint: 'Register the device again with register_device to resume sharing.',
    });
    assert.deepEqual((await anon.rpc('get_network_stats')).data, baseline);
  });

  it('neither register_device nor deactivate_device returns the internal slot (issue 13, point 8)', () => {
    assert.ok(!('slot' in device), JSON.stringify(device));
    assert.ok(!('slot' in deactivated), JSON.stringify(deactivated));
  });
});
