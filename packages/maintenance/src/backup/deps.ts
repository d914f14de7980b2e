import type { Clock, Config, Logger } from '@botctl/core';
import type { HeldLock } from '../lock/maintenance-lock.js';
import type { Reporter } from '../reporter/reporter.js';
import type { Storage } from '../storage/storage.js';

/** What every backup operation works with: settings, the two storages, output, log, clock, lock. */
export interface BackupStoreDeps {
  config: Config;
  local: Storage;
  offsite?: Storage | undefined;
  reporter: Reporter;
  log: Logger;
  clock: Clock;
  lock: (command: string) => HeldLock;
}
