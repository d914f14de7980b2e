import { type Storage, storagePath } from '../storage/storage.js';
import { hashObject } from '../storage/hash-object.js';
import { type Sidecar, sidecarName } from '../archive/format.js';

export type OffsiteResult =
  | { status: 'skipped' }
  | { status: 'ok'; path: string; sha256: string; caught_up?: string[] }
  | { status: 'failed'; error: string; path?: string };

/**
 * Copies a finished backup to the offsite storage: archive first (atomic put), checked against
 * the sidecar's hash while writing and again by reading the copy back, then the sidecar last.
 * Any failure removes what was copied and is reported, never thrown: the local backup stands.
 */
export async function copyToOffsite(args: { local: Storage; offsite: Storage; name: string; sidecar: Sidecar; signal?: AbortSignal }): Promise<OffsiteResult> {
  const { local, offsite, name, sidecar, signal } = args;
  const where = storagePath(offsite, name);
  let copied = false;
  try {
    const existing = await offsite.stat(name);
    if (existing) {
      // Already there (a re-run): accept it only if it is the same archive.
      const h = await hashObject(offsite, name, signal);
      if (h.sha256 !== sidecar.sha256) throw new Error(`a different ${name} already exists offsite`);
    } else {
      const put = await offsite.put(name, await local.read(name), { signal, mode: 0o600 });
      copied = true;
      if (put.sha256 !== sidecar.sha256 || put.size !== sidecar.size) throw new Error('the copy written offsite does not match the local archive');
      const back = await hashObject(offsite, name, signal);
      if (back.sha256 !== sidecar.sha256) throw new Error('the offsite copy read back with a different SHA-256');
    }
    await offsite.writeSmall(sidecarName(name), `${JSON.stringify(sidecar, null, 2)}\n`);
    return { status: 'ok', path: where, sha256: sidecar.sha256 };
  } catch (error) {
    if (copied) await offsite.remove(name).catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code;
    const message = error instanceof Error ? error.message : String(error);
    return { status: 'failed', path: where, error: code === 'ENOSPC' ? `no space left on the offsite destination (${where})` : message };
  }
}
