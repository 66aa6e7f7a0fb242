// The client's types against the catalog's: src/database.ts is generated from the installed
// extension's catalog (gateway/tests/typescript.rs fails when it is stale), and these checks fail
// `npm run typecheck` when a type here and the function it describes disagree: a column or
// argument added, removed, renamed or of another type. Null-ness is left out (the catalog cannot
// say that a row type's column is never null), a union of string literals counts as a string (and
// a list of them as a list of strings), and the accelerators, jsonb to the catalog, are checked to
// be JSON.
import { describe, expectTypeOf, it } from 'vitest';
import type { Database, Json } from '../src/database.js';
import type {
  Accelerator,
  CapacityFilters,
  CapacityRow,
  Device,
  DeviceAccelerator,
  DeviceIdRequest,
  Heartbeat,
  NetworkHistoryRequest,
  NetworkHistoryRow,
  NetworkStats,
  NetworkStatsAtRequest,
  NetworkStatsByType,
  RegisterDeviceRequest,
} from '../src/types.js';

type Functions = Database['public']['Functions'];
type Element<T> = T extends readonly (infer U)[] ? U : T;
type Loose<T> = {
  [K in keyof T]-?: NonNullable<T[K]> extends string
    ? string
    : NonNullable<T[K]> extends readonly string[]
      ? string[]
      : NonNullable<T[K]>;
};
/** Loose, with the jsonb accelerators left out. */
type Typed<T> = Omit<Loose<T>, 'accelerators'>;
type Args<F extends keyof Functions> = Loose<Functions[F]['Args']>;
type Row<F extends keyof Functions> = Loose<Element<Functions[F]['Returns']>>;

describe('the client types follow the catalog', () => {
  it('arguments', () => {
    expectTypeOf<Typed<RegisterDeviceRequest>>().toEqualTypeOf<Omit<Args<'register_device'>, 'accelerators'>>();
    expectTypeOf<Loose<CapacityFilters>>().toEqualTypeOf<Args<'get_capacity'>>();
    expectTypeOf<Accelerator[]>().toExtend<Json>();
    expectTypeOf<Loose<DeviceIdRequest>>().toEqualTypeOf<Args<'send_heartbeat'>>();
    expectTypeOf<Loose<DeviceIdRequest>>().toEqualTypeOf<Args<'deactivate_device'>>();
    expectTypeOf<Loose<NetworkHistoryRequest>>().toEqualTypeOf<Args<'get_network_history'>>();
    expectTypeOf<Loose<NetworkStatsAtRequest>>().toEqualTypeOf<Args<'get_network_stats_at'>>();
  });

  it('results', () => {
    expectTypeOf<Loose<NetworkStats>>().toEqualTypeOf<Row<'get_network_stats'>>();
    expectTypeOf<Loose<NetworkStatsByType>>().toEqualTypeOf<Row<'get_network_stats_by_type'>>();
    expectTypeOf<Loose<Heartbeat>>().toEqualTypeOf<Row<'send_heartbeat'>>();
    expectTypeOf<Loose<CapacityRow>>().toEqualTypeOf<Row<'get_capacity'>>();
    expectTypeOf<Loose<NetworkHistoryRow>>().toEqualTypeOf<Row<'get_network_history'>>();
    expectTypeOf<Loose<NetworkStats>>().toEqualTypeOf<Row<'get_network_stats_at'>>();
    expectTypeOf<Typed<Device>>().toEqualTypeOf<Omit<Row<'register_device'>, 'accelerators'>>();
    expectTypeOf<Typed<Device>>().toEqualTypeOf<Omit<Row<'deactivate_device'>, 'accelerators'>>();
    expectTypeOf<Typed<Device>>().toEqualTypeOf<Omit<Row<'get_user_devices'>, 'accelerators'>>();
    type Live = Database['public']['Views']['compute_devices_live']['Row'];
    expectTypeOf<Typed<Device>>().toEqualTypeOf<Typed<Live>>();
    expectTypeOf<Live['accelerators']>().toEqualTypeOf<Json | null>();
    expectTypeOf<DeviceAccelerator[]>().toExtend<Json>();
  });
});
