import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createSql, ExitCode, type Secret } from '@botctl/core';
import {
  createTenant,
  databaseDigest,
  listFiles,
  packArchive,
  readSidecarFile,
  spawnBotctl,
  startEphemeralCluster,
  type Tenant,
  unpackArchive,
} from '@botctl/test-utils';
import { botctlInProcess, useCluster } from '../harness.js';

/** Restore: equal to the backup, or unchanged (docs/reliability.md, "Restore"). */

const suite = useCluster('botctl-fault-restore-');

const run = (t: Tenant, args: string[]) => botctlInProcess(['--env-file', t.envFile, ...args], { cwd: t.dir });
const json = <T>(r: { stdout: string }) => JSON.parse(r.stdout) as T;

async function sql(url: Secret, text: string): Promise<void> {
  const s = createSql(url, { max: 1 });
  try {
    await s.unsafe(text);
  } finally {
    await s.end({ timeout: 5 });
  }
}

async function backup(t: Tenant): Promise<string> {
  const r = await run(t, ['backup', 'create', '--json']);
  expect(r.exitCode).toBe(ExitCode.OK);
  return json<{ name: string }>(r).name;
}

/** A session of "the bot" holding a row lock on users in an open transaction. */
async function botHoldingLock(t: Tenant): Promise<{ pid: number; release: () => Promise<void> }> {
  const s = createSql(t.databaseUrl, { max: 1, applicationName: 'fault-bot' });
  const reserved = await s.reserve();
  await reserved.unsafe('BEGIN');
  await reserved.unsafe('UPDATE users SET first_name = first_name WHERE id = (SELECT min(id) FROM users)');
  const [{ pid }] = (await reserved.unsafe('SELECT pg_backend_pid() AS pid')) as unknown as [{ pid: number }];
  return {
    pid,
    release: async () => {
      await reserved.unsafe('ROLLBACK').catch(() => undefined);
      reserved.release();
      await s.end({ timeout: 5 });
    },
  };
}

/** Waits until no psql session of a botctl restore is left (after botctl itself was killed). */
async function restoreSessionsGone(url: Secret): Promise<void> {
  const s = createSql(url, { max: 1 });
  try {
    for (let i = 0; i < 150; i++) {
      const rows = await s.unsafe("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'botctl restore%'");
      if (rows.length === 0) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('a botctl restore session is still there');
  } finally {
    await s.end({ timeout: 5 });
  }
}

async function tablesOf(url: Secret): Promise<string[]> {
  const s = createSql(url, { max: 1 });
  try {
    const rows = await s.unsafe<{ n: string }[]>(
      "SELECT n.nspname || '.' || c.relname AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','v','m','S') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1",
    );
    return rows.map((r) => r.n);
  } finally {
    await s.end({ timeout: 5 });
  }
}

describe('restore --yes over a database', () => {
  let t: Tenant;
  let name: string;
  let original: Awaited<ReturnType<typeof databaseDigest>>;
  let objects: string[];

  beforeAll(async () => {
    t = await suite.tenant();
    name = await backup(t);
    original = await databaseDigest(t.databaseUrl);
    objects = await tablesOf(t.databaseUrl);
  });

  it('ends equal to the backup: tables, views and functions created after it are gone', async () => {
    await sql(
      t.databaseUrl,
      `CREATE TABLE late_table (x int); INSERT INTO late_table VALUES (1);
       CREATE SCHEMA late_schema; CREATE TABLE late_schema.t (y int);
       CREATE VIEW late_view AS SELECT 1 AS one;
       CREATE FUNCTION late_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
       UPDATE products SET price = price + 7`,
    );
    const r = await run(t, ['backup', 'restore', name, '--yes', '--json']);
    expect(r.exitCode).toBe(ExitCode.OK);
    expect(await databaseDigest(t.databaseUrl)).toEqual(original);
    expect(await tablesOf(t.databaseUrl)).toEqual(objects);
    const s = createSql(t.databaseUrl, { max: 1 });
    try {
      expect(await s.unsafe("SELECT 1 FROM pg_proc WHERE proname = 'late_fn'")).toHaveLength(0);
      expect(await s.unsafe("SELECT 1 FROM pg_namespace WHERE nspname = 'late_schema'")).toHaveLength(0);
    } finally {
      await s.end({ timeout: 5 });
    }
  });

  it('checks row counts against the manifest before committing: a mismatch leaves the target as it was', async () => {
    // An archive whose manifest records one row more in products than its dump holds.
    const src = path.join(t.localDir, name);
    const u = unpackArchive(src, t.identityFile, path.join(suite.work, 'count-mismatch'));
    const tables = u.manifest.tables as { table: string; rows: number }[];
    tables.find((x) => x.table === 'products')!.rows += 1;
    const crafted = `${name.replace('.tar.gz.enc', '').replace(/\d{6}$/, '235959')}.tar.gz.enc`;
    packArchive(u, t.recipient, path.join(t.localDir, crafted), { ...readSidecarFile(src), name: crafted });
    await sql(t.databaseUrl, 'UPDATE products SET price = price + 3');
    const before = await databaseDigest(t.databaseUrl);
    const r = await run(t, ['backup', 'restore', crafted, '--yes']);
    expect(r.exitCode).toBe(ExitCode.INTEGRITY);
    expect(r.stderr).toMatch(/restored table public\.products has \d+ rows, the backup recorded \d+; nothing was committed/);
    expect(await databaseDigest(t.databaseUrl)).toEqual(before);
  });

  it('waits for a lock the bot holds, says who holds it, and gives up after --lock-timeout, unchanged', async () => {
    await sql(t.databaseUrl, 'UPDATE products SET price = price + 1');
    const before = await databaseDigest(t.databaseUrl);
    const bot = await botHoldingLock(t);
    try {
      const r = await run(t, ['backup', 'restore', name, '--yes', '--lock-timeout', '2']);
      expect(r.exitCode).toBe(ExitCode.LOCKED);
      expect(r.stderr).toMatch(new RegExp(`waiting for a lock on (public\\.)?users held by pid ${bot.pid} \\(fault-bot, idle in transaction\\)`));
      expect(r.stderr).toMatch(
        new RegExp(`gave up after 2 s waiting for a lock on (public\\.)?users held by pid ${bot.pid}.*"${t.dbName}" was left as it was`),
      );
      expect(r.stderr).toMatch(/hint: .*stop the bot first/);
    } finally {
      await bot.release();
    }
    expect(await databaseDigest(t.databaseUrl)).toEqual(before);
  });

  it('interrupted by SIGTERM while waiting for that lock: unchanged, and it says so', async () => {
    const before = await databaseDigest(t.databaseUrl);
    const bot = await botHoldingLock(t);
    try {
      const proc = spawnBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'restore', name, '--yes'], { cwd: t.dir });
      let err = '';
      proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      for (let i = 0; i < 100 && !/waiting for a lock/.test(err); i++) await new Promise((r) => setTimeout(r, 100));
      proc.kill('SIGTERM');
      const res = await proc;
      expect(res.exitCode).toBe(ExitCode.TERMINATED);
      expect(String(res.stderr)).toMatch(new RegExp(`"${t.dbName}" was left as it was`));
    } finally {
      await bot.release();
    }
    await restoreSessionsGone(t.databaseUrl);
    expect(await databaseDigest(t.databaseUrl)).toEqual(before);
  });

  it('the bot writing all along loses nothing: each acknowledged write is in the safety copy or in the result', async () => {
    await sql(t.databaseUrl, 'UPDATE products SET price = price + 1');
    const writer = createSql(t.databaseUrl, { max: 1, applicationName: 'fault-bot-writer' });
    const acked: string[] = [];
    let stop = false;
    const writing = (async () => {
      for (let i = 0; !stop; i++) {
        const mark = `w-${i}`;
        await writer.unsafe(`INSERT INTO audit_log (actor, action) VALUES ('fault', '${mark}')`);
        acked.push(mark);
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    const r = await run(t, ['backup', 'restore', name, '--yes', '--json']);
    await new Promise((r2) => setTimeout(r2, 150));
    stop = true;
    await writing;
    await writer.end({ timeout: 5 });
    expect(r.exitCode).toBe(ExitCode.OK);
    const safety = json<{ safety_backup: { name: string } }>(r).safety_backup.name;
    expect((await run(t, ['backup', 'restore', safety, '--new-db', `${t.dbName}_safety`])).exitCode).toBe(ExitCode.OK);
    const marks = async (db: string) => {
      const s = createSql(suite.cluster.url(db), { max: 1 });
      try {
        return (await s.unsafe<{ action: string }[]>("SELECT action FROM audit_log WHERE actor = 'fault'")).map((x) => x.action);
      } finally {
        await s.end({ timeout: 5 });
      }
    };
    const inSafety = new Set(await marks(`${t.dbName}_safety`));
    const inResult = new Set(await marks(t.dbName));
    expect(acked.length).toBeGreaterThan(10);
    expect(acked.filter((m) => !inSafety.has(m) && !inResult.has(m))).toEqual([]);
    // The result is the backup plus what was written after the restore was committed.
    expect([...inResult].every((m) => !inSafety.has(m))).toBe(true);
  });
});

describe('a restore killed at any moment', () => {
  it('with kill -9, SIGINT or SIGTERM, leaves the target unchanged or equal to the backup, never in between', async () => {
    const t = await suite.tenant({ scale: 40 });
    const name = await backup(t);
    const backupDigest = await databaseDigest(t.databaseUrl);
    const outcomes: string[] = [];
    for (const [signal, delay] of [
      ['SIGKILL', 300],
      ['SIGKILL', 900],
      ['SIGKILL', 1600],
      ['SIGINT', 700],
      ['SIGTERM', 1200],
    ] as const) {
      await sql(t.databaseUrl, `UPDATE products SET price = price + 1; INSERT INTO audit_log (actor, action) VALUES ('fault', '${signal}-${delay}')`);
      const before = await databaseDigest(t.databaseUrl);
      const proc = spawnBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'restore', name, '--yes'], { cwd: t.dir });
      await new Promise((r) => setTimeout(r, delay));
      proc.kill(signal);
      const res = await proc;
      await restoreSessionsGone(t.databaseUrl);
      const after = await databaseDigest(t.databaseUrl);
      const state =
        JSON.stringify(after) === JSON.stringify(before) ? 'unchanged' : JSON.stringify(after) === JSON.stringify(backupDigest) ? 'restored' : 'BETWEEN';
      outcomes.push(`${signal}@${delay}: ${state} (exit ${res.exitCode ?? res.signal})`);
      expect(state).not.toBe('BETWEEN');
      if (signal !== 'SIGKILL' && res.exitCode !== 0) expect(state).toBe('unchanged');
    }
    expect(outcomes.some((o) => o.includes('unchanged'))).toBe(true);
  });
});

describe('restore --new-db killed before it committed', () => {
  it('leaves an empty database marked as its own; the next --new-db of the same name drops it and restores', async () => {
    const t = await suite.tenant({ scale: 40 });
    const name = await backup(t);
    const target = `${t.dbName}_killed`;
    const proc = spawnBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'restore', name, '--new-db', target], { cwd: t.dir });
    const admin = createSql(suite.cluster.url(), { max: 1 });
    const exists = async () => (await admin.unsafe(`SELECT 1 FROM pg_database WHERE datname = '${target}'`)).length > 0;
    for (let i = 0; i < 400 && !(await exists()); i++) await new Promise((r) => setTimeout(r, 10));
    proc.kill('SIGKILL');
    await proc;
    await admin.end({ timeout: 5 });
    await restoreSessionsGone(suite.cluster.url());
    const again = await run(t, ['backup', 'restore', name, '--new-db', target, '--json']);
    expect(again.exitCode).toBe(ExitCode.OK);
    const out = json<{ warnings: string[] }>(again);
    expect(out.warnings.join(' ')).toMatch(new RegExp(`dropped "${target}", left empty by an earlier restore that died`));
    expect(await databaseDigest(suite.cluster.url(target))).toEqual(await databaseDigest(t.databaseUrl));
  });
});

describe('PostgreSQL restarting during a restore', () => {
  it('PostgreSQL down when the restore starts: says the target was left as it was', async () => {
    const own = await startEphemeralCluster({ parentDir: suite.work });
    try {
      const t = await createTenant({ cluster: own, parentDir: suite.work, scale: 5 });
      const name = await backup(t);
      await own.stopServer();
      const res = await spawnBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'restore', name, '--yes'], { cwd: t.dir });
      expect(res.exitCode).toBe(ExitCode.DATABASE);
      expect(String(res.stderr)).toMatch(/cannot inspect the target database .*nothing was changed: "[^"]+" was left as it was/);
      expect(String(res.stderr)).not.toMatch(/^\s+at /m);
    } finally {
      await own.destroy();
    }
  });

  it('leaves the target unchanged or equal to the backup, and says which', async () => {
    const own = await startEphemeralCluster({ parentDir: suite.work });
    try {
      const t = await createTenant({ cluster: own, parentDir: suite.work, scale: 40 });
      const name = await backup(t);
      const backupDigest = await databaseDigest(t.databaseUrl);
      await sql(t.databaseUrl, 'UPDATE products SET price = price + 1');
      const before = await databaseDigest(t.databaseUrl);
      const proc = spawnBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'restore', name, '--yes'], { cwd: t.dir });
      await new Promise((r) => setTimeout(r, 800));
      await own.stopServer();
      const res = await proc;
      await own.startServer();
      const after = await databaseDigest(t.databaseUrl);
      expect(String(res.stderr)).not.toMatch(/unexpected error|TypeError|^\s+at /m);
      expect([ExitCode.OK, ExitCode.DATABASE]).toContain(res.exitCode);
      if (res.exitCode === ExitCode.OK) expect(after).toEqual(backupDigest);
      else {
        expect(after).toEqual(before);
        expect(String(res.stderr)).toMatch(/was left as it was|nothing was committed/);
      }
    } finally {
      await own.destroy();
    }
  });
});

describe('config and log files', () => {
  it('a tenant folder without room for the logs is refused before anything changes (nothing fails after the commit)', async () => {
    if (process.getuid?.() !== 0) return; // needs a small filesystem of its own (tmpfs)
    const mnt = path.join(suite.work, 'small-fs');
    fs.mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0755', 'tmpfs', mnt]);
    try {
      const t = await createTenant({ cluster: suite.cluster, parentDir: mnt, extraEnv: { BACKUP_LOCAL_DIR: path.join(suite.work, 'small-fs-backups') } });
      // A big log, backed up, then gone; the disk then fills up.
      const big = path.join(t.logDir, 'bot-order', '2026-11-21.log');
      fs.writeFileSync(big, `${'x'.repeat(20 * 1024 * 1024)}\n`);
      const name = await backup(t);
      fs.rmSync(big);
      fs.writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(20 * 1024 * 1024));
      await sql(t.databaseUrl, 'UPDATE products SET price = price + 1');
      const before = await databaseDigest(t.databaseUrl);
      const files = listFiles(t.dir).filter((f) => !f.startsWith('logs/maintenance/'));
      const r = await run(t, ['backup', 'restore', name, '--yes', '--with-logs']);
      expect(r.exitCode).toBe(ExitCode.NO_SPACE);
      expect(r.stderr).toMatch(/restoring the config and log files needs .*logs\/bot-order\/2026-11-21\.log alone is .*nothing was changed/);
      expect(r.stderr).not.toMatch(/unexpected error/);
      expect(await databaseDigest(t.databaseUrl)).toEqual(before);
      expect(listFiles(t.dir).filter((f) => !f.startsWith('logs/maintenance/'))).toEqual(files);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('the plaintext .env: 0600 in a 0700 folder when staged, and not left behind once put back', async () => {
    const t = await suite.tenant();
    const name = await backup(t);
    const staged = path.join(t.dir, 'restore', name.replace('.tar.gz.enc', ''));
    expect((await run(t, ['backup', 'restore', name, '--new-db', `${t.dbName}_s1`])).exitCode).toBe(ExitCode.OK);
    expect(fs.statSync(path.join(staged, 'config', '.env')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(staged).mode & 0o777).toBe(0o700);
    expect((await run(t, ['backup', 'restore', name, '--new-db', `${t.dbName}_s2`, '--with-config', '--with-logs'])).exitCode).toBe(ExitCode.OK);
    expect(fs.existsSync(staged)).toBe(false);
    expect(fs.statSync(t.envFile).mode & 0o777).toBe(0o600);
    expect(listFiles(t.dir).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it("--with-logs keeps today's maintenance log and merges in what only the backup had; no .bak copies of logs", async () => {
    const t = await suite.tenant();
    const name = await backup(t);
    const botLog = path.join(t.logDir, 'bot-order', '2026-11-20.log');
    fs.appendFileSync(botLog, '[2026-11-20 11:00:00] [INFO] after the backup\n');
    const r = await run(t, ['backup', 'restore', name, '--new-db', `${t.dbName}_logs`, '--with-logs', '--json']);
    expect(r.exitCode).toBe(ExitCode.OK);
    const text = fs.readFileSync(botLog, 'utf8');
    expect(text).toContain('[INFO] Bot started');
    expect(text).toContain('after the backup');
    const maint = listFiles(path.join(t.logDir, 'maintenance'));
    expect(maint.filter((f) => f.includes('.bak-'))).toEqual([]);
    const today = maint.find((f) => f.endsWith('.log'))!;
    expect(fs.readFileSync(path.join(t.logDir, 'maintenance', today), 'utf8')).toMatch(/Restore database selesai/);
  });
});
