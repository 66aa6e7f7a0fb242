// PostgREST's read grammar as the clients write it, asserted on any source of alice's devices:
// the table, the live view, and get_user_devices called with POST and with GET. Every answer
// is the one PostgREST documents for the same rows (docs: "Tables and Views", "Functions as
// RPC", "Pagination and Count", "Singular or Plural"; postgrest-js builds the requests).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertError, assertOk, names, seed } from './clients.mjs';

const alice = Object.fromEntries(seed.alice.map((device) => [device.device_name.slice('alice-'.length), device]));
const all = ['alice-laptop', 'alice-phone', 'alice-server'];

/** Each filter the clients have, with the names of the rows it keeps. */
const filters = [
  ['eq', (q) => q.eq('device_type', 'laptop'), ['alice-laptop']],
  ['neq', (q) => q.neq('device_type', 'laptop'), ['alice-phone', 'alice-server']],
  ['gt', (q) => q.gt('ram_gb', alice.phone.ram_gb), ['alice-laptop', 'alice-server']],
  ['gte', (q) => q.gte('ram_gb', alice.laptop.ram_gb), ['alice-laptop', 'alice-server']],
  ['lt', (q) => q.lt('ram_gb', alice.laptop.ram_gb), ['alice-phone']],
  ['lte', (q) => q.lte('ram_gb', alice.laptop.ram_gb), ['alice-laptop', 'alice-phone']],
  ['eq on an integer', (q) => q.eq('cpu_cores', 8), ['alice-laptop', 'alice-phone']],
  ['in', (q) => q.in('device_type', ['phone', 'server']), ['alice-phone', 'alice-server']],
  ['in with a value to quote', (q) => q.in('device_name', ['alice-laptop', 'a,b', 'x(y)']), ['alice-laptop']],
  ['is null', (q) => q.is('deactivated_at', null), ['alice-laptop', 'alice-server']],
  ['is true', (q) => q.is('is_active', true), ['alice-laptop', 'alice-server']],
  ['is false', (q) => q.is('is_active', false), ['alice-phone']],
  ['like with %', (q) => q.like('device_name', 'alice-l%'), ['alice-laptop']],
  ['like with *', (q) => q.like('device_name', '*r*'), ['alice-server']],
  ['like is case-sensitive', (q) => q.like('device_name', 'ALICE-%'), []],
  ['ilike', (q) => q.ilike('device_name', 'ALICE-P%'), ['alice-phone']],
  ['not eq', (q) => q.not('device_type', 'eq', 'laptop'), ['alice-phone', 'alice-server']],
  ['not is null', (q) => q.not('deactivated_at', 'is', null), ['alice-phone']],
  ['not in', (q) => q.not('device_type', 'in', '(laptop,server)'), ['alice-phone']],
  ['not like', (q) => q.not('device_name', 'like', '*phone'), ['alice-laptop', 'alice-server']],
  ['filters together are all met', (q) => q.eq('is_active', true).gte('cpu_cores', 16), ['alice-server']],
  ['match', (q) => q.match({ device_type: 'laptop', cpu_cores: 8 }), ['alice-laptop']],
  ['eq on a uuid', null, null], // filled in per source: the ids are the database's
  ['or', (q) => q.or('device_type.eq.phone,cpu_cores.gte.32'), ['alice-phone', 'alice-server']],
  ['or with not inside', (q) => q.or('device_name.not.like.alice-l*,cpu_cores.gt.100'), ['alice-phone', 'alice-server']],
  ['and nested in or', (q) => q.or('and(device_type.eq.laptop,ram_gb.gte.16),device_name.eq.alice-phone'), ['alice-laptop', 'alice-phone']],
  [
    'or nested in and nested in or',
    (q) => q.or('and(is_active.is.true,or(ram_gb.gt.32,cpu_cores.lt.8)),device_type.eq.phone'),
    ['alice-phone', 'alice-server'],
  ],
  ['not.and nested in or', (q) => q.or('not.and(is_active.is.true,ram_gb.lt.32),device_type.eq.nothing'), ['alice-phone', 'alice-server']],
  ['or and another filter', (q) => q.or('device_type.eq.phone,device_type.eq.laptop').eq('is_active', true), ['alice-laptop']],
];

/** Orders, limits and ranges, with the names in the order PostgREST answers them. */
const pages = [
  ['order desc', (q) => q.order('ram_gb', { ascending: false }), ['alice-server', 'alice-laptop', 'alice-phone']],
  ['order asc', (q) => q.order('ram_gb'), ['alice-phone', 'alice-laptop', 'alice-server']],
  ['order on two columns', (q) => q.order('cpu_cores', { ascending: false }).order('device_name'), ['alice-server', 'alice-laptop', 'alice-phone']],
  [
    'order asc nullsFirst',
    (q) => q.order('deactivated_at', { nullsFirst: true }).order('device_name'),
    ['alice-laptop', 'alice-server', 'alice-phone'],
  ],
  [
    'order asc nulls last (the default)',
    (q) => q.order('deactivated_at').order('device_name'),
    ['alice-phone', 'alice-laptop', 'alice-server'],
  ],
  [
    'order desc nulls first (the default)',
    (q) => q.order('deactivated_at', { ascending: false }).order('device_name'),
    ['alice-laptop', 'alice-server', 'alice-phone'],
  ],
  [
    'order desc nullsFirst false',
    (q) => q.order('deactivated_at', { ascending: false, nullsFirst: false }).order('device_name'),
    ['alice-phone', 'alice-laptop', 'alice-server'],
  ],
  ['limit', (q) => q.order('device_name').limit(2), ['alice-laptop', 'alice-phone']],
  ['limit 0', (q) => q.order('device_name').limit(0), []],
  ['range', (q) => q.order('device_name').range(1, 2), ['alice-phone', 'alice-server']],
  ['range past the end', (q) => q.order('device_name').range(2, 5), ['alice-server']],
  ['range after the rows', (q) => q.order('device_name').range(5, 6), []],
  ['filter, order and limit', (q) => q.eq('is_active', true).order('ram_gb', { ascending: false }).limit(1), ['alice-server']],
];

/**
 * The suite on one source. `source({ columns, count, head })` starts a request over alice's
 * devices (with the clients' select columns, count and head options); `record` is the
 * recorder its client fetches through. `table` is true for the table itself, whose every
 * column (the internal slot too) `select=*` returns, as PostgREST does.
 */
export function describeReadGrammar(label, source, record, { table = false } = {}) {
  describe(label, () => {
    it('returns alice’s devices', async () => {
      const result = await source({});
      assertOk(result);
      assert.deepEqual(names(result.data), all);
      for (const row of result.data) {
        if (!table) assert.ok(!('slot' in row), `the internal slot is not returned: ${JSON.stringify(row)}`);
        const device = seed.alice.find((d) => d.device_name === row.device_name);
        assert.equal(row.device_type, device.device_type);
        assert.equal(row.ram_gb, device.ram_gb);
        assert.equal(row.cpu_cores, device.cpu_cores);
        assert.equal(row.storage_gb, device.storage_gb);
        assert.equal(row.is_active, !device.deactivated);
        assert.equal(row.deactivated_at === null, !device.deactivated);
      }
    });

    for (const [name, filter, expected] of filters) {
      if (name === 'eq on a uuid') {
        it(name, async () => {
          const { data: rows } = await source({});
          const laptop = rows.find((row) => row.device_name === 'alice-laptop');
          const result = await source({}).eq('id', laptop.id);
          assertOk(result);
          assert.deepEqual(names(result.data), ['alice-laptop']);
        });
        continue;
      }
      it(`filter: ${name}`, async () => {
        const result = await filter(source({}));
        assertOk(result);
        assert.deepEqual(names(result.data), expected);
      });
    }

    it('select: only the columns named, in any spacing', async () => {
      const result = await source({ columns: 'device_name, ram_gb' }).order('device_name');
      assertOk(result);
      assert.deepEqual(result.data, [
        { device_name: 'alice-laptop', ram_gb: alice.laptop.ram_gb },
        { device_name: 'alice-phone', ram_gb: alice.phone.ram_gb },
        { device_name: 'alice-server', ram_gb: alice.server.ram_gb },
      ]);
    });

    it('select with a filter on a column not selected', async () => {
      const result = await source({ columns: 'device_name' }).eq('device_type', 'server');
      assertOk(result);
      assert.deepEqual(result.data, [{ device_name: 'alice-server' }]);
    });

    it('select renames a column (alias:column), or refuses the alias by name', async () => {
      const result = await source({ columns: 'name:device_name' }).eq('device_type', 'server');
      if (result.error) {
        assert.equal(result.status, 400);
        assert.match(JSON.stringify(result.error), /name:device_name|alias/);
      } else {
        assert.deepEqual(result.data, [{ name: 'alice-server' }]);
      }
    });

    for (const [name, page, expected] of pages) {
      it(`${name}`, async () => {
        const result = await page(source({}));
        assertOk(result);
        assert.deepEqual(result.data.map((row) => row.device_name), expected);
      });
    }

    it('single: exactly one row is an object', async () => {
      const result = await source({}).eq('device_name', 'alice-laptop').single();
      assertOk(result);
      assert.ok(!Array.isArray(result.data), JSON.stringify(result.data));
      assert.equal(result.data.device_name, 'alice-laptop');
    });

    it('single with select columns', async () => {
      const result = await source({ columns: 'device_name,cpu_cores' }).eq('device_type', 'server').single();
      assertOk(result);
      assert.deepEqual(result.data, { device_name: 'alice-server', cpu_cores: alice.server.cpu_cores });
    });

    it('single on several rows: 406 PGRST116', async () => {
      assertError(await source({}).single(), 406, {
        code: 'PGRST116',
        message: 'JSON object requested, multiple (or no) rows returned',
        details: 'The result contains 3 rows',
        hint: null,
      });
    });

    it('single on no row: 406 PGRST116', async () => {
      assertError(await source({}).eq('device_name', 'none').single(), 406, {
        code: 'PGRST116',
        message: 'JSON object requested, multiple (or no) rows returned',
        details: 'The result contains 0 rows',
        hint: null,
      });
    });

    it('maybeSingle: no row is null', async () => {
      const result = await source({}).eq('device_name', 'none').maybeSingle();
      assertOk(result);
      assert.equal(result.data, null);
    });

    it('maybeSingle: one row is an object', async () => {
      const result = await source({}).eq('device_name', 'alice-phone').maybeSingle();
      assertOk(result);
      assert.equal(result.data.device_name, 'alice-phone');
    });

    it('maybeSingle on several rows: 406 PGRST116', async () => {
      const result = await source({}).maybeSingle();
      assert.equal(result.status, 406);
      assert.equal(result.data, null);
      assert.equal(result.error.code, 'PGRST116');
      assert.equal(result.error.message, 'JSON object requested, multiple (or no) rows returned');
    });

    it('count exact: every row counted, Content-Range n-m/total', async () => {
      const result = await source({ count: 'exact' });
      assertOk(result);
      assert.equal(result.count, 3);
      assert.equal(result.data.length, 3);
      assert.equal(record.last.headers.get('content-range'), '0-2/3');
    });

    it('count exact with a filter counts the filtered rows', async () => {
      const result = await source({ count: 'exact' }).eq('device_type', 'laptop');
      assertOk(result);
      assert.equal(result.count, 1);
      assert.equal(record.last.headers.get('content-range'), '0-0/1');
    });

    it('count exact of a page: 206 Partial Content, the total of every page', async () => {
      const result = await source({ count: 'exact' }).order('device_name').range(0, 1);
      assertOk(result, 206);
      assert.equal(result.count, 3);
      assert.deepEqual(result.data.map((row) => row.device_name), ['alice-laptop', 'alice-phone']);
      assert.equal(record.last.headers.get('content-range'), '0-1/3');
    });

    it('count exact of a page after the rows: 416 PGRST103', async () => {
      assertError(await source({ count: 'exact' }).order('device_name').range(5, 6), 416, {
        code: 'PGRST103',
        message: 'Requested range not satisfiable',
        details: 'An offset of 5 was requested, but there are only 3 rows.',
        hint: null,
      });
    });

    it('no count: Content-Range without a total, count null', async () => {
      const result = await source({});
      assertOk(result);
      assert.equal(result.count, null);
      assert.equal(record.last.headers.get('content-range'), '0-2/*');
      const empty = await source({}).eq('device_name', 'none');
      assertOk(empty);
      assert.deepEqual(empty.data, []);
      assert.equal(record.last.headers.get('content-range'), '*/*');
    });

    it('head with count exact: HEAD, the count and no body', async () => {
      const result = await source({ count: 'exact', head: true });
      assertOk(result);
      assert.equal(record.last.method, 'HEAD');
      assert.equal(result.data, null);
      assert.equal(result.count, 3);
      const filtered = await source({ count: 'exact', head: true }).neq('device_type', 'laptop');
      assertOk(filtered);
      assert.equal(filtered.count, 2);
    });
  });
}
