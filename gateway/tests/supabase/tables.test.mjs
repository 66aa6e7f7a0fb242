// The table and the live view through the unmodified clients, as the seed's front end reads
// its devices: `.from('compute_devices').select()` returns the caller's own rows (row-level
// security), with PostgREST's read grammar; anything else on them is refused, never ignored.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertError, assertOk, names, postgrest, recorder, seed, supabase, tokens } from './clients.mjs';
import { describeReadGrammar } from './grammar.mjs';

const relations = ['compute_devices', 'compute_devices_live'];

for (const relation of relations) {
  const record = recorder();
  const client = supabase({ token: tokens.alice, record });
  describeReadGrammar(
    `supabase-js: from('${relation}')`,
    ({ columns, count, head }) => client.from(relation).select(columns, { count, head }),
    record,
    { table: relation === 'compute_devices' },
  );
}

{
  const record = recorder();
  const client = postgrest({ token: tokens.alice, record });
  describeReadGrammar(
    "postgrest-js at the root: from('compute_devices')",
    ({ columns, count, head }) => client.from('compute_devices').select(columns, { count, head }),
    record,
    { table: true },
  );
}

describe('row-level security', () => {
  for (const relation of relations) {
    it(`${relation}: each user reads only their own rows`, async () => {
      const bob = await supabase({ token: tokens.bob }).from(relation).select();
      assertOk(bob);
      assert.deepEqual(names(bob.data), seed.bob.map((device) => device.device_name).sort());
      const dave = await supabase({ token: tokens.dave }).from(relation).select('*', { count: 'exact' });
      assertOk(dave);
      assert.deepEqual(dave.data, []);
      assert.equal(dave.count, 0);
    });

    it(`${relation}: a filter cannot reach another user's rows`, async () => {
      const result = await supabase({ token: tokens.alice }).from(relation).select().eq('device_name', 'bob-desktop');
      assertOk(result);
      assert.deepEqual(result.data, []);
    });

    it(`${relation}: the anon key has no grant: 401 42501 with WWW-Authenticate`, async () => {
      const record = recorder();
      assertError(await supabase({ record }).from(relation).select(), 401, {
        code: '42501',
        message: `permission denied for ${relation === 'compute_devices' ? 'table' : 'view'} ${relation}`,
      });
      assert.equal(record.last.headers.get('www-authenticate'), 'Bearer');
    });
  }

  it('the live view shows liveness as the API does', async () => {
    const live = await supabase({ token: tokens.alice }).from('compute_devices_live').select('device_name,is_active');
    const api = await supabase({ token: tokens.alice }).rpc('get_user_devices').select('device_name,is_active');
    assertOk(live);
    assertOk(api);
    const byName = (rows) => Object.fromEntries(rows.map((row) => [row.device_name, row.is_active]));
    assert.deepEqual(byName(live.data), byName(api.data));
  });
});

describe('what the gateway does not serve is refused, never ignored', () => {
  const alice = () => supabase({ token: tokens.alice });
  const unchanged = async () => {
    const { data } = await alice().from('compute_devices').select('device_name,device_type,ram_gb,is_active').order('device_name');
    return data;
  };

  for (const [name, write] of [
    ['insert', (q) => q.insert({ device_name: 'inserted', device_type: 'laptop' })],
    ['update', (q) => q.update({ ram_gb: 1 }).eq('device_name', 'alice-laptop')],
    ['upsert', (q) => q.upsert({ device_name: 'alice-laptop', device_type: 'phone' })],
    ['delete', (q) => q.delete().eq('device_name', 'alice-laptop')],
  ]) {
    it(`${name} on the table is a 4xx and changes nothing`, async () => {
      const before = await unchanged();
      const result = await write(alice().from('compute_devices'));
      assert.ok(result.status >= 400 && result.status < 500, `status ${result.status}`);
      assert.ok(result.error?.code, JSON.stringify(result.error));
      assert.ok(result.error.message, JSON.stringify(result.error));
      assert.deepEqual(await unchanged(), before);
    });
  }

  it('an embedded resource: 400 PGRST200 naming it', async () => {
    const result = await alice().from('compute_devices').select('device_name, profiles(*)');
    assert.equal(result.status, 400);
    assert.equal(result.error.code, 'PGRST200');
    assert.match(result.error.message, /profiles/);
  });

  it('an aggregate: 400 PGRST123', async () => {
    const result = await alice().from('compute_devices').select('ram_gb.sum()');
    assertError(result, 400, { code: 'PGRST123', message: 'Use of aggregate functions is not allowed' });
  });

  // Operators PostgREST has beyond the list: answered as PostgREST answers them, or
  // refused by name with 400; never ignored (which would return every row).
  for (const [name, filter, expected, operator] of [
    ['isDistinct', (q) => q.isDistinct('deactivated_at', null), ['alice-phone'], 'isdistinct'],
    ['regexMatch', (q) => q.regexMatch('device_name', '^alice-(l|s)'), ['alice-laptop', 'alice-server'], 'match'],
    ['regexIMatch', (q) => q.regexIMatch('device_name', '^ALICE-P'), ['alice-phone'], 'imatch'],
    ['likeAnyOf', (q) => q.likeAnyOf('device_name', ['%laptop', '%phone']), ['alice-laptop', 'alice-phone'], 'like(any)'],
    ['likeAllOf', (q) => q.likeAllOf('device_name', ['alice%', '%r']), ['alice-server'], 'like(all)'],
    ['eq(any)', (q) => q.filter('device_type', 'eq(any)', '{laptop,server}'), ['alice-laptop', 'alice-server'], 'eq(any)'],
  ]) {
    for (const [source, start] of [
      ['the table', () => alice().from('compute_devices').select()],
      ['get_user_devices', () => alice().rpc('get_user_devices')],
    ]) {
      it(`${name} on ${source}: PostgREST's answer, or 400 naming ${operator}`, async () => {
        const result = await filter(start());
        if (result.error) {
          assert.equal(result.status, 400, JSON.stringify(result));
          assert.ok(result.error.message.includes(operator), JSON.stringify(result.error));
        } else {
          assert.deepEqual(names(result.data), expected);
        }
      });
    }
  }

  // Media types PostgREST has beyond JSON: served, or 406 PGRST107; never JSON instead.
  for (const [name, request, check] of [
    ['csv()', (q) => q.order('device_name').csv(), (data) => assert.match(data, /^[a-z_,]*device_name[a-z_,]*\n/)],
    [
      'stripNulls()',
      (q) => q.eq('device_name', 'alice-laptop').stripNulls(),
      (data) => assert.ok(!('deactivated_at' in data[0]), JSON.stringify(data)),
    ],
    ['explain()', (q) => q.explain(), (data) => assert.equal(typeof data, 'string')],
  ]) {
    it(`${name} on the table: served, or 406 PGRST107`, async () => {
      const result = await request(alice().from('compute_devices').select());
      if (result.error) {
        assert.equal(result.status, 406, JSON.stringify(result));
        assert.equal(result.error.code, 'PGRST107');
      } else {
        check(result.data);
      }
    });
  }

  it('a relation the extension does not have: 404 42P01', async () => {
    assertError(await alice().from('pg_roles').select(), 404, {
      code: '42P01',
      message: 'relation "public.pg_roles" does not exist',
    });
  });
});
