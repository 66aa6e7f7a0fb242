import { describe, expect, it } from 'vitest';
import { MAX_PRODUCT_NAME_LENGTH, acceleratorVendor, detectWebGpu } from '../src/index.js';
import { fakeGpu } from './helpers.js';

const RTX = { vendor: 'nvidia', architecture: 'ada-lovelace', device: '', description: 'NVIDIA GeForce RTX 4090' };

describe('acceleratorVendor', () => {
  it.each([
    ['nvidia', 'nvidia'],
    ['NVIDIA Corporation', 'nvidia'],
    ['0x10de', 'nvidia'],
    ['amd', 'amd'],
    ['Advanced Micro Devices, Inc.', 'amd'],
    ['ATI Technologies Inc.', 'amd'],
    ['0x1002', 'amd'],
    ['intel', 'intel'],
    ['0x8086', 'intel'],
    ['apple', 'apple'],
    ['Qualcomm', 'qualcomm'],
    ['arm', 'other'],
    ['google', 'other'],
    ['', 'other'],
    ['samd', 'other'],
  ] as const)('%s -> %s', (name, vendor) => {
    expect(acceleratorVendor(name)).toBe(vendor);
  });
});

describe('detectWebGpu', () => {
  it('reads adapter.info: the vendor mapped, the description as the product, one GPU, memory unknown', async () => {
    const gpu = fakeGpu(RTX);
    expect(await detectWebGpu(gpu)).toEqual([{ vendor: 'nvidia', product_name: 'NVIDIA GeForce RTX 4090', memory_mib: 0, count: 1 }]);
    // The high-performance adapter, asked of navigator.gpu itself.
    expect(gpu.requestAdapter).toHaveBeenCalledWith({ powerPreference: 'high-performance' });
    expect(gpu.requestAdapter.mock.contexts[0]).toBe(gpu);
  });

  it('falls back to requestAdapterInfo() where adapter.info is missing (older browsers)', async () => {
    expect(await detectWebGpu(fakeGpu(RTX, { legacy: true }))).toEqual([
      { vendor: 'nvidia', product_name: 'NVIDIA GeForce RTX 4090', memory_mib: 0, count: 1 },
    ]);
  });

  it('names the product by the description, else the device, else the vendor and architecture', async () => {
    const names = async (info: Record<string, unknown>) => (await detectWebGpu(fakeGpu(info))).map((a) => [a.vendor, a.product_name]);
    expect(await names({ vendor: 'amd', device: 'Radeon RX 7900 XTX', architecture: 'rdna-3' })).toEqual([['amd', 'Radeon RX 7900 XTX']]);
    // What Chromium tells by default: the vendor and the architecture only.
    expect(await names({ vendor: 'intel', architecture: 'gen-12lp', device: '', description: '' })).toEqual([['intel', 'intel gen-12lp']]);
    expect(await names({ vendor: 'apple', architecture: 'metal-3' })).toEqual([['apple', 'apple metal-3']]);
    expect(await names({ vendor: 'arm', description: 'Mali-G78\u0000 \n MP14' })).toEqual([['other', 'Mali-G78 MP14']]);
    const long = (await detectWebGpu(fakeGpu({ vendor: 'nvidia', description: 'X'.repeat(300) })))[0].product_name;
    expect([...long].length).toBe(MAX_PRODUCT_NAME_LENGTH);
  });

  it('finds nothing without WebGPU, an adapter, a hardware adapter or a product name', async () => {
    const none = [
      undefined,
      null,
      {},
      fakeGpu(RTX, { adapter: null }),
      fakeGpu(RTX, { adapter: { isFallbackAdapter: true } }),
      fakeGpu({ ...RTX, isFallbackAdapter: true }),
      fakeGpu({ vendor: 'nvidia', architecture: '', device: '', description: '' }),
      fakeGpu({}),
      { requestAdapter: () => Promise.reject(new Error('SecurityError')) },
      { requestAdapter: () => { throw new Error('not allowed'); } },
    ];
    for (const gpu of none) expect(await detectWebGpu(gpu as never)).toEqual([]);
  });

  it('gives up on an adapter that never comes', async () => {
    expect(await detectWebGpu(fakeGpu(RTX, { hang: true }), 5)).toEqual([]);
  });
});
