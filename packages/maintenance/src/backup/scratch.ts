import os from 'node:os';
import { quoteIdent, quoteLiteral, type Sql } from '@botctl/core';
import { bootId, holderState, processStartTime } from '../lock/maintenance-lock.js';

/**
 * Databases botctl creates for a while (a drill's scratch database, the new database of
 * `restore --new-db` until its restore commits) carry a comment saying whose they are: the
 * store, and the process that made them (pid, host, boot id, start time). One left behind by a
 * process that died (kill -9, a reboot) is found by the next drill or health check of the same
 * store and dropped; another store's, or one whose maker still runs, is never touched.
 */
export interface ScratchMark {
  botctl: 'drill' | 'restore';
  store_id: string;
  pid: number;
  host: string;
  boot_id?: string;
  pid_start?: number;
  at: string;
}

export function scratchMark(kind: ScratchMark['botctl'], storeId: string, now: Date): ScratchMark {
  const boot = bootId();
  const start = processStartTime(process.pid);
  return {
    botctl: kind,
    store_id: storeId,
    pid: process.pid,
    host: os.hostname(),
    ...(boot ? { boot_id: boot } : {}),
    ...(start !== undefined ? { pid_start: start } : {}),
    at: now.toISOString(),
  };
}

export async function markScratch(admin: Sql, database: string, mark: ScratchMark): Promise<void> {
  await admin.unsafe(`COMMENT ON DATABASE ${quoteIdent(database)} IS ${quoteLiteral(JSON.stringify(mark))}`);
}

/** The statement that clears the mark (inside the restore's transaction: gone exactly when it commits). */
export function unmarkScratchSql(database: string): string {
  return `COMMENT ON DATABASE ${quoteIdent(database)} IS NULL;`;
}

export interface ScratchDatabase {
  name: string;
  mark: ScratchMark | undefined;
}

/** Databases with a botctl mark, and drill databases without one (made before marks). */
export async function listScratch(admin: Sql): Promise<ScratchDatabase[]> {
  const rows = await admin.unsafe<{ datname: string; comment: string | null }[]>(
    `SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database
      WHERE datname LIKE 'botctl\\_drill\\_%' OR shobj_description(oid, 'pg_database') LIKE '{"botctl":%'`,
  );
  return rows.map((r) => {
    let mark: ScratchMark | undefined;
    try {
      const m = r.comment ? (JSON.parse(r.comment) as ScratchMark) : undefined;
      if (m && (m.botctl === 'drill' || m.botctl === 'restore') && typeof m.pid === 'number') mark = m;
    } catch {
      mark = undefined;
    }
    return { name: r.datname, mark };
  });
}

/** This store's scratch databases whose maker is dead. */
export function staleOf(list: ScratchDatabase[], storeId: string): ScratchDatabase[] {
  return list.filter((d) => d.mark && d.mark.store_id === storeId && holderState(d.mark) === 'dead');
}

/** Drops this store's stale scratch databases; returns what was dropped and what could not be. */
export async function dropStaleScratch(admin: Sql, storeId: string): Promise<{ dropped: ScratchDatabase[]; failed: { name: string; error: string }[] }> {
  const dropped: ScratchDatabase[] = [];
  const failed: { name: string; error: string }[] = [];
  for (const d of staleOf(await listScratch(admin), storeId)) {
    try {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(d.name)} WITH (FORCE)`);
      dropped.push(d);
    } catch (error) {
      failed.push({ name: d.name, error: (error as Error).message });
    }
  }
  return { dropped, failed };
}
