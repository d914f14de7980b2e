import type { Config, Redactor } from '@botctl/core';
import { LocalDirStorage } from './local-dir-storage.js';
import { RcloneStorage } from './rclone-storage.js';
import type { Storage } from './storage.js';

/** An offsite destination: a folder (mounted) or an rclone remote, with a `logs` folder below it. */
export type OffsiteStorage = Storage & { sub(name: string): OffsiteStorage; folders(): Promise<string[]> };

/**
 * The offsite destination the settings name (BACKUP_OFFSITE_REMOTE, an rclone remote, when set;
 * else the BACKUP_OFFSITE_DIR folder, guarded by BACKUP_OFFSITE_REQUIRE_MOUNT), as seen by this
 * tenant: its own folder `<destination>/<store id>/`, so that several tenants can share one
 * mount or remote. The destination's root, where earlier versions wrote every tenant's archives
 * side by side, is its `legacy` folder: read, filtered by store, never written.
 */
export function offsiteStorage(config: Config, redactor?: Redactor): OffsiteStorage | undefined {
  const root = offsiteRoot(config, redactor);
  if (!root) return undefined;
  return root instanceof RcloneStorage ? root.sub(config.storeId, root) : root.sub(config.storeId, root);
}

/** The destination itself, shared by every tenant that names it (probes, free space). */
function offsiteRoot(config: Config, redactor?: Redactor): (LocalDirStorage | RcloneStorage) | undefined {
  const b = config.backup;
  if (b.offsiteRemote) return new RcloneStorage({ remote: b.offsiteRemote, env: b.rcloneEnv, redactor });
  if (!b.offsiteDir) return undefined;
  return new LocalDirStorage(b.offsiteDir, 'offsite', { requireMountApartFrom: b.offsiteRequireMount ? b.localDir : undefined });
}

/** What to check when the offsite copy failed, naming the setting in use. */
export function offsiteHint(config: Config): string {
  return config.backup.offsiteRemote
    ? `check BACKUP_OFFSITE_REMOTE=${config.backup.offsiteRemote} (\`botctl doctor offsite\` tests write, read, rename and delete)`
    : 'check BACKUP_OFFSITE_DIR (mounted? writable? space?; `botctl doctor offsite` tests it)';
}
