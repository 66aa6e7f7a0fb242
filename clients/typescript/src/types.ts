// Request and response shapes of the compute_devices RPC functions, as PostgREST and compute-gateway
// serialize them: numeric and bigint columns arrive as JSON numbers, timestamps as ISO 8601 strings.
// They say more than the catalog can (which columns are never null, the device types), and
// test/catalog.test.ts checks each against the catalog's own types in database.ts (generated).

/** The device classes the extension accepts (`device_type`). */
export type DeviceType = 'phone' | 'laptop' | 'desktop' | 'server';

/** Every accepted `device_type`, in the order the server lists them. */
export const DEVICE_TYPES: readonly DeviceType[] = ['phone', 'laptop', 'desktop', 'server'];

/** The accelerator vendors the extension accepts (`vendor`); anything else is `other`. */
export type AcceleratorVendor = 'nvidia' | 'amd' | 'intel' | 'apple' | 'qualcomm' | 'other';

/** Every accepted `vendor`. */
export const ACCELERATOR_VENDORS: readonly AcceleratorVendor[] = ['nvidia', 'amd', 'intel', 'apple', 'qualcomm', 'other'];

/**
 * One group of identical accelerators (GPUs) in `register_device`'s `accelerators`. Server rules
 * (settings, defaults): at most 8 groups, `count` 1..64, at most 128 accelerators a device, `memory_mib`
 * 0..1048576 per accelerator (0 = memory shared with the system, or unknown), `product_name` 1..128
 * visible characters; the same vendor, model and memory twice is refused.
 * (A type, not an interface, so that it is also a `Json` value.)
 */
export type Accelerator = {
  vendor: AcceleratorVendor;
  /** As the vendor names it: "NVIDIA GeForce RTX 4090". */
  product_name: string;
  memory_mib: number;
  count: number;
};

/** An accelerator group as the server keeps it, with the `model` key it derived from the product name. */
export type DeviceAccelerator = Accelerator & {
  /** Lower case, the vendor's name removed from the start, other characters as `-`: "geforce-rtx-4090". */
  model: string;
};

/** `get_network_stats()`: totals over the devices active right now (zeros on an empty network). */
export interface NetworkStats {
  active_nodes: number;
  total_ram_gb: number;
  total_cpu_cores: number;
  total_storage_gb: number;
  total_compute_score: number;
  /** The active devices' accelerators. */
  total_gpus: number;
  /** Their memory: the sum of `memory_mib × count`, divided by 1024. */
  total_gpu_memory_gb: number;
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
  /** The device's whole inventory: leaving it out (or null) registers none. */
  accelerators?: Accelerator[] | null;
  /** ISO 3166-1 alpha-2 ("DE"; lower case accepted); the server derives the region from it. */
  country_code?: string | null;
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
  /** Ordered by vendor, model and memory; `[]` for none. */
  accelerators: DeviceAccelerator[];
  country_code: string | null;
  /** The UN M49 region ("Europe") and sub-region ("Western Europe") of the country. */
  region: string | null;
  subregion: string | null;
}

/** What `get_capacity` can group by. */
export type CapacityGroupBy = 'device_type' | 'country' | 'region' | 'subregion' | 'gpu_model';

/**
 * `get_capacity(...)`'s filters, each optional (left out: no filter). Lists hold at most 100 values.
 * The accelerator filters (`gpu_vendors`, `gpu_models`, `min_gpu_memory_mib`) pick a device's matching
 * accelerators; with any of them or `min_gpus`, a device counts only when it has at least `min_gpus`
 * (default 1; 0 = no requirement) matching ones, and the GPU totals count only those.
 */
export interface CapacityFilters {
  device_types?: DeviceType[];
  /** Alpha-2 codes, any case. */
  countries?: string[];
  /** Region or sub-region names ("Europe", "Western Europe"). */
  regions?: string[];
  min_ram_gb?: number;
  min_cpu_cores?: number;
  min_storage_gb?: number;
  gpu_vendors?: AcceleratorVendor[];
  /** Model keys ("geforce-rtx-4090"); a product name is keyed the same way ("GeForce RTX 4090"). */
  gpu_models?: string[];
  min_gpus?: number;
  /** Per accelerator. */
  min_gpu_memory_mib?: number;
  /** One row per group; left out, one row for the whole match. */
  group_by?: CapacityGroupBy;
}

/** One row of `get_capacity`: totals of the active devices that match, for one group. */
export interface CapacityRow extends NetworkStats {
  /** The group (a type, an alpha-2 code, a region, a sub-region or a model key); null for the
   * ungrouped row, and for devices without a country or a matching accelerator. */
  group_key: string | null;
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
