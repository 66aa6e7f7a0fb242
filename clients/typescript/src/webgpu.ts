// What WebGPU tells about the machine's GPU, as register_device's `accelerators`: the adapter's
// vendor (mapped to the server's list) and a product name, one GPU, memory unknown (0: WebGPU never
// says how much a GPU has). Nothing when WebGPU is absent, finds no adapter, finds only a software
// (fallback) adapter, names no product, fails or does not answer in time: a browser without WebGPU
// registers no accelerator rather than a guess.

import type { Accelerator, AcceleratorVendor } from './types.js';

/** The parts of `GPUAdapterInfo` that are read (browsers blur or leave out any of them). */
export interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/** The parts of `GPUAdapter` that are read: `info` (current), or `requestAdapterInfo()` (older browsers). */
export interface GpuAdapterLike {
  info?: GpuAdapterInfoLike;
  requestAdapterInfo?: () => Promise<GpuAdapterInfoLike>;
  isFallbackAdapter?: boolean;
}

/** The parts of `navigator.gpu` that are used. */
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapterLike | null>;
}

/** The server's limit on `product_name`, in characters. */
export const MAX_PRODUCT_NAME_LENGTH = 128;

// By name, or by PCI vendor id (which some browsers report instead).
const VENDORS: [RegExp, AcceleratorVendor][] = [
  [/nvidia|^0x10de$/, 'nvidia'],
  [/\bamd\b|\bati\b|advanced micro devices|^0x1002$/, 'amd'],
  [/intel|^0x8086$/, 'intel'],
  [/apple|^0x106b$/, 'apple'],
  [/qualcomm|^0x5143$/, 'qualcomm'],
];

/** The server's vendor for a vendor as a browser (or a driver) names it; `other` when unknown. */
export function acceleratorVendor(name: string): AcceleratorVendor {
  const lower = name.trim().toLowerCase();
  return VENDORS.find(([pattern]) => pattern.test(lower))?.[1] ?? 'other';
}

/** The adapter's GPU as one accelerator group, or [] (see the module's comment). */
export async function detectWebGpu(gpu: GpuLike | null | undefined, timeoutMs = 2000): Promise<Accelerator[]> {
  if (typeof gpu?.requestAdapter !== 'function') return [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const info = await Promise.race([
      adapterInfo(gpu),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs))),
    ]);
    const product_name = info ? productName(info) : '';
    if (!info || product_name === '') return [];
    return [{ vendor: acceleratorVendor(info.vendor ?? ''), product_name, memory_mib: 0, count: 1 }];
  } catch {
    return [];
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** The info of the (high-performance) hardware adapter; null for none or a software one. */
async function adapterInfo(gpu: GpuLike): Promise<GpuAdapterInfoLike | null> {
  // Called on navigator.gpu (a method). A laptop's discrete GPU, where it has two.
  const adapter = await gpu.requestAdapter.call(gpu, { powerPreference: 'high-performance' });
  if (!adapter || adapter.isFallbackAdapter) return null;
  const info = adapter.info ?? (await adapter.requestAdapterInfo?.call(adapter)) ?? null;
  return info?.isFallbackAdapter ? null : info;
}

/** The most specific name the browser gives: its description, the device, or the vendor's architecture. */
function productName(info: GpuAdapterInfoLike): string {
  const clean = (text: string | undefined) =>
    (text ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').replace(/\s+/g, ' ').trim();
  const architecture = clean(info.architecture);
  const name =
    clean(info.description) || clean(info.device) || (architecture && clean(`${info.vendor ?? ''} ${architecture}`));
  // Cut by code points: the server counts characters.
  return [...name].slice(0, MAX_PRODUCT_NAME_LENGTH).join('').trim();
}
