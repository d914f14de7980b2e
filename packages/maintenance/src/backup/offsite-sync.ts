import type { Logger } from '@botctl/core';
import type { Reporter } from '../reporter/reporter.js';
import type { Storage } from '../storage/storage.js';
import { type BackupEntry, type CatalogScope, listBackups } from './catalog.js';
import { copyToOffsite } from './offsite.js';

/** This store's complete local backups without a complete offsite copy (pre-restore copies stay local). */
export function missingOffsite(entries: BackupEntry[]): BackupEntry[] {
  return entries.filter(
    (e) =>
      e.complete &&
      e.kind !== 'pre-restore' &&
      e.copies.some((c) => c.location === 'local' && c.sidecar) &&
      !e.copies.some((c) => c.location === 'offsite' && c.sidecar),
  );
}

export interface SyncResult {
  copied: string[];
  failed: { name: string; error: string }[];
}

/**
 * Copies every local backup that lacks its offsite copy (a night the destination was down),
 * oldest first, the same way `backup create --offsite` copies a new one: archive under a
 * temporary name, checked by reading it back, sidecar last.
 */
export async function syncOffsite(
  deps: { local: Storage; offsite: Storage; reporter: Reporter; log: Logger; signal?: AbortSignal | undefined },
  scope: CatalogScope,
  opts: { except?: string } = {},
): Promise<SyncResult> {
  const entries = await listBackups(
    [
      { location: 'local', storage: deps.local },
      { location: 'offsite', storage: deps.offsite },
    ],
    scope,
  );
  const todo = missingOffsite(entries)
    .filter((e) => e.name !== opts.except)
    .reverse();
  const result: SyncResult = { copied: [], failed: [] };
  for (const e of todo) {
    deps.signal?.throwIfAborted();
    const sidecar = e.copies.find((c) => c.location === 'local' && c.sidecar)!.sidecar!;
    deps.reporter.step(`Copying ${e.name} offsite (its copy was missing)`);
    const r = await copyToOffsite({ local: deps.local, offsite: deps.offsite, name: e.name, sidecar, ...(deps.signal ? { signal: deps.signal } : {}) });
    if (r.status === 'ok') {
      result.copied.push(e.name);
      deps.log.info(`Salinan offsite yang tertinggal dibuat: ${r.path}`);
    } else if (r.status === 'failed') {
      result.failed.push({ name: e.name, error: r.error });
      deps.log.error(`Salinan offsite yang tertinggal gagal: ${e.name}: ${r.error}`);
      // The destination is in trouble: the rest can wait for the next run.
      break;
    }
  }
  return result;
}
