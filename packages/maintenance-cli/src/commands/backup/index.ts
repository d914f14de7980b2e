import type { Command } from 'commander';
import type { Run } from '../types.js';
import { registerBackupCreate } from './create.js';
import { registerBackupDrill } from './drill.js';
import { registerBackupList } from './list.js';
import { registerBackupOffsite } from './offsite.js';
import { registerBackupPrune } from './prune.js';
import { registerBackupRestore } from './restore.js';
import { registerBackupVerify } from './verify.js';

/** `botctl backup …`: its subcommands, in the order --help lists them. */
export function registerBackup(cmd: Command, run: Run): void {
  for (const register of [
    registerBackupCreate,
    registerBackupList,
    registerBackupVerify,
    registerBackupRestore,
    registerBackupPrune,
    registerBackupDrill,
    registerBackupOffsite,
  ]) {
    register(cmd, run);
  }
}
