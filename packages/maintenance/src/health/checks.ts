import {
  type BotApi,
  BotApiError,
  type Clock,
  type Config,
  createSql,
  formatBytes,
  formatDuration,
  formatDurasi,
  HEALTH_CHECK_IDS,
  humanTime,
  isoWithOffset,
  shopBotApi,
  readHeartbeat,
  readJobRecords,
  type Redactor,
  redactPatterns,
  type Sql,
  zonedParts,
  zonedToInstant,
} from '@botctl/core';
import { type BackupEntry, catalogScope, listBackups } from '../backup/catalog.js';
import { listBaseBackups } from '../wal/base-backup.js';
import { newestArchivedWal, type WalStores } from '../wal/wal-archive.js';
import { dropStaleScratch } from '../backup/scratch.js';
import {
  CRITICAL_USED,
  describeSpace,
  judgeBackupAge,
  judgeBotProcess,
  judgeDrill,
  judgeJobs,
  type Judgement,
  type Level,
  judgeOffsite,
  judgeSpace,
  newestBackup,
} from './judge.js';
import { lockHolderAlive, readLock } from '../lock/maintenance-lock.js';
import { isOffsiteUnusable, type Storage } from '../storage/storage.js';
import type { SystemProbe } from './system.js';

/** A check's result: a judgement's level, or unknown when it could not be checked. */
export type HealthStatus = Level | 'unknown';

/** Nagios order: the exit code is the worst status's rank. */
export const STATUS_RANK: Record<HealthStatus, number> = { ok: 0, warning: 1, critical: 2, unknown: 3 };

const CHECK_IDS = HEALTH_CHECK_IDS;
export type CheckId = (typeof CHECK_IDS)[number] | 'alerts';

/** Owner-facing names (Indonesian), used in alerts. */
export const CHECK_LABELS: Record<CheckId, string> = {
  database: 'Database',
  telegram: 'Bot Telegram',
  bot_process: 'Proses bot',
  disk: 'Disk',
  cpu: 'CPU',
  memory: 'RAM',
  log_size: 'Ukuran log',
  backup_age: 'Backup terbaru',
  backup_offsite: 'Salinan offsite',
  backup_verify: 'Verifikasi backup',
  backup_drill: 'Uji restore',
  maintenance_lock: 'Lock maintenance',
  backup_space: 'Ruang untuk backup',
  jobs: 'Job otomatis bot',
  wal_archive: 'Arsip WAL (titik pemulihan)',
  alerts: 'Alert owner',
};

export interface CheckResult {
  id: CheckId;
  status: HealthStatus;
  /** The fact behind the status, for the sysadmin (English). */
  fact: string;
  /** The same for the owner's alert (Indonesian). */
  fakta: string;
  /** The measured figure, when there is one (ratio, seconds, bytes); used for metrics. */
  value?: number;
}

/** Light metrics from the plan: shop activity, process uptime, resources. */
export interface HealthMetrics {
  transactions_today?: number;
  paid_today?: number;
  failed_today?: number;
  revenue_today?: number;
  error_rate_today?: number;
  bot_uptime_seconds?: number;
  cpu_busy_ratio?: number;
  memory_used_ratio?: number;
  disk_used_ratio?: number;
  log_bytes?: number;
  newest_backup?: { name: string; age_seconds: number; size_bytes: number; duration_seconds: number; created_at: string };
  last_drill?: { at: string; ok: boolean; restore_seconds: number };
  last_good_drill_at?: string;
  last_good_verification_at?: string;
  /** The cluster's WAL archive (WAL_CLUSTER_ENV_FILE): the real recovery point. */
  wal?: {
    archiving_failing: boolean;
    failed_count: number;
    last_archived_at?: string | undefined;
    newest_local_at?: string | undefined;
    newest_offsite_at?: string | undefined;
    newest_base_at?: string | undefined;
  };
}

export interface HealthDeps {
  config: Config;
  local: Storage;
  offsite: Storage | undefined;
  clock: Clock;
  system: SystemProbe;
  redactor: Redactor;
  /** The shop bot's API for getMe (default: HTTP with TELEGRAM_BOT_TOKEN). */
  botApi?: BotApi;
  cpuSampleMs?: number;
  signal?: AbortSignal;
  /** The cluster's WAL archive and base backups, when WAL_CLUSTER_ENV_FILE is set (loaded when the check runs). */
  wal?: () => WalHealthInputs;
}

export interface WalHealthInputs {
  cluster: Config;
  stores: WalStores;
  base: { local: Storage; offsite?: Storage | undefined };
}

const r = (id: CheckId, status: HealthStatus, fact: string, fakta: string, value?: number): CheckResult => ({
  id,
  status,
  fact,
  fakta,
  ...(value !== undefined ? { value } : {}),
});

const pct = (ratio: number) => `${(ratio * 100).toFixed(0)}%`;
const ago = (ms: number) => formatDuration(Math.max(0, ms));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${formatDuration(ms)}`), { code: 'CHECK_TIMEOUT' })), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Everything one health run measures: checks in a fixed order, and the light metrics. */
export async function runChecks(deps: HealthDeps): Promise<{ checks: CheckResult[]; metrics: HealthMetrics }> {
  const { config } = deps;
  const skip = new Set(config.health.skipChecks);
  const metrics: HealthMetrics = {};
  const now = deps.clock.now();
  const scrub = (s: string) => redactPatterns(deps.redactor.redact(s));

  // The backup catalog feeds five checks; read it once.
  const catalog = (async () => {
    const scope = catalogScope(config, now);
    const local = await listBackups([{ location: 'local', storage: deps.local }], scope);
    let offsite: BackupEntry[] | undefined;
    let offsiteError: OffsiteProblem | undefined;
    if (deps.offsite) {
      try {
        await deps.offsite.ready?.();
        offsite = await listBackups([{ location: 'offsite', storage: deps.offsite }], scope);
      } catch (error) {
        offsiteError = offsiteProblem(error, scrub);
      }
    }
    return { local, offsite, offsiteError };
  })();
  catalog.catch(() => undefined);

  const jobs: Record<(typeof CHECK_IDS)[number], () => Promise<CheckResult>> = {
    database: () => checkDatabase(deps, metrics, now, scrub),
    telegram: () => checkTelegram(deps),
    bot_process: async () => checkBotProcess(deps, metrics, now),
    disk: async () => checkDisk(deps, metrics, (await catalog).local),
    cpu: () => checkCpu(deps, metrics),
    memory: async () => checkMemory(deps, metrics),
    log_size: () => checkLogSize(deps, metrics),
    backup_age: async () => checkBackupAge(deps, (await catalog).local, metrics, now),
    backup_offsite: async () => checkOffsite(deps, await catalog),
    backup_verify: async () => checkVerify(deps, (await catalog).local, metrics, now),
    backup_drill: async () => checkDrill(deps, (await catalog).local, metrics, now),
    maintenance_lock: async () => checkLock(deps, now),
    backup_space: async () => checkSpace(deps, (await catalog).local),
    jobs: async () => fromJudgement('jobs', judgeJobs(config, readJobRecords(config.stateDir))),
    wal_archive: () => checkWalArchive(deps, metrics, now, scrub),
  };

  // The WAL archive is checked only where it is set up (WAL_CLUSTER_ENV_FILE).
  const ids = CHECK_IDS.filter((id) => !skip.has(id) && (id !== 'wal_archive' || deps.wal !== undefined));
  const checks = await Promise.all(
    ids.map(async (id) => {
      try {
        // Every check is bounded: a hung NFS mount or DNS lookup must not hang the whole run.
        return await withTimeout(jobs[id](), 60_000, id);
      } catch (error) {
        const msg = scrub((error as Error).message);
        return r(id, 'unknown', `could not check: ${msg}`, `tidak dapat dicek: ${msg}`);
      }
    }),
  );
  return { checks, metrics };
}

async function checkDatabase(deps: HealthDeps, metrics: HealthMetrics, now: Date, scrub: (s: string) => string): Promise<CheckResult> {
  const url = deps.config.databaseUrl;
  if (!url) return r('database', 'unknown', 'DATABASE_URL is not set', 'DATABASE_URL belum diisi');
  const timeoutMs = deps.config.health.dbTimeoutMs;
  const sql = createSql(url, { max: 1, connectTimeoutSeconds: Math.ceil(timeoutMs / 1000), idleTimeoutSeconds: 1 });
  const started = performance.now();
  try {
    await withTimeout(sql`SELECT 1`, timeoutMs, 'database');
    const ms = Math.round(performance.now() - started);
    await shopMetrics(sql, deps.config.timezone, now, metrics).catch(() => undefined);
    // Scratch databases of this store that a killed drill (or restore --new-db) left behind.
    const scratch = await withTimeout(dropStaleScratch(sql, deps.config.storeId, deps.config.stateDir), timeoutMs, 'scratch databases').catch(() => undefined);
    const notes: string[] = [];
    if (scratch?.dropped.length)
      notes.push(`dropped ${scratch.dropped.length} scratch database(s) a dead drill or restore left: ${scratch.dropped.map((d) => d.name).join(', ')}`);
    if (scratch?.failed.length) {
      return r(
        'database',
        'warning',
        `answered SELECT 1 in ${ms} ms; could not drop the stale scratch database(s) ${scratch.failed.map((f) => `${f.name} (${scrub(f.error)})`).join(', ')}`,
        `database scratch sisa uji restore tidak bisa dihapus`,
        ms / 1000,
      );
    }
    return r('database', 'ok', `answered SELECT 1 in ${ms} ms${notes.length ? `; ${notes.join('; ')}` : ''}`, `menjawab dalam ${ms} ms`, ms / 1000);
  } catch (error) {
    const e = error as { code?: string; message?: string };
    const why = e.code === 'ECONNREFUSED' ? 'connection refused' : scrub(e.message ?? String(error));
    return r('database', 'critical', `down: ${why}`, `DOWN: ${why}`);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}

/** Today's orders (in BOT_TIMEZONE) when the shop tables exist. */
export async function shopMetrics(sql: Sql, timeZone: string, now: Date, metrics: HealthMetrics): Promise<void> {
  const [t] = await sql<{ ok: boolean }[]>`SELECT to_regclass('public.orders') IS NOT NULL AS ok`;
  if (!t?.ok) return;
  const p = zonedParts(now, timeZone);
  const dayStart = zonedToInstant({ year: p.year, month: p.month, day: p.day, hour: 0, minute: 0, second: 0 }, timeZone);
  const [row] = await sql<{ total: string; paid: string; failed: string; revenue: string }[]>`
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status IN ('paid', 'delivered')) AS paid,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           coalesce(sum(total_amount) FILTER (WHERE status IN ('paid', 'delivered')), 0) AS revenue
      FROM orders WHERE created_at >= ${dayStart} AND created_at <= ${now}`;
  if (!row) return;
  metrics.transactions_today = Number(row.total);
  metrics.paid_today = Number(row.paid);
  metrics.failed_today = Number(row.failed);
  metrics.revenue_today = Number(row.revenue);
  metrics.error_rate_today = Number(row.total) > 0 ? Number(row.failed) / Number(row.total) : 0;
}

async function checkTelegram(deps: HealthDeps): Promise<CheckResult> {
  const token = deps.config.telegram.botToken;
  if (!token && !deps.botApi) return r('telegram', 'unknown', 'TELEGRAM_BOT_TOKEN is not set', 'TELEGRAM_BOT_TOKEN belum diisi');
  const api = deps.botApi ?? shopBotApi(deps.config)!;
  const started = performance.now();
  try {
    const me = await api.call<{ username?: string }>(
      'getMe',
      {},
      { timeoutMs: deps.config.health.telegramTimeoutMs, deadline: Date.now() + deps.config.health.telegramTimeoutMs },
    );
    const ms = Math.round(performance.now() - started);
    return r('telegram', 'ok', `@${me.username ?? '?'} answered getMe in ${ms} ms`, `@${me.username ?? '?'} aktif (${ms} ms)`, ms / 1000);
  } catch (error) {
    if (error instanceof BotApiError && error.kind === 'unauthorized') {
      return r('telegram', 'critical', 'TELEGRAM_BOT_TOKEN was rejected (401): revoked or wrong', 'token bot ditolak Telegram (401)');
    }
    const msg = error instanceof BotApiError ? error.message : String(error);
    return r('telegram', 'critical', `getMe failed: ${msg}`, `Telegram tidak bisa dihubungi: ${msg}`);
  }
}

function checkBotProcess(deps: HealthDeps, metrics: HealthMetrics, now: Date): CheckResult {
  const hb = readHeartbeat(deps.config.stateDir, 'bot');
  const v = judgeBotProcess(deps.config, hb, now);
  if (v.level === 'ok' && hb) metrics.bot_uptime_seconds = Math.max(0, Math.round((now.getTime() - Date.parse(hb.started_at)) / 1000));
  return fromJudgement('bot_process', v);
}

async function checkDisk(deps: HealthDeps, metrics: HealthMetrics, local: BackupEntry[]): Promise<CheckResult> {
  const c = deps.config;
  const places: [string, string][] = [
    ['backups', c.backup.localDir],
    ['logs', c.logPath],
    ['data', c.baseDir],
  ];
  const next = newestBackup(local)?.size;
  const seen = new Map<number, { what: string[]; usedRatio: number; available: number; total: number; path: string; backups: boolean }>();
  for (const [what, dir] of places) {
    const fsu = await deps.system.filesystem(dir);
    const e = seen.get(fsu.dev);
    if (e) {
      e.what.push(what);
      e.backups ||= what === 'backups';
    } else
      seen.set(fsu.dev, { what: [what], usedRatio: fsu.usedRatio, available: fsu.available, total: fsu.total, path: fsu.path, backups: what === 'backups' });
  }
  // The same rule as backup_space: a filesystem whose next backup may not fit is critical.
  const judged = [...seen.values()].map((f) => ({ ...f, v: judgeSpace(f, c.health.diskThreshold, f.backups ? next : undefined) }));
  const rank = { ok: 0, warning: 1, critical: 2 } as const;
  judged.sort((a, b) => rank[b.v.level] - rank[a.v.level] || b.usedRatio - a.usedRatio);
  const worst = judged[0]!;
  metrics.disk_used_ratio = Math.max(...judged.map((f) => f.usedRatio));
  const fact = judged.map((f) => `${f.what.join('+')} ${pct(f.usedRatio)} used (${formatBytes(f.available)} free)`).join(', ');
  return r(
    'disk',
    worst.v.level,
    `${fact}; warning at ${c.health.diskThreshold}%, critical at ${CRITICAL_USED * 100}% or when the next backup may not fit`,
    `disk ${worst.what.join('+')} terpakai ${pct(worst.usedRatio)} (sisa ${formatBytes(worst.available)})`,
    worst.usedRatio,
  );
}

async function checkCpu(deps: HealthDeps, metrics: HealthMetrics): Promise<CheckResult> {
  const busy = await deps.system.cpuBusy(deps.cpuSampleMs ?? 1000, deps.signal);
  metrics.cpu_busy_ratio = busy;
  const t = deps.config.health.cpuThreshold / 100;
  // A busy CPU slows the shop but does not stop it: warning, never critical.
  return r('cpu', busy >= t ? 'warning' : 'ok', `${pct(busy)} busy (threshold ${pct(t)})`, `CPU ${pct(busy)}`, busy);
}

function checkMemory(deps: HealthDeps, metrics: HealthMetrics): CheckResult {
  const m = deps.system.memory();
  const used = m.total > 0 ? 1 - m.available / m.total : 0;
  metrics.memory_used_ratio = used;
  const t = deps.config.health.memoryThreshold / 100;
  const status: HealthStatus = used >= Math.max(0.95, t) ? 'critical' : used >= t ? 'warning' : 'ok';
  return r(
    'memory',
    status,
    `${pct(used)} used, ${formatBytes(m.available)} available of ${formatBytes(m.total)} (threshold ${pct(t)})`,
    `RAM terpakai ${pct(used)}`,
    used,
  );
}

async function checkLogSize(deps: HealthDeps, metrics: HealthMetrics): Promise<CheckResult> {
  const bytes = await deps.system.dirSize(deps.config.logPath);
  metrics.log_bytes = bytes;
  const limit = deps.config.health.logUsageThresholdMb * 1024 * 1024;
  return r(
    'log_size',
    bytes > limit ? 'warning' : 'ok',
    `${formatBytes(bytes)} in ${deps.config.logPath} (threshold ${formatBytes(limit)})`,
    `log ${formatBytes(bytes)} (batas ${formatBytes(limit)})`,
    bytes,
  );
}

function checkBackupAge(deps: HealthDeps, local: BackupEntry[], metrics: HealthMetrics, now: Date): CheckResult {
  const newest = newestBackup(local);
  if (newest && !newest.future) {
    const sidecar = newest.copies.find((c) => c.sidecar)?.sidecar;
    metrics.newest_backup = {
      name: newest.name,
      age_seconds: Math.round((now.getTime() - newest.time.getTime()) / 1000),
      size_bytes: newest.size,
      duration_seconds: (sidecar?.duration_ms ?? 0) / 1000,
      created_at: newest.time.toISOString(),
    };
  }
  return fromJudgement('backup_age', judgeBackupAge(deps.config, local, now));
}

/** A shared judgement (health/judge.ts) as a check result. */
function fromJudgement(id: CheckId, v: Judgement): CheckResult {
  return r(id, v.level, v.fact, v.fakta, v.value);
}

interface OffsiteProblem {
  message: string;
  /** The destination cannot be used at all (mount missing, rclone missing): not a passing glitch. */
  fatal: boolean;
}

function offsiteProblem(error: unknown, scrub: (s: string) => string): OffsiteProblem {
  return { message: scrub((error as Error).message), fatal: isOffsiteUnusable(error) };
}

function checkOffsite(
  deps: HealthDeps,
  cat: { local: BackupEntry[]; offsite: BackupEntry[] | undefined; offsiteError: OffsiteProblem | undefined },
): CheckResult {
  return fromJudgement(
    'backup_offsite',
    judgeOffsite(deps.config, cat.local, { configured: Boolean(deps.offsite), offsite: cat.offsite, problem: cat.offsiteError }),
  );
}

/** Newest successful full verification of any backup; a passed drill is one too. */
function checkVerify(deps: HealthDeps, local: BackupEntry[], metrics: HealthMetrics, now: Date): CheckResult {
  const times = local.flatMap((e) => [
    ...e.copies.flatMap((c) => (c.sidecar?.verifications ?? []).filter((v) => v.ok && v.level === 'full').map((v) => Date.parse(v.at))),
    ...e.copies.flatMap((c) => (c.sidecar?.drills ?? []).filter((d) => d.ok).map((d) => Date.parse(d.at))),
  ]);
  const max = deps.config.health.verifyMaxDays;
  if (times.length === 0)
    return r('backup_verify', 'warning', 'no backup has been fully verified yet (botctl backup verify --latest)', 'backup belum pernah diverifikasi');
  const last = Math.max(...times);
  metrics.last_good_verification_at = new Date(last).toISOString();
  const age = now.getTime() - last;
  return r(
    'backup_verify',
    age > max * 86_400_000 ? 'warning' : 'ok',
    `last full verification ${ago(age)} ago (warn after ${max} days)`,
    `verifikasi terakhir ${formatDurasi(age)} lalu`,
    age / 1000,
  );
}

function checkDrill(deps: HealthDeps, local: BackupEntry[], metrics: HealthMetrics, now: Date): CheckResult {
  const drills = local.flatMap((e) => e.copies.flatMap((c) => c.sidecar?.drills ?? []));
  const latest = drills.reduce<(typeof drills)[number] | undefined>((b, d) => (!b || Date.parse(d.at) > Date.parse(b.at) ? d : b), undefined);
  if (latest) metrics.last_drill = { at: latest.at, ok: latest.ok, restore_seconds: latest.restore_ms / 1000 };
  const good = drills.filter((d) => d.ok).map((d) => Date.parse(d.at));
  if (good.length) metrics.last_good_drill_at = new Date(Math.max(...good)).toISOString();
  return fromJudgement('backup_drill', judgeDrill(deps.config, local, now));
}

function checkLock(deps: HealthDeps, now: Date): CheckResult {
  const info = readLock(deps.config.backup.localDir);
  if (!info) return r('maintenance_lock', 'ok', 'free', 'bebas');
  const held = now.getTime() - Date.parse(info.started_at);
  const alive = lockHolderAlive(info);
  if (alive === false) {
    return r(
      'maintenance_lock',
      'warning',
      `stale: left by ${info.command} (pid ${info.pid}, gone) ${ago(held)} ago; the next run takes it over`,
      `lock tertinggal dari ${info.command}`,
      held / 1000,
    );
  }
  const max = deps.config.health.lockMaxMinutes;
  if (held > max * 60_000) {
    return r(
      'maintenance_lock',
      'warning',
      `held by ${info.command} (pid ${info.pid} on ${info.host}) for ${ago(held)} (over ${max} min): hung?`,
      `${info.command} berjalan ${formatDurasi(held)} (macet?)`,
      held / 1000,
    );
  }
  return r('maintenance_lock', 'ok', `held by ${info.command} (pid ${info.pid}) for ${ago(held)}`, `dipakai ${info.command}`, held / 1000);
}

async function checkSpace(deps: HealthDeps, local: BackupEntry[]): Promise<CheckResult> {
  const fsu = await deps.system.filesystem(deps.config.backup.localDir);
  const next = newestBackup(local)?.size;
  const v = judgeSpace(fsu, deps.config.health.diskThreshold, next);
  const fakta = v.fits === undefined ? `sisa ${formatBytes(fsu.available)}` : `sisa ruang cukup untuk ${v.fits} backup lagi`;
  return r('backup_space', v.level, describeSpace(v, fsu, next), fakta, fsu.available);
}

/** A base backup older than this is a warning: the replay from it gets long, and one bad file loses more. */
const BASE_WARN_DAYS = 8;
/** The offsite copy of the WAL this far behind the local one: the real recovery point after losing the host. */
const WAL_OFFSITE_LAG_WARN_MS = 3_600_000;

async function checkWalArchive(deps: HealthDeps, metrics: HealthMetrics, now: Date, scrub: (s: string) => string): Promise<CheckResult> {
  const inputs = deps.wal!();
  const url = deps.config.databaseUrl;
  if (!url) return r('wal_archive', 'unknown', 'DATABASE_URL is not set', 'DATABASE_URL belum diisi');
  const timeoutMs = deps.config.health.dbTimeoutMs;
  const sql = createSql(url, { max: 1, connectTimeoutSeconds: Math.ceil(timeoutMs / 1000), idleTimeoutSeconds: 1 });
  let a: { mode: string; failed: string; last_wal: string | null; last_at: Date | null; failed_wal: string | null; failed_at: Date | null };
  try {
    [a] = (await withTimeout(
      sql`SELECT current_setting('archive_mode') AS mode, failed_count::text AS failed, last_archived_wal AS last_wal, last_archived_time AS last_at,
                 last_failed_wal AS failed_wal, last_failed_time AS failed_at FROM pg_stat_archiver`,
      timeoutMs,
      'pg_stat_archiver',
    )) as unknown as [typeof a];
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
  const tz = deps.config.timezone;
  const [local, offsite, bases] = await Promise.all([
    newestArchivedWal(inputs.stores.local),
    inputs.stores.offsite ? newestArchivedWal(inputs.stores.offsite).catch((e: unknown) => new Error(scrub((e as Error).message))) : Promise.resolve(undefined),
    listBaseBackups(inputs.base.local, inputs.cluster.storeId),
  ]);
  const failing = a.mode !== 'off' && a.failed_at !== null && (a.last_at === null || a.failed_at > a.last_at);
  const newestBase = bases.at(-1);
  metrics.wal = {
    archiving_failing: failing || a.mode === 'off',
    failed_count: Number(a.failed),
    last_archived_at: a.last_at ? isoWithOffset(a.last_at, tz) : undefined,
    newest_local_at: local ? isoWithOffset(local.at, tz) : undefined,
    newest_offsite_at: offsite && !(offsite instanceof Error) ? isoWithOffset(offsite.at, tz) : undefined,
    newest_base_at: newestBase?.finished_at,
  };
  const point = local ? `newest archived WAL ${local.name}, ${ago(now.getTime() - local.at.getTime())} old` : 'no WAL archived yet';
  const titik = local ? `titik pemulihan ${ago(now.getTime() - local.at.getTime())} lalu` : 'belum ada WAL terarsip';
  const value = local ? (now.getTime() - local.at.getTime()) / 1000 : undefined;
  if (a.mode === 'off') {
    return r(
      'wal_archive',
      'critical',
      `archiving is off on the cluster (archive_mode = off): the recovery point is the newest backup; ${point}`,
      `arsip WAL mati: ${titik}`,
      value,
    );
  }
  if (failing) {
    return r(
      'wal_archive',
      'critical',
      `archiving fails: ${a.failed_wal} since ${humanTime(a.failed_at!, tz)} (${a.failed} failures; PostgreSQL keeps the files in pg_wal until it works); ${point}`,
      `arsip WAL GAGAL sejak ${humanTime(a.failed_at!, tz)}: ${titik}`,
      value,
    );
  }
  if (!newestBase)
    return r(
      'wal_archive',
      'critical',
      `no base backup: the WAL has nothing to replay onto (botctl cluster backup); ${point}`,
      `belum ada base backup: ${titik}`,
      value,
    );
  if (!local) return r('wal_archive', 'warning', `no WAL archived yet (archive_command set?); base backup ${newestBase.name}`, titik, value);
  const notes = [`base backup ${newestBase.name} finished ${ago(now.getTime() - Date.parse(newestBase.finished_at))} ago`];
  if (offsite instanceof Error)
    return r('wal_archive', 'warning', `${point}; the offsite WAL cannot be read: ${offsite.message}`, `${titik}; WAL offsite tidak terbaca`, value);
  if (inputs.stores.offsite && (!offsite || local.at.getTime() - offsite.at.getTime() > WAL_OFFSITE_LAG_WARN_MS)) {
    const behind = offsite ? `newest there ${offsite.name}, ${ago(local.at.getTime() - offsite.at.getTime())} behind` : 'none there';
    return r('wal_archive', 'warning', `${point}; the offsite WAL copy lags (${behind})`, `${titik}; salinan WAL offsite tertinggal`, value);
  }
  if (now.getTime() - Date.parse(newestBase.finished_at) > BASE_WARN_DAYS * 86_400_000) {
    return r(
      'wal_archive',
      'warning',
      `${point}; the newest base backup is older than ${BASE_WARN_DAYS} days (${notes[0]})`,
      `${titik}; base backup lebih dari ${BASE_WARN_DAYS} hari`,
      value,
    );
  }
  return r('wal_archive', 'ok', `${point}${offsite ? ' (offsite too)' : ''}; ${notes.join('; ')}`, titik, value);
}
