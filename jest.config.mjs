// ESM jest: TypeScript sources are compiled by @swc/jest; node runs with --experimental-vm-modules.
// Workspace packages resolve to their sources so unit tests need no build; end-to-end tests
// spawn the built CLI (pnpm test builds first).
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

export default {
  testEnvironment: 'node',
  // Jest 30's default 'soft' globals clean-up wraps what a test file left on `process`, and a
  // write to a wrapped data property recurses forever (jestjs/jest#16044, #16443, still open in
  // 30.5.1): signal-exit (used by execa) keeps its emitter on process.__signal_exit_emitter__ and
  // bumps its count in the next test file of the same worker, which crashed a worker once.
  testEnvironmentOptions: { globalsCleanup: 'off' },
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    '^@botctl/core/(errors|secret|shipped)$': '<rootDir>/packages/core/src/$1.ts',
    '^@botctl/(core|test-utils|maintenance|bot)$': '<rootDir>/packages/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  roots: ['<rootDir>/packages'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 120_000,
  maxWorkers: 2,
};
