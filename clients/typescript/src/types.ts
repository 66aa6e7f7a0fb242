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
  /** The fraction (0..1) of the last day, and of the last 7 days, that the device was active, of the
   * time it existed and the server was recording; null when there is no such time yet. */
  uptime_1d: number | null;
  uptime_7d: number | null;
  /** Times in the last 24 hours the device went stale (silent past the active window) without being stopped. */
  flaps_24h: number;
  /** 0..100: the 7-day uptime weighted against a prior of 50% worth 24 hours, times 0.9 per flap in
   * the last 24 hours. A new device starts at 50. */
  health_score: number;
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
  /** 0..1: only devices whose `uptime_7d` is at least this (a device without one does not match). */
  min_uptime_7d?: number;
}

/** One row of `get_capacity`: totals of the active devices that match, for one group. */
export interface CapacityRow extends NetworkStats {
  /** The group (a type, an alpha-2 code, a region, a sub-region or a model key); null for the
   * ungrouped row, and for devices without a country or a matching accelerator. */
  group_key: string | null;
  /** Over the devices registered and not stopped that match (active now or not), each weighted by
   * its probability of being online (its reliability): the expected devices, memory, cores, GPUs. */
  expected_nodes: number;
  expected_ram_gb: number;
  expected_cpu_cores: number;
  expected_gpus: number;
  /** Devices and GPUs online with at least 95% probability (Cantelli's bound, devices independent). */
  p95_floor_nodes: number;
  p95_floor_gpus: number;
}

/** The bucket widths `get_network_history` answers in. */
export type HistoryBucket = '1 minute' | '1 hour' | '1 day';

/** What `get_network_history` can group by. */
export type HistoryGroupBy = 'device_type' | 'region';

/** A time: a `Date`, or a string PostgreSQL reads as a `timestamptz` (ISO 8601 with a zone). */
export type Instant = Date | string;

/** {@link ComputeDevicesClient.getNetworkHistory}'s question. */
export interface NetworkHistoryQuery {
  /** From the bucket holding this time … */
  since: Instant;
  /** … to the bucket holding this one (UTC buckets); at most `compute_devices.history_retention`
   * (30 days) after `since` for minutes, `history_retention_hours` (400 days) for hours and days. */
  until: Instant;
  /** Default `'1 minute'`. */
  bucket?: HistoryBucket;
  /** Left out: one row per bucket for the whole network. */
  groupBy?: HistoryGroupBy;
}

/** `get_network_history(...)`'s arguments as sent. */
export interface NetworkHistoryRequest {
  since: string;
  until: string;
  bucket?: HistoryBucket;
  group_by?: HistoryGroupBy;
}

/**
 * One row of `get_network_history`: the network's totals in one bucket (and group), averaged over the
 * minutes recorded in it, with the fewest and most active devices of any minute in it. Rows come in
 * time order; a bucket nothing was recorded in has no row.
 */
export interface NetworkHistoryRow {
  /** ISO 8601. */
  bucket_start: string;
  /** The device type or region with `group_by` (null for devices without a region); null without. */
  group_key: string | null;
  active_nodes: number;
  active_nodes_min: number;
  active_nodes_max: number;
  total_ram_gb: number;
  total_cpu_cores: number;
  total_storage_gb: number;
  total_compute_score: number;
  total_gpus: number;
  total_gpu_memory_gb: number;
}

/** `get_network_stats_at(at)` for a minute nothing was recorded in (the server was down, or it
 * had not started recording): every column null. */
export type UnrecordedStats = { [K in keyof NetworkStats]: null };

/** `get_network_stats_at(at)`'s argument as sent. */
export interface NetworkStatsAtRequest {
  at: string;
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
