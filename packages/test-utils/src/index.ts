export * from './temp.js';
export * from './fake-bin.js';
export * from './cli.js';
export * from './tenant.js';
export * from './fake-pg-dump.js';
export * from './db.js';
export { startEphemeralCluster, type EphemeralCluster, FixedClock } from '@botctl/core';
export * from './fake-bot-api.js';
