import { defineConfig } from 'vitest/config';

// Unit tests only (test/**/*.test.ts); the browser end-to-end script is e2e/browser.mjs (npm run e2e).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    restoreMocks: true,
  },
});
