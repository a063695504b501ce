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
  // Every test fails when it made the app send GitHub a request GitHub would refuse; every
  // file takes its nock off when it ends (nock-per-file.ts).
  setupFilesAfterEnv: ['<rootDir>/test/support/contract-guard.ts', '<rootDir>/test/support/nock-per-file.ts'],
  testTimeout: 60000,
  // One worker, recycled when a file leaves it above this: ESM test modules are never
  // freed (vm modules), so one in-band process over all ~170 files outgrows Node's heap.
  // Low enough that the heaviest file (200 apps, deploy-write-budget: ~400 MB alone)
  // starts well under the worker's heap limit (npm test gives it 6 GB).
  workerIdleMemoryLimit: '1024MB',
  // nock's interceptor lives on the global scope between files; jest's soft cleanup only warns about it.
  testEnvironmentOptions: { globalsCleanup: 'off' },
};
