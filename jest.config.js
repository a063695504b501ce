/** ESM mode: probot 14, nock 14 and @kubernetes/client-node are ESM-only. */
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Every test fails when it made the app send GitHub a request GitHub would refuse.
  setupFilesAfterEnv: ['<rootDir>/test/support/contract-guard.ts'],
  testTimeout: 60000,
  // One worker, recycled when a file leaves it above this: ESM test modules are never
  // freed (vm modules), so one in-band process over all ~100 files outgrows Node's heap.
  workerIdleMemoryLimit: '1536MB',
  // nock's interceptor lives on the global scope between files; jest's soft cleanup only warns about it.
  testEnvironmentOptions: { globalsCleanup: 'off' },
};
