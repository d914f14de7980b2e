import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  type AlertDelivery,
  type Config,
  createSql,
  findPgTool,
  formatBytes,
  formatDuration,
  pendingMigrations,
  pgVersionFromNum,
  type Redactor,
  redactPatterns,
  toolVersion,
} from '@botctl/core';
import { catalogScope, listBackups } from '../backup/catalog.js';
import { cannotCreateDatabases, roleCanCreateDatabases } from '../backup/targets.js';
import type { CheckResult } from '../health/checks.js';
import { offsiteHint } from '../storage/offsite-storage.js';
import { offsiteOnSameDisk } from '../health/judge.js';
import { probeStorage } from '../storage/probe.js';
import { resolveCompression } from '../archive/compression.js';
import type { Storage } from '../storage/storage.js';
import type { Mark } from '../status/status.js';

const PREFLIGHT_ITEMS = [
  ['config', 'configuration valid and complete for a live shop'],
  ['database', 'database reachable and migrated'],
  ['pg_dump', 'pg_dump compatible with the server'],
  ['compression', 'the archive compressor available (BACKUP_COMPRESSION)'],
  ['drill', 'restore drill can create its scratch database'],
  ['directories', 'backup, log and state folders writable'],
  ['backup', 'a backup made and verified in the last day'],
  ['offsite', 'offsite reachable and writable'],
  ['alert', 'test alert delivered to the owners'],
  ['health', 'health check green'],
] as const;
type PreflightId = (typeof PREFLIGHT_ITEMS)[number][0];

export interface PreflightLine {
  id: PreflightId;
  label: string;
  mark: Mark;
  fact: string;
  fix?: string;
}

export interface PreflightDeps {
  config: Config;
  redactor: Redactor;
  local: Storage;
  offsite: Storage | undefined;
  now: Date;
  sendTestAlert: () => Promise<AlertDelivery>;
  checks: () => Promise<CheckResult[]>;
}

const DAY = 86_400_000;

async function probeWritable(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, `.botctl-probe-${randomBytes(4).toString('hex')}`);
  await fsp.writeFile(file, 'probe', { flag: 'wx' });
  const back = await fsp.readFile(file, 'utf8');
  await fsp.rm(file, { force: true });
  if (back !== 'probe') throw new Error('read back something else than was written');
}

/**
 * `botctl preflight`: what must be true before a tenant goes live (plan section 5: "make sure
 * backup and monitoring are active before go-live"). Every line is measured now; nothing is assumed.
 */
export async function runPreflight(deps: PreflightDeps): Promise<PreflightLine[]> {
  const c = deps.config;
  const lines: PreflightLine[] = [];
  const scrub = (s: string) => redactPatterns(deps.redactor.redact(s));
  const add = (id: PreflightId, mark: Mark, fact: string, fix?: string) =>
    lines.push({ id, label: PREFLIGHT_ITEMS.find(([i]) => i === id)![1], mark, fact, ...(fix && mark !== 'ok' ? { fix } : {}) });

  // 1. Settings a live shop needs.
  const missing: string[] = [];
  if (!c.databaseUrl) missing.push('DATABASE_URL');
  if (!c.telegram.botToken) missing.push('TELEGRAM_BOT_TOKEN');
  if (!c.telegram.ownerBotToken) missing.push('OWNER_BOT_TOKEN');
  if (c.telegram.ownerIds.length === 0) missing.push('TELEGRAM_OWNER_IDS');
  if (!c.dataEncryptionKey) missing.push('DATA_ENCRYPTION_KEY');
  if (!c.backup.encryptionPassword && c.backup.ageRecipients.length === 0) missing.push('BACKUP_AGE_RECIPIENTS or BACKUP_ENCRYPTION_PASSWORD');
  if (!c.pakasir.projectSlug || !c.pakasir.apiKey) missing.push('PAKASIR_PROJECT_SLUG / PAKASIR_API_KEY');
  add(
    'config',
    missing.length ? 'fail' : 'ok',
    missing.length ? `not set: ${missing.join(', ')}` : `${c.storeName}: every required setting present`,
    'fill them in the tenant .env (docs/configuration.md)',
  );

  // 2. + 3. Database, migrations, pg_dump.
  let serverMajor: number | undefined;
  if (!c.databaseUrl) {
    add('database', 'fail', 'DATABASE_URL is not set', 'set DATABASE_URL');
    add('pg_dump', 'fail', 'no database to compare with');
  } else {
    const sql = createSql(c.databaseUrl, { max: 1, connectTimeoutSeconds: Math.ceil(c.health.dbTimeoutMs / 1000), idleTimeoutSeconds: 1 });
    try {
      const [v] = await sql.unsafe<{ server_version_num: string }[]>('SHOW server_version_num');
      const server = pgVersionFromNum(Number(v!.server_version_num));
      serverMajor = server.major;
      const pending = await pendingMigrations(sql);
      add(
        'database',
        pending.length ? 'fail' : 'ok',
        pending.length
          ? `PostgreSQL ${server.text} answers; ${pending.length} migration(s) pending: ${pending.map((m) => m.name).join(', ')}`
          : `PostgreSQL ${server.text} answers; schema current`,
        'run `botctl db migrate` (the bot also migrates at start-up)',
      );
    } catch (error) {
      add('database', 'fail', `cannot connect: ${scrub((error as Error).message)}`, 'check DATABASE_URL and that PostgreSQL runs');
    } finally {
      await sql.end({ timeout: 1 }).catch(() => undefined);
    }
    if (serverMajor === undefined) add('pg_dump', 'fail', 'server version unknown (database unreachable)');
    else {
      try {
        const bin = findPgTool('pg_dump', { binDir: c.pgBinDir });
        const v = await toolVersion(bin);
        add(
          'pg_dump',
          v.major >= serverMajor ? 'ok' : 'fail',
          `${bin} is ${v.text}, server is ${serverMajor}`,
          `install the PostgreSQL ${serverMajor} client tools (apt-get install postgresql-client-${serverMajor}) or set PG_BIN_DIR`,
        );
      } catch (error) {
        add('pg_dump', 'fail', scrub((error as Error).message), 'install postgresql-client or set PG_BIN_DIR');
      }
    }
  }

  // 3a. The compressor: zstd is a program of its own.
  {
    const setting = c.backup.compression;
    const auto = setting.codec === 'auto' ? 'auto: ' : '';
    try {
      const r = await resolveCompression(setting);
      if (r.codec === 'zstd') add('compression', 'ok', `${auto}zstd level ${r.level}: ${r.zstd}`);
      else if (r.zstdMissing)
        add(
          'compression',
          'warn',
          'auto: gzip, the zstd program is not installed',
          'apt-get install -y zstd: backups about twice as fast and smaller (docs/performance.md)',
        );
      else add('compression', 'ok', `gzip${r.level !== undefined ? ` level ${r.level}` : ''} (built in)`);
    } catch (error) {
      const e = error as { message: string; hint?: string };
      add('compression', 'fail', scrub(e.message), e.hint ?? 'install zstd (apt-get install -y zstd)');
    }
  }

  // 3b. The drill (and restore --new-db) creates a database: the role must be allowed to.
  {
    const url = c.backup.drillAdminUrl ?? c.databaseUrl;
    if (!url) add('drill', 'fail', 'DATABASE_URL is not set');
    else {
      const sql = createSql(url, { max: 1, connectTimeoutSeconds: Math.ceil(c.health.dbTimeoutMs / 1000), idleTimeoutSeconds: 1 });
      try {
        const { role, can } = await roleCanCreateDatabases(sql);
        const via = c.backup.drillAdminUrl ? ' (BACKUP_DRILL_ADMIN_URL)' : '';
        if (can) add('drill', 'ok', `the role ${role}${via} may create databases`);
        else {
          const e = cannotCreateDatabases(role, c);
          add('drill', 'fail', e.message, e.hint);
        }
      } catch (error) {
        add(
          'drill',
          'fail',
          `cannot connect${c.backup.drillAdminUrl ? ' with BACKUP_DRILL_ADMIN_URL' : ''}: ${scrub((error as Error).message)}`,
          'check the URL and that PostgreSQL runs',
        );
      } finally {
        await sql.end({ timeout: 1 }).catch(() => undefined);
      }
    }
  }

  // 4. Folders.
  {
    const bad: string[] = [];
    for (const [what, dir] of [
      ['BACKUP_LOCAL_DIR', c.backup.localDir],
      ['LOG_ARCHIVE_DIR', c.logs.archiveDir],
      ['BOT_LOG_PATH', c.logPath],
      ['BOT_STATE_DIR', c.stateDir],
    ] as const) {
      await probeWritable(dir).catch((error: Error) => bad.push(`${what} ${dir}: ${error.message}`));
    }
    add(
      'directories',
      bad.length ? 'fail' : 'ok',
      bad.length ? bad.join('; ') : 'backups, log archives, logs and state: write, read and delete worked',
      'create the folders and give them to the user botctl and the bot run as',
    );
  }

  // 5. A backup, made and fully verified (or drilled) in the last day.
  {
    const entries = await listBackups([{ location: 'local', storage: deps.local }], catalogScope(c, deps.now)).catch(() => []);
    const fresh = entries.filter((e) => e.complete && deps.now.getTime() - e.time.getTime() <= DAY);
    const verified = fresh.find((e) =>
      e.copies.some(
        (cp) =>
          (cp.sidecar?.verifications ?? []).some((v) => v.ok && v.level === 'full' && deps.now.getTime() - Date.parse(v.at) <= DAY) ||
          (cp.sidecar?.drills ?? []).some((d) => d.ok && deps.now.getTime() - Date.parse(d.at) <= DAY),
      ),
    );
    if (verified) add('backup', 'ok', `${verified.name}, ${formatDuration(deps.now.getTime() - verified.time.getTime())} old, verified`);
    else if (fresh.length) add('backup', 'fail', `${fresh[0]!.name} is recent but not verified`, 'run `botctl backup verify --latest` (or `backup drill`)');
    else add('backup', 'fail', 'no complete backup from the last 24 h', 'run `botctl backup create --offsite` then `botctl backup verify --latest`');
  }

  // 6. Offsite.
  if (!deps.offsite) add('offsite', 'fail', 'no offsite destination configured', 'set BACKUP_OFFSITE_REMOTE (rclone) or BACKUP_OFFSITE_DIR (a mounted folder)');
  else {
    // The same probe as `botctl doctor offsite`: write, read back, rename, delete.
    const probe = await probeStorage(deps.offsite);
    const where = deps.offsite.description;
    const worked = `${where}: write, read, rename and delete worked${probe.space?.free !== undefined ? `, ${formatBytes(probe.space.free)} free` : ''}`;
    if (probe.ok && offsiteOnSameDisk(c)) {
      add(
        'offsite',
        'warn',
        `${worked}; but it is on the same filesystem as ${c.backup.localDir}: not offsite`,
        'mount other storage there and set BACKUP_OFFSITE_REQUIRE_MOUNT=true, or use BACKUP_OFFSITE_REMOTE',
      );
    } else if (probe.ok) add('offsite', 'ok', worked);
    else add('offsite', 'fail', `${where}: ${scrub(probe.error ?? 'failed')}`, `${offsiteHint(c)}`);
  }

  // 7. The owners get a test message now.
  try {
    const d = await deps.sendTestAlert();
    if (!c.alerts.enabled)
      add('alert', 'warn', `${d.problem}: the owners hear of no problem`, 'set ENABLE_OWNER_ALERTS=true unless another monitoring tells them');
    else if (!d.configured) add('alert', 'fail', `not configured: ${d.problem}`, 'set OWNER_BOT_TOKEN and TELEGRAM_OWNER_IDS');
    else if (!d.ok || d.failed.length) {
      add(
        'alert',
        'fail',
        `not delivered to ${d.failed.map((f) => `${f.chat_id} (${f.reason})`).join(', ')}`,
        'each owner must press /start on the notification bot',
      );
    } else add('alert', 'ok', `delivered to ${d.delivered.join(', ')}`);
  } catch (error) {
    add('alert', 'fail', scrub((error as Error).message));
  }

  // 8. Health: every check ok (warnings are reported, criticals fail).
  {
    const checks = await deps.checks();
    const crit = checks.filter((k) => k.status === 'critical' || k.status === 'unknown');
    const warn = checks.filter((k) => k.status === 'warning');
    add(
      'health',
      crit.length ? 'fail' : warn.length ? 'warn' : 'ok',
      crit.length || warn.length ? [...crit, ...warn].map((k) => `${k.id}: ${k.fact}`).join('; ') : `${checks.length} checks ok`,
      'fix what the health check reports (`botctl healthcheck`)',
    );
  }
  return lines;
}
