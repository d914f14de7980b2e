import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { quoteIdent, quoteLiteral, type Sql, writeFileAtomic } from '@botctl/core';
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

/** Databases with a botctl mark, and drill and --new-db databases without one (made before marks, or their maker died before marking). */
export async function listScratch(admin: Sql): Promise<ScratchDatabase[]> {
  const rows = await admin.unsafe<{ datname: string; comment: string | null }[]>(
    `SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database
      WHERE datname LIKE 'botctl\\_drill\\_%' OR datname LIKE 'botctl\\_newdb\\_%' OR shobj_description(oid, 'pg_database') LIKE '{"botctl":%'`,
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

/**
 * CREATE DATABASE and its COMMENT are two statements: a maker killed between them leaves a
 * database without a mark. So the mark is first written to `BOT_STATE_DIR/scratch-pending/`,
 * and removed once it is on the database (or the database is gone).
 */
const pendingDir = (stateDir: string) => path.join(stateDir, 'scratch-pending');

export async function notePending(stateDir: string, database: string, mark: ScratchMark): Promise<void> {
  await fsp.mkdir(pendingDir(stateDir), { recursive: true });
  await writeFileAtomic(path.join(pendingDir(stateDir), `${database}.json`), JSON.stringify(mark), 0o600);
}

export async function clearPending(stateDir: string, database: string): Promise<void> {
  await fsp.rm(path.join(pendingDir(stateDir), `${database}.json`), { force: true });
}

async function readPending(stateDir: string | undefined): Promise<Map<string, ScratchMark>> {
  const out = new Map<string, ScratchMark>();
  if (!stateDir) return out;
  for (const f of await fsp.readdir(pendingDir(stateDir)).catch(() => [] as string[])) {
    if (!f.endsWith('.json')) continue;
    try {
      const m = JSON.parse(await fsp.readFile(path.join(pendingDir(stateDir), f), 'utf8')) as ScratchMark;
      if (typeof m.pid === 'number' && typeof m.store_id === 'string') out.set(f.slice(0, -'.json'.length), m);
    } catch {
      // a note cut short: its maker died writing it, before it created anything
    }
  }
  return out;
}

/** This store's scratch databases whose maker is dead. */
export function staleOf(list: ScratchDatabase[], storeId: string): ScratchDatabase[] {
  return list.filter((d) => d.mark && d.mark.store_id === storeId && holderState(d.mark) === 'dead');
}

/**
 * Drops this store's stale scratch databases; returns what was dropped and what could not be.
 * With `stateDir`, a database not marked yet counts as marked by the note its maker left there.
 */
export async function dropStaleScratch(
  admin: Sql,
  storeId: string,
  stateDir?: string,
): Promise<{ dropped: ScratchDatabase[]; failed: { name: string; error: string }[] }> {
  const dropped: ScratchDatabase[] = [];
  const failed: { name: string; error: string }[] = [];
  const pending = await readPending(stateDir);
  const list = (await listScratch(admin)).map((d) => (d.mark ? d : { ...d, mark: pending.get(d.name) }));
  for (const d of staleOf(list, storeId)) {
    try {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(d.name)} WITH (FORCE)`);
      dropped.push(d);
      if (stateDir) await clearPending(stateDir, d.name);
    } catch (error) {
      failed.push({ name: d.name, error: (error as Error).message });
    }
  }
  // Notes of makers that died before they created anything, or whose database is gone.
  if (stateDir) {
    const names = new Set(list.map((d) => d.name));
    for (const [name, mark] of pending) if (!names.has(name) && mark.store_id === storeId && holderState(mark) === 'dead') await clearPending(stateDir, name);
  }
  return { dropped, failed };
}
