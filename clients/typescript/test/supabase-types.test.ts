// The generated Database type as supabase-js users hold it: createClient<Database>() types the
// functions' arguments and results, the table and the live view, and refuses a name the catalog
// lacks. Checked by `npm run typecheck` (expectTypeOf and @ts-expect-error are compile-time).
import { createClient } from '@supabase/supabase-js';
import { describe, expectTypeOf, it } from 'vitest';
import type { Database } from '../src/database.js';

describe('createClient<Database>() is typed by the catalog', () => {
  it('functions, the table and the view', () => {
    // Never run (Node 20 has no WebSocket for supabase-js's realtime client): the calls are
    // written only for their types.
    const typed = () => {
      const supabase = createClient<Database>('http://127.0.0.1:1', 'anon-key');
      const stats = supabase.rpc('get_network_stats');
      const register = supabase.rpc('register_device', {
        device_name: 'laptop',
        device_type: 'laptop',
        ram_gb: 16,
        cpu_cores: 8,
        storage_gb: 512,
      });
      const live = supabase.from('compute_devices_live').select('device_name, is_active');
      // @ts-expect-error a function the catalog lacks
      void supabase.rpc('no_such_function');
      // @ts-expect-error an argument the function lacks
      void supabase.rpc('send_heartbeat', { id: 'x' });
      // @ts-expect-error a relation the catalog lacks
      void supabase.from('devices').select();
      return { stats, register, live };
    };
    type Calls = ReturnType<typeof typed>;
    type Data<T> = Awaited<T> extends { data: infer D } ? D : never;
    expectTypeOf<NonNullable<Data<Calls['stats']>>['active_nodes']>().toEqualTypeOf<number | null>();
    expectTypeOf<NonNullable<Data<Calls['register']>>['device_name']>().toEqualTypeOf<string | null>();
    expectTypeOf<NonNullable<Data<Calls['live']>>[number]>().toEqualTypeOf<{
      device_name: string | null;
      is_active: boolean | null;
    }>();
  });
});
