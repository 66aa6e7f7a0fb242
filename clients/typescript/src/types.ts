// Request and response shapes of the compute_devices RPC functions, as PostgREST and compute-gateway
// serialize them: numeric and bigint columns arrive as JSON numbers, timestamps as ISO 8601 strings.
// They say more than the catalog can (which columns are never null, the device types), and
// test/catalog.test.ts checks each against the catalog's own types in database.ts (generated).

/** The device classes the extension accepts (`device_type`). */
export type DeviceType = 'phone' | 'laptop' | 'desktop' | 'server';

/** Every accepted `device_type`, in the order the server lists them. */
export const DEVICE_TYPES: readonly DeviceType[] = ['phone', 'laptop', 'desktop', 'server'];

/** `get_network_stats()`: totals over the devices active right now (zeros on an empty network). */
export interface NetworkStats {
  active_nodes: number;
  total_ram_gb: number;
  total_cpu_cores: number;
  total_storage_gb: number;
  total_compute_score: number;
}

/** One row of `get_network_stats_by_type()`: the same totals for one device type. */
export interface NetworkStatsByType extends NetworkStats {
  device_type: DeviceType;
}

/**
 * `register_device(...)`: the seed's register body. The server creates the caller's device of this
 * name or updates it (and clears a stop). Server rules: `device_name` 1..64 characters without control
 * characters, unique per owner; `cpu_cores` 1..8192; `ram_gb` and `storage_gb` >= 0 with at most 9
 * decimals.
 */
export interface RegisterDeviceRequest {
  device_name: string;
  device_type: DeviceType;
  ram_gb: number;
  cpu_cores: number;
  storage_gb: number;
}

/** A device, as `register_device`, `deactivate_device` and `get_user_devices` return it (a `compute_devices_live` row). */
export interface Device {
  id: string;
  user_id: string;
  device_name: string;
  device_type: DeviceType;
  ram_gb: number;
  cpu_cores: number;
  storage_gb: number;
  compute_score: number;
  /** Liveness as the server sees it now: registered, not stopped and heard from recently. */
  is_active: boolean;
  last_seen: string;
  created_at: string;
  updated_at: string;
  /** When the owner stopped the device (deactivate_device); null while it is shared. */
  deactivated_at: string | null;
}

/** `send_heartbeat(device_id)`: the device's liveness after the heartbeat, and when to send the next one. */
export interface Heartbeat {
  device_id: string;
  is_active: boolean;
  last_seen: string;
  next_heartbeat_in_seconds: number;
}

/** Body of `send_heartbeat` and `deactivate_device`. */
export interface DeviceIdRequest {
  device_id: string;
}

/** PostgREST's error body, which compute-gateway also uses on `/rpc`. */
export interface PostgrestErrorBody {
  code?: string | null;
  message?: string | null;
  details?: string | null;
  hint?: string | null;
}
