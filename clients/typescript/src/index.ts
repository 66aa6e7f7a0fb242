// Public entry point: the RPC client, its errors and types, and the browser heartbeat.

export { ComputeDevicesClient, createClient } from './client.js';
export type { CallOptions, ClientOptions, FetchLike, TokenProvider, TokenValue } from './client.js';

export {
  ClientErrorCode,
  ComputeDevicesError,
  ComputeDevicesNetworkError,
  isAuthError,
  isComputeDevicesError,
  isDeviceGoneError,
  isTransientError,
} from './errors.js';
export type { ComputeDevicesErrorInit } from './errors.js';

export { ACCELERATOR_VENDORS, DEVICE_TYPES } from './types.js';
export type { Database, Json } from './database.js';
export type {
  Accelerator,
  AcceleratorVendor,
  CapacityFilters,
  CapacityGroupBy,
  CapacityRow,
  Device,
  DeviceAccelerator,
  DeviceIdRequest,
  DeviceType,
  Heartbeat,
  HistoryBucket,
  HistoryGroupBy,
  Instant,
  NetworkHistoryQuery,
  NetworkHistoryRequest,
  NetworkHistoryRow,
  NetworkStats,
  NetworkStatsAtRequest,
  NetworkStatsByType,
  PostgrestErrorBody,
  RegisterDeviceRequest,
  UnrecordedStats,
} from './types.js';

export {
  DEFAULT_BROWSER_ID_KEY,
  MAX_DEVICE_NAME_LENGTH,
  detectSpecs,
  getBrowserId,
  makeDeviceName,
  parseUserAgent,
} from './specs.js';
export type {
  DetectedSpecs,
  FormFactor,
  NavigatorLike,
  PlatformInfo,
  SpecEnvironment,
  SpecField,
  SpecOverrides,
  SpecSource,
  StorageLike,
} from './specs.js';

export { MAX_PRODUCT_NAME_LENGTH, acceleratorVendor, detectWebGpu } from './webgpu.js';
export type { GpuAdapterInfoLike, GpuAdapterLike, GpuLike } from './webgpu.js';

export { backoffDelay } from './backoff.js';
export type { BackoffOptions } from './backoff.js';

export { ComputeHeartbeat, computeHeartbeat, createComputeHeartbeat } from './heartbeat.js';
export type {
  HeartbeatErrorEvent,
  HeartbeatEvents,
  HeartbeatOptions,
  HeartbeatPhase,
  HeartbeatState,
  PageEventTarget,
  RetryOptions,
} from './heartbeat.js';
export type { Listener } from './emitter.js';
