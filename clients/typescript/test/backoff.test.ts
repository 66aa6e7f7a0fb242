import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/index.js';

describe('backoffDelay', () => {
  it('doubles the step each attempt, with the jitter deciding where in [step/2, step] it lands', () => {
    const low = (a: number) => backoffDelay(a, { baseMs: 1000, capMs: 60_000, random: () => 0 });
    const high = (a: number) => backoffDelay(a, { baseMs: 1000, capMs: 60_000, random: () => 0.999999 });
    expect([0, 1, 2, 3].map(low)).toEqual([500, 1000, 2000, 4000]);
    expect([0, 1, 2, 3].map(high)).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelay(2, { baseMs: 1000, capMs: 60_000, random: () => 0.5 })).toBe(3000);
  });

  it('never exceeds the cap (the last heartbeat interval), however many attempts', () => {
    for (const attempt of [5, 10, 50, 2000]) {
      const d = backoffDelay(attempt, { baseMs: 1000, capMs: 2000, random: () => 0.999999 });
      expect(d).toBeLessThanOrEqual(2000);
      expect(d).toBeGreaterThanOrEqual(1000);
    }
  });

  it('spreads clients that failed together (different random draws give different delays)', () => {
    const draws = [0.1, 0.4, 0.7, 0.95].map((r) => backoffDelay(3, { baseMs: 1000, capMs: 60_000, random: () => r }));
    expect(new Set(draws).size).toBe(4);
    expect(draws).toEqual([4400, 5600, 6800, 7800]);
  });

  it('honours another growth factor', () => {
    expect(backoffDelay(2, { baseMs: 100, capMs: 10_000, factor: 3, random: () => 0 })).toBe(450);
  });
});
