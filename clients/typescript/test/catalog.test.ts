// The client's types against the catalog's: src/database.ts is generated from the installed
// extension's catalog (gateway/tests/typescript.rs fails when it is stale), and these checks fail
// `npm run typecheck` when a type here and the function it describes disagree: a column or
// argument added, removed, renamed or of another type. Null-ness is left out (the catalog cannot
// say that a row type's column is never null), and a union of string literals counts as a string.
import { describe, expectTypeOf, it } from 'vitest';
import type { Database } from '../src/database.js';
import type {
  Device,
  DeviceIdRequest,
  Heartbeat,
  NetworkStats,
  NetworkStatsByType,
  RegisterDeviceRequest,
} from '../src/types.js';

type Functions = Database['public']['Functions'];
type Element<T> = T extends readonly (infer U)[] ? U : T;
type Loose<T> = { [K in keyof T]-?: NonNullable<T[K]> extends string ? string : NonNullable<T[K]> };
type Args<F extends keyof Functions> = Loose<Functions[F]['Args']>;
type Row<F extends keyof Functions> = Loose<Element<Functions[F]['Returns']>>;

describe('the client types follow the catalog', () => {
  it('arguments', () => {
    expectTypeOf<Loose<RegisterDeviceRequest>>().toEqualTypeOf<Args<'register_device'>>();
    expectTypeOf<Loose<DeviceIdRequest>>().toEqualTypeOf<Args<'send_heartbeat'>>();
    expectTypeOf<Loose<DeviceIdRequest>>().toEqualTypeOf<Args<'deactivate_device'>>();
  });

  it('results', () => {
    expectTypeOf<Loose<NetworkStats>>().toEqualTypeOf<Row<'get_network_stats'>>();
    expectTypeOf<Loose<NetworkStatsByType>>().toEqualTypeOf<Row<'get_network_stats_by_type'>>();
    expectTypeOf<Loose<Heartbeat>>().toEqualTypeOf<Row<'send_heartbeat'>>();
    expectTypeOf<Loose<Device>>().toEqualTypeOf<Row<'register_device'>>();
    expectTypeOf<Loose<Device>>().toEqualTypeOf<Row<'deactivate_device'>>();
    expectTypeOf<Loose<Device>>().toEqualTypeOf<Row<'get_user_devices'>>();
    expectTypeOf<Loose<Device>>().toEqualTypeOf<Loose<Database['public']['Views']['compute_devices_live']['Row']>>();
  });
});
