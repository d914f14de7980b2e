import { randomBytes } from 'node:crypto';
import {
  BotctlError,
  countRows,
  createSql,
  DatabaseError,
  ExitCode,
  formatDuration,
  IntegrityError,
  isoWithOffset,
  listUserTables,
  loadMigrations,
  type Sql,
  tableChecksum,
  zonedStamp,
} from '@botctl/core';
import type { Storage } from '../storage/storage.js';
import { inspectArchive } from '../archive/archive-reader.js';
import { catalogScope, type Location, type ResolvedArchive } from './catalog.js';
import { type DrillRecord, MAX_HISTORY, parseSidecar, sidecarName } from '../archive/format.js';
import { startPgRestore } from './pg-restore-sink.js';
import { latestArchive, readSidecarOf, type RestoreDeps } from './restore-backup.js';
import { clearPending, dropStaleScratch, markScratch, notePending, scratchMark } from './scratch.js';
import { adminSql, createDatabase, dbnameConninfo, dropDatabase, scratchTarget, targetEnv } from './targets.js';

export type DrillDeps = Omit<RestoreDeps, 'encryption' | 'toolVersion' | 'dumperFor'>;

interface DrillTable {
  schema: string;
  table: string;
  expected: number;
  restored: number;
  checksum: 'match' | 'mismatch' | 'not recorded';
}

interface SanityCheck {
  name: string;
  ok: boolean;
  /** How many rows break the rule. */
  found: number;
}

export interface DrillResult {
  ok: boolean;
  archive: string;
  location: Location;
  scratch_database: string;
  scratch_dropped: boolean;
  /** Scratch databases of this store left by drills that died (kill -9, a reboot), dropped first. */
  stale_dropped: string[];
  restore_ms: number;
  duration_ms: number;
  tables: DrillTable[];
  rows: number;
  /**
   * The shop's own rules on the restored data, apart from the restore's verdict: a broken rule
   * is a finding about the data, not a failed restore. Empty when the schema is not the shop's.
   */
  sanity: SanityCheck[];
  /** true: every rule holds; false: a rule is broken; null: not the shop's schema, not checked. */
  sanity_ok: boolean | null;
  /** Why the rules were not applied (another application's schema). */
  sanity_skipped?: string;
  error?: { code: string; message: string };
}

/** Invariants of the shop schema, checked when its tables are there. Each query counts offenders. */
const SHOP_SANITY: { name: string; needs: string[]; sql: string }[] = [
  {
    name: 'every order has at least one item',
    needs: ['orders', 'order_items'],
    sql: 'SELECT count(*) AS n FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)',
  },
  {
    name: 'sold stock belongs to an order',
    needs: ['product_stock_items'],
    sql: "SELECT count(*) AS n FROM product_stock_items WHERE status <> 'available' AND order_id IS NULL",
  },
  {
    name: 'completed payments belong to paid orders',
    needs: ['payments', 'orders'],
    sql: "SELECT count(*) AS n FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.status = 'completed' AND o.status NOT IN ('paid', 'delivered')",
  },
  {
    name: "buyers' balances equal their ledger",
    needs: ['users', 'balance_ledger'],
    // One grouped pass over the ledger (a hash join), not a correlated sum per user: the ledger
    // has no index on user_id and a per-user scan turns a 1 GiB drill into minutes.
    sql: 'SELECT count(*) AS n FROM users u LEFT JOIN (SELECT user_id, sum(delta) AS total FROM balance_ledger GROUP BY user_id) l ON l.user_id = u.id WHERE u.balance <> coalesce(l.total, 0)',
  },
];

/**
 * The rules are the shop's, and hold only on the shop's schema: one whose schema_migrations
 * lists our migrations (names and versions), and nothing we do not know. Another application's
 * tables called `orders` follow other rules (a refunded order may keep its completed payment).
 */
async function shopSchema(sql: Sql): Promise<string | undefined> {
  const [reg] = await sql<{ t: string | null }[]>`SELECT to_regclass('public.schema_migrations')::text AS t`;
  if (!reg?.t) return "no schema_migrations table: not the shop bot's schema";
  const rows = await sql<{ version: number; name: string }[]>`SELECT version, name FROM public.schema_migrations ORDER BY version`;
  const known = new Map(loadMigrations().map((m) => [m.version, m.name]));
  if (rows.length === 0) return "schema_migrations is empty: not the shop bot's schema";
  const foreign = rows.find((r) => known.get(Number(r.version)) !== r.name);
  if (foreign) return `schema_migrations lists ${foreign.version} ${foreign.name}, not one of the shop bot's migrations`;
  return undefined;
}

async function runSanity(sql: Sql): Promise<SanityCheck[]> {
  const present = new Set((await listUserTables(sql)).filter((t) => t.schema === 'public').map((t) => t.table));
  const out: SanityCheck[] = [];
  for (const check of SHOP_SANITY) {
    if (!check.needs.every((t) => present.has(t))) continue;
    const [row] = await sql.unsafe<{ n: string }[]>(check.sql);
    const found = Number(row?.n ?? 0);
    out.push({ name: check.name, ok: found === 0, found });
  }
  return out;
}

async function recordDrill(storage: Storage, name: string, rec: DrillRecord): Promise<void> {
  const raw = await storage.readSmall(sidecarName(name));
  const sc = raw ? parseSidecar(raw.toString('utf8')) : undefined;
  if (!sc) return;
  sc.drills = [...sc.drills, rec].slice(-MAX_HISTORY);
  await storage.writeSmall(sidecarName(name), `${JSON.stringify(sc, null, 2)}\n`);
}

/**
 * The owners' words for a passed drill (botctl's and the bot's alike); `loud` when the restored
 * data breaks a shop rule, which someone should look at.
 */
export function drillPassedText(result: DrillResult): { text: string; loud: boolean } {
  const broken = result.sanity.filter((c) => !c.ok);
  return {
    text:
      `Uji restore (drill) lulus: ${result.archive}, ${result.tables.length} tabel, ${result.rows} baris cocok; waktu restore ${formatDuration(result.restore_ms)}` +
      (broken.length ? `\n⚠️ Data toko perlu dicek: ${broken.map((c) => `${c.name} (${c.found} baris)`).join('; ')}` : ''),
    loud: broken.length > 0,
  };
}

/**
 * `backup drill`, the plan's monthly restore test: restore into a scratch database with a
 * unique name, compare every table's row count (and, where the manifest has one, a checksum of
 * its ordered contents) with what was recorded at dump time, run the shop's sanity queries, and
 * drop the scratch database on every exit path. The result and the restore time (what a real
 * recovery would take) go into the sidecar and the maintenance log.
 */
export async function drillBackup(
  deps: DrillDeps,
  opts: { archive: ResolvedArchive | 'latest' },
): Promise<{ result: DrillResult; error: BotctlError | undefined }> {
  const { config, reporter, log } = deps;
  const t0 = performance.now();
  const lock = deps.lock('backup drill');
  let archive: ResolvedArchive | undefined;
  const scratch = `botctl_drill_${zonedStamp(deps.clock.now(), config.timezone).replace('-', '_')}_${randomBytes(3).toString('hex')}`;
  const result: DrillResult = {
    ok: false,
    archive: '',
    location: 'local',
    scratch_database: scratch,
    scratch_dropped: false,
    stale_dropped: [],
    restore_ms: 0,
    duration_ms: 0,
    tables: [],
    rows: 0,
    sanity: [],
    sanity_ok: null,
  };
  let admin: Sql | undefined;
  let created = false;
  let failure: BotctlError | undefined;
  try {
    const stores: { location: Location; storage: Storage }[] = [{ location: 'local', storage: deps.local }];
    if (deps.offsite) stores.push({ location: 'offsite', storage: deps.offsite });
    archive = opts.archive === 'latest' ? await latestArchive(stores, catalogScope(config, deps.clock.now())) : opts.archive;
    result.archive = archive.name;
    result.location = archive.location;
    const sidecar = await readSidecarOf(archive.storage, archive.name);
    const decryption = await deps.decryption();
    const target = scratchTarget(config, scratch, deps.env);
    admin = adminSql(target, config);
    // A drill killed before it could drop its scratch database left it behind: drop it now.
    const stale = await dropStaleScratch(admin, config.storeId, config.stateDir).catch(() => ({ dropped: [], failed: [] }));
    for (const d of stale.dropped) {
      const w = `dropped the scratch database ${d.name} left by a drill that died (pid ${d.mark?.pid} on ${d.mark?.host})`;
      reporter.warn(w);
      log.warn(`Drill: ${w}`);
      result.stale_dropped.push(d.name);
    }
    // The mark is noted first: a drill killed between CREATE and COMMENT leaves a database the next one can still tell is its own.
    const mark = scratchMark('drill', config.storeId, deps.clock.now());
    await notePending(config.stateDir, scratch, mark);
    await createDatabase(admin, scratch, config);
    created = true;
    await markScratch(admin, scratch, mark);
    await clearPending(config.stateDir, scratch);
    reporter.step(`Drill: restoring ${archive.name} into scratch database "${scratch}"`);

    const sink = startPgRestore({
      args: ['--no-owner', '--no-acl', '--single-transaction', '--exit-on-error', `--dbname=${dbnameConninfo(scratch)}`],
      env: targetEnv(target),
      binDir: deps.pgBinDir,
      redactor: deps.redactor,
      signal: deps.signal,
      onFailure: (stderr) => new DatabaseError(`pg_restore failed during the drill${stderr ? `: ${stderr}` : ''}`),
    });
    const progress = reporter.progress('drill', sidecar.size);
    const r0 = performance.now();
    let inspected;
    try {
      inspected = await inspectArchive(
        await archive.storage.read(archive.name),
        decryption,
        {
          onDump: (c) => sink.write(c),
          onDumpEnd: async () => {
            await sink.end();
            result.restore_ms = Math.round(performance.now() - r0);
          },
          onCiphertextBytes: (n) => progress.update(n),
        },
        sidecar,
      );
    } catch (error) {
      sink.abort();
      throw error;
    } finally {
      progress.done();
    }
    if (inspected.sha256 !== sidecar.sha256) throw new IntegrityError(`${archive.name} does not match the SHA-256 in its sidecar`);
    const manifest = inspected.manifest;
    result.rows = manifest.row_total;

    const sql = createSql(target.url, { max: 1, applicationName: 'botctl drill' });
    try {
      for (const t of manifest.tables) {
        const restored = await countRows(sql, t);
        let checksum: DrillTable['checksum'] = 'not recorded';
        if (t.checksum) checksum = (await tableChecksum(sql, t)) === t.checksum ? 'match' : 'mismatch';
        result.tables.push({ schema: t.schema, table: t.table, expected: t.rows, restored, checksum });
      }
      const notShop = await shopSchema(sql);
      if (notShop) result.sanity_skipped = notShop;
      else {
        result.sanity = await runSanity(sql);
        result.sanity_ok = result.sanity.every((c) => c.ok);
      }
    } finally {
      await sql.end({ timeout: 5 });
    }
    const badCount = result.tables.find((t) => t.restored !== t.expected);
    if (badCount) {
      throw new IntegrityError(`drill: ${badCount.schema}.${badCount.table} restored ${badCount.restored} rows, the manifest recorded ${badCount.expected}`);
    }
    const badSum = result.tables.find((t) => t.checksum === 'mismatch');
    if (badSum) throw new IntegrityError(`drill: the contents of ${badSum.schema}.${badSum.table} differ from the checksum recorded at dump time`);
    result.ok = true;
    for (const c of result.sanity.filter((x) => !x.ok)) {
      const w = `the restored data breaks a shop rule: ${c.name} (${c.found} rows); the restore itself is good`;
      reporter.warn(w);
      log.warn(`Drill: ${w}`);
    }
  } catch (error) {
    const e = error instanceof BotctlError ? error : new BotctlError('DRILL_FAILED', ExitCode.FAILURE, (error as Error).message, { cause: error });
    result.error = { code: e.code, message: e.message };
    failure = e;
  } finally {
    if (admin) {
      if (created) {
        try {
          await dropDatabase(admin, scratch);
          result.scratch_dropped = true;
        } catch (error) {
          log.error(`Drill: database scratch "${scratch}" TIDAK terhapus: ${(error as Error).message}`);
        }
      } else {
        result.scratch_dropped = true;
      }
      await admin.end({ timeout: 5 }).catch(() => undefined);
    } else {
      result.scratch_dropped = true;
    }
    result.duration_ms = Math.round(performance.now() - t0);
    if (archive) {
      const rec: DrillRecord = {
        at: isoWithOffset(deps.clock.now(), config.timezone),
        ok: result.ok,
        restore_ms: result.restore_ms,
        tables: result.tables.length,
        rows: result.rows,
        ...(result.error ? { error: result.error.message } : {}),
      };
      // A key or configuration problem says nothing about the backup: not recorded against it.
      const aboutArchive = result.ok || result.error?.code === 'INTEGRITY' || result.error?.code === 'DATABASE' || result.error?.code === 'NOT_A_BACKUP';
      if (aboutArchive) await recordDrill(archive.storage, archive.name, rec).catch(() => undefined);
      if (result.ok) {
        log.info(`Uji restore (drill) OK: ${archive.name} (${result.tables.length} tabel, ${result.rows} baris, restore ${formatDuration(result.restore_ms)})`);
      } else {
        log.error(`Uji restore (drill) GAGAL: ${archive.name}: ${result.error?.message}`);
      }
    }
    lock.release();
  }
  return { result, error: failure };
}
