import fsp from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError, NotFoundError, RefusedError } from '@botctl/core';
import type { ArchiveDecryption } from '../archive/encryption.js';
import { checkWay, createExclusive, joinInside, makeWay } from '../archive/safe-path.js';
import type { Storage } from '../storage/storage.js';
import { type LogArchiveSidecar, logSidecarIsOurs, parseLogArchiveName, readLogArchive, readLogSidecar } from './log-archive.js';
import type { LogArchiveStores } from './rotate.js';

export interface LogArchiveEntry {
  name: string;
  month: string;
  part: number;
  size_bytes: number;
  files: number | null;
  first_day: string | null;
  last_day: string | null;
  created_at: string | null;
  sha256: string | null;
  local: boolean;
  offsite: boolean;
  /** The offsite copy has the same size and the same SHA-256 in its sidecar as the local one. */
  offsite_matches: boolean | null;
}

/** Log archives in LOG_ARCHIVE_DIR and offsite, newest month first. */
/**
 * This store's log archives in one storage and, after it, its legacy folder: an archive whose
 * sidecar names another store is left out; in a legacy (shared) folder, so is one without a sidecar.
 */
async function ownLogArchives(
  storage: Storage,
  stores: Pick<LogArchiveStores, 'storeId' | 'storeName'>,
): Promise<{ name: string; size: number; sc: LogArchiveSidecar | undefined; storage: Storage }[]> {
  const out: { name: string; size: number; sc: LogArchiveSidecar | undefined; storage: Storage }[] = [];
  for (const [place, legacy] of [[storage, false], ...(storage.legacy ? [[storage.legacy, true] as const] : [])] as const) {
    for (const o of await place.list()) {
      if (!parseLogArchiveName(o.name) || out.some((x) => x.name === o.name)) continue;
      const sc = await readLogSidecar(place, o.name);
      const ours = sc ? logSidecarIsOurs(sc, stores.storeId, stores.storeName) : !legacy;
      if (ours) out.push({ name: o.name, size: o.size, sc, storage: place });
    }
  }
  return out;
}

export async function listLogArchives(stores: LogArchiveStores): Promise<{ archives: LogArchiveEntry[]; offsite_error?: string }> {
  const map = new Map<string, { local?: { size: number; sc?: LogArchiveSidecar }; offsite?: { size: number; sc?: LogArchiveSidecar } }>();
  const collect = async (where: 'local' | 'offsite', storage: Storage) => {
    for (const o of await ownLogArchives(storage, stores)) {
      const e = map.get(o.name) ?? {};
      e[where] = { size: o.size, ...(o.sc ? { sc: o.sc } : {}) };
      map.set(o.name, e);
    }
  };
  await collect('local', stores.local);
  let offsiteError: string | undefined;
  if (stores.offsite) await collect('offsite', stores.offsite).catch((error: Error) => (offsiteError = error.message));
  const archives = [...map].map(([name, e]): LogArchiveEntry => {
    const p = parseLogArchiveName(name)!;
    const sc = e.local?.sc ?? e.offsite?.sc;
    const days = (sc?.files ?? [])
      .map((f) => /(\d{4}-\d{2}-\d{2})\.log/.exec(f.name)?.[1])
      .filter((d): d is string => Boolean(d))
      .sort();
    return {
      name,
      month: p.month,
      part: p.part,
      size_bytes: (e.local ?? e.offsite)!.size,
      files: sc ? sc.files.length : null,
      first_day: days[0] ?? null,
      last_day: days[days.length - 1] ?? null,
      created_at: sc?.created_at ?? null,
      sha256: sc?.sha256 ?? null,
      local: Boolean(e.local),
      offsite: Boolean(e.offsite),
      offsite_matches: e.local && e.offsite ? e.local.size === e.offsite.size && Boolean(e.offsite.sc) && e.local.sc?.sha256 === e.offsite.sc?.sha256 : null,
    };
  });
  archives.sort((a, b) => b.month.localeCompare(a.month) || b.part - a.part);
  return { archives, ...(offsiteError ? { offsite_error: offsiteError } : {}) };
}

export interface ExtractResult {
  archive: string;
  from: 'local' | 'offsite';
  out_dir: string;
  files: { name: string; size: number; path: string }[];
}

/**
 * `botctl logs extract`: decrypts an archive (a month `YYYY-MM` takes every part of it) into
 * `outDir`, checking each file against the manifest. Never overwrites: an existing file stops
 * the extraction before anything is written.
 */
export async function extractLogArchive(
  stores: LogArchiveStores,
  decryption: ArchiveDecryption,
  which: string,
  outDir: string,
  only?: (name: string) => boolean,
): Promise<ExtractResult[]> {
  const available: { name: string; storage: Storage; from: 'local' | 'offsite' }[] = [];
  for (const [from, storage] of [
    ['local', stores.local],
    ['offsite', stores.offsite],
  ] as const) {
    if (!storage) continue;
    for (const o of await ownLogArchives(storage, stores).catch(() => [])) {
      const p = parseLogArchiveName(o.name)!;
      if (available.some((a) => a.name === o.name)) continue;
      if (o.name === which || p.month === which || o.name === path.basename(which)) available.push({ name: o.name, storage: o.storage, from });
    }
  }
  if (available.length === 0) {
    throw new NotFoundError(
      `no log archive ${JSON.stringify(which)} in ${stores.local.description}${stores.offsite ? ` or ${stores.offsite.description}` : ''}`,
      {
        hint: 'see `botctl logs list`; give a month (YYYY-MM) or an archive name',
      },
    );
  }
  const order = (n: string) => parseLogArchiveName(n)!;
  available.sort((a, b) => order(a.name).month.localeCompare(order(b.name).month) || order(a.name).part - order(b.name).part);
  // Refuse before writing anything when a target exists (names from the sidecars, when present).
  for (const a of available) {
    const sc = await readLogSidecar(a.storage, a.name);
    for (const f of sc?.files ?? []) {
      if (only && !only(f.name)) continue;
      const dest = joinInside(outDir, f.name);
      if (await fsp.lstat(dest).catch(() => undefined)) {
        throw new RefusedError(`${dest} already exists; refusing to overwrite it`, { hint: 'choose an empty --out folder' });
      }
    }
  }
  const results: ExtractResult[] = [];
  for (const a of available) {
    const sc = await readLogSidecar(a.storage, a.name);
    const written: ExtractResult['files'] = [];
    await readLogArchive(
      a.storage,
      a.name,
      decryption,
      async (m) => {
        if (only && !only(m.name)) return undefined;
        const dest = joinInside(outDir, m.name);
        checkWay(outDir, dest);
        await makeWay(outDir, path.dirname(dest), 0o750);
        const fh = await createExclusive(dest, 0o640).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'EEXIST') throw new RefusedError(`${dest} already exists; refusing to overwrite it`, { hint: 'choose an empty --out folder' });
          throw error;
        });
        try {
          for await (const c of m.body) await fh.write(c);
          await fh.sync();
        } finally {
          await fh.close();
        }
        if (m.mtime) await fsp.utimes(dest, m.mtime, m.mtime).catch(() => undefined);
        written.push({ name: m.name, size: m.size, path: dest });
        return undefined;
      },
      sc?.encryption,
    ).catch(async (error: unknown) => {
      // A file that failed its check must not stay behind looking like a good copy.
      if (error instanceof IntegrityError) for (const w of written) await fsp.rm(w.path, { force: true });
      throw error;
    });
    results.push({ archive: a.name, from: a.from, out_dir: outDir, files: written });
  }
  return results;
}
