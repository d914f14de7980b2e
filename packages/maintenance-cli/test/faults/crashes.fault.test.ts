import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSql, ExitCode, listUserTables, type Secret } from '@botctl/core';
import {
  createTenant,
  type EphemeralCluster,
  type FakeBotApi,
  fakeTelegramEnv,
  listFiles,
  pathWith,
  runBotctl,
  spawnBotctl,
  startEphemeralCluster,
  startFakeBotApi,
  type Tenant,
  writeFakePgDump,
} from '@botctl/test-utils';
import { botctlInProcess, useCluster } from '../harness.js';

/** Leftovers and crashes (docs/reliability.md, "Crashes"). */

let api: FakeBotApi;

const suite = useCluster('botctl-fault-crash-');

beforeAll(async () => {
  api = await startFakeBotApi();
});
afterAll(async () => {
  await api?.close();
});

const run = (t: Tenant, args: string[], env: Record<string, string> = {}) => botctlInProcess(['--env-file', t.envFile, ...args], { cwd: t.dir, env });
const json = <T>(r: { stdout: string }) => JSON.parse(r.stdout) as T;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function query<T>(url: Secret, text: string): Promise<T[]> {
  const s = createSql(url, { max: 1 });
  try {
    return (await s.unsafe(text)) as unknown as T[];
  } finally {
    await s.end({ timeout: 5 });
  }
}

const scratchDatabases = async (c: EphemeralCluster = suite.cluster) =>
  (await query<{ datname: string }>(c.url(), "SELECT datname FROM pg_database WHERE datname LIKE 'botctl\\_drill\\_%'")).map((r) => r.datname);

/** A fake pg_dump (first on PATH) for one run. */
function fakeDump(t: Tenant, behaviour: Parameters<typeof writeFakePgDump>[1]): Record<string, string> {
  const bin = path.join(t.dir, 'fakebin');
  fs.rmSync(bin, { recursive: true, force: true });
  writeFakePgDump(bin, behaviour);
  return { PATH: pathWith(bin) };
}

const archives = (dir: string) => (fs.existsSync(dir) ? listFiles(dir) : []);

describe('the database session lost during backup create', () => {
  it('idle_in_transaction_session_timeout shorter than the dump: the snapshot session sets its own, the backup succeeds', async () => {
    const t = await suite.tenant();
    await query(suite.cluster.url(), `ALTER DATABASE "${t.dbName}" SET idle_in_transaction_session_timeout = '1s'`);
    // A process: the fake pg_dump is found on that process's PATH.
    const r = await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--json'], {
      cwd: t.dir,
      env: fakeDump(t, { kind: 'slow', seconds: 2 }),
    });
    expect(r.stderr).not.toMatch(/TypeError|unexpected error/);
    expect(r.exitCode).toBe(ExitCode.OK);
    expect((await run(t, ['backup', 'verify', '--latest'])).exitCode).toBe(ExitCode.OK);
  });

  it('the snapshot session ended by pg_terminate_backend once the rows are counted: a complete archive is a success', async () => {
    const t = await suite.tenant();
    const env = fakeDump(t, { kind: 'slow-output', seconds: 2 });
    // The counts go table by table in listUserTables' order; the last one names the last table.
    const admin = createSql(t.databaseUrl, { max: 1 });
    const last = (await listUserTables(admin)).at(-1)!.table;
    await admin.end();
    const proc = spawnBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--json'], { cwd: t.dir, env });
    // Once the rows are counted (the snapshot session sits idle in its transaction after its
    // query on the last table; pg_dump has imported the snapshot), end that session while the dump
    // still streams. Idle alone is not enough: on a loaded machine the gap between two count
    // queries can last longer than any fixed wait (CI saw it once).
    let killed = 0;
    let idleSince: number | undefined;
    const seen: string[] = [];
    for (let i = 0; i < 200 && killed === 0; i++) {
      await sleep(50);
      const apps = await query<{ a: string; query: string }>(
        t.databaseUrl,
        "SELECT application_name || ':' || coalesce(state, '') AS a, query FROM pg_stat_activity WHERE application_name IN ('botctl pg_dump', 'botctl backup')",
      );
      seen.push(
        apps
          .map((r) => r.a)
          .sort()
          .join('+'),
      );
      // Idle in transaction after the last table's query, for 300 ms in a row (its count is
      // followed by its checksum, with an instant of idle between them).
      const ready = apps.some((r) => r.a === 'botctl backup:idle in transaction' && r.query.includes(last));
      idleSince = ready ? (idleSince ?? Date.now()) : undefined;
      if (idleSince !== undefined && Date.now() - idleSince >= 300) {
        killed = (await query(t.databaseUrl, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'botctl backup'")).length;
      }
    }
    if (killed !== 1) throw new Error(`the snapshot session was not caught idle while pg_dump ran: ${[...new Set(seen)].join(' | ')}`);
    const res = await proc;
    expect(String(res.stderr)).not.toMatch(/TypeError|unexpected error|^\s+at /m);
    expect({ exit: res.exitCode, stderr: String(res.stderr) }).toMatchObject({ exit: ExitCode.OK });
    expect((await run(t, ['backup', 'verify', '--latest'])).exitCode).toBe(ExitCode.OK);
  });

  it('PostgreSQL restarting before the archive is complete: one line, DATABASE (6), nothing left, the owners told', async () => {
    const own = await startEphemeralCluster({ parentDir: suite.work });
    try {
      const t = await createTenant({ cluster: own, parentDir: suite.work, scale: 10, extraEnv: fakeTelegramEnv(api, 7001) });
      api.reset();
      // pg_dump starts 3 s after botctl exported the snapshot (it touches `started` first): the
      // server goes down in between, before pg_dump has read anything. (Stopping it once the
      // sessions were seen raced a small dump: pg_dump had read every row before the stop landed,
      // and a complete archive is a success, exit 0.)
      const started = path.join(t.dir, 'pg_dump-started');
      const proc = spawnBotctl(['--env-file', t.envFile, 'backup', 'create', '--scheduled'], {
        cwd: t.dir,
        env: fakeDump(t, { kind: 'slow', seconds: 3, started }),
      });
      for (let i = 0; i < 600 && !fs.existsSync(started); i++) await sleep(50);
      if (!fs.existsSync(started)) throw new Error('pg_dump never started: nothing to interrupt');
      await own.stopServer();
      const res = await proc;
      await own.startServer();
      const stderr = String(res.stderr);
      expect(stderr).not.toMatch(/TypeError|unexpected error|^\s+at /m);
      expect(res.exitCode).toBe(ExitCode.DATABASE);
      expect(stderr.split('\n').filter((l) => l.startsWith('botctl: error:'))).toHaveLength(1);
      expect(archives(t.localDir)).toEqual([]);
      const alert = api.callsTo('sendMessage').find((c) => String(c.params.text).includes('GAGAL'));
      expect(alert).toBeDefined();
    } finally {
      await own.destroy();
    }
  });
});

describe('interrupted backups', () => {
  it('SIGTERM during a scheduled backup create: nothing left, and the owners are told', async () => {
    const t = await suite.tenant({ extraEnv: fakeTelegramEnv(api, 7002) });
    api.reset();
    const proc = spawnBotctl(['--env-file', t.envFile, 'backup', 'create', '--scheduled'], { cwd: t.dir, env: fakeDump(t, { kind: 'hang' }) });
    for (let i = 0; i < 100 && !archives(t.localDir).some((f) => f.includes('.partial-')); i++) await sleep(100);
    proc.kill('SIGTERM');
    const res = await proc;
    expect(res.exitCode).toBe(ExitCode.TERMINATED);
    expect(archives(t.localDir)).toEqual([]);
    const alert = api.callsTo('sendMessage').find((c) => c.params.chat_id === 7002 && /GAGAL/.test(String(c.params.text)));
    expect(String(alert?.params.text)).toMatch(/SIGTERM/);
  });
});

describe('a drill killed with -9', () => {
  it('leaves its scratch database; the next drill and the health check drop it (and only their own)', async () => {
    const t = await suite.tenant({ scale: 60 });
    expect((await run(t, ['backup', 'create'])).exitCode).toBe(ExitCode.OK);
    const proc = spawnBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'drill'], { cwd: t.dir });
    for (let i = 0; i < 400 && (await scratchDatabases()).length === 0; i++) await sleep(10);
    proc.kill('SIGKILL');
    await proc;
    const left = await scratchDatabases();
    expect(left).toHaveLength(1);
    // Another tenant's drill database on the same cluster, its drill still running (this process).
    const other = 'botctl_drill_20261201_010101_other';
    await query(suite.cluster.url(), `CREATE DATABASE ${other}`);
    await query(
      suite.cluster.url(),
      `COMMENT ON DATABASE ${other} IS '${JSON.stringify({ botctl: 'drill', store_id: 'some-other-store', pid: process.pid, host: 'elsewhere' })}'`,
    );

    const drill = await run(t, ['backup', 'drill', '--json']);
    expect(drill.exitCode).toBe(ExitCode.OK);
    expect(json<{ stale_dropped: string[] }>(drill).stale_dropped).toEqual(left);
    expect(await scratchDatabases()).toEqual([other]);

    // Left again (kill -9), then the health check finds it.
    const proc2 = spawnBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'drill'], { cwd: t.dir });
    for (let i = 0; i < 400 && (await scratchDatabases()).length < 2; i++) await sleep(10);
    proc2.kill('SIGKILL');
    await proc2;
    expect((await scratchDatabases()).length).toBe(2);
    const skip = {
      HEALTH_SKIP_CHECKS: 'telegram,bot_process,cpu,memory,disk,log_size,backup_offsite,backup_verify,backup_drill,maintenance_lock,backup_space',
    };
    const h = json<{ checks: { id: string; fact: string }[] }>(await run(t, ['healthcheck', '--no-alert', '--json'], skip));
    expect(h.checks.find((c) => c.id === 'database')!.fact).toMatch(/dropped 1 scratch database/);
    expect(await scratchDatabases()).toEqual([other]);
  });
});

describe('prune against a broken destination', () => {
  it('an unusable offsite path, a missing mount and a read-only folder are clear errors with their codes, never "a bug"', async () => {
    const t = await suite.tenant({ seed: false });
    expect((await run(t, ['backup', 'create'])).exitCode).toBe(ExitCode.OK);
    expect((await run(t, ['backup', 'create'])).exitCode).toBe(ExitCode.OK);

    // BACKUP_OFFSITE_DIR is a file.
    const file = path.join(suite.work, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    t.setEnv({ BACKUP_OFFSITE_DIR: file });
    const notDir = await run(t, ['backup', 'prune', '--offsite', '--keep', '1']);
    expect(notDir.stderr).not.toMatch(/unexpected error|a bug in botctl/);
    expect(notDir.exitCode).toBe(ExitCode.PARTIAL);
    expect(notDir.stderr).toMatch(/offsite was not pruned: .*not-a-folder/);

    // The mount is required and missing.
    t.setEnv({ BACKUP_OFFSITE_DIR: path.join(suite.work, 'unmounted'), BACKUP_OFFSITE_REQUIRE_MOUNT: 'true' });
    const unmounted = await run(t, ['backup', 'prune', '--offsite', '--keep', '1']);
    expect(unmounted.exitCode).toBe(ExitCode.PARTIAL);
    expect(unmounted.stderr).toMatch(/offsite was not pruned: .*is not a mount point/);
    t.setEnv({ BACKUP_OFFSITE_DIR: undefined, BACKUP_OFFSITE_REQUIRE_MOUNT: undefined });

    // The local folder is read-only (a remounted filesystem; root ignores file modes).
    if (process.getuid?.() === 0) {
      expect((await run(t, ['backup', 'create'])).exitCode).toBe(ExitCode.OK);
      execFileSync('mount', ['--bind', t.localDir, t.localDir]);
      execFileSync('mount', ['-o', 'remount,bind,ro', t.localDir]);
      try {
        const ro = await run(t, ['backup', 'prune', '--keep', '1']);
        expect(ro.stderr).not.toMatch(/unexpected error|a bug in botctl/);
        expect(ro.exitCode).toBe(ExitCode.FAILURE);
        expect(ro.stderr).toMatch(/read-only/);
      } finally {
        execFileSync('umount', [t.localDir]);
      }
    }
  });
});

describe('an offsite copy that failed', () => {
  it('is made by a later run (or backup offsite sync); list and health show what lacks its copy meanwhile', async () => {
    const t = await suite.tenant({ seed: false, offsite: 'inside', extraEnv: { BACKUP_OFFSITE_REQUIRE_MOUNT: 'true' } });
    const failed = await run(t, ['backup', 'create', '--offsite', '--json']);
    expect(failed.exitCode).toBe(ExitCode.PARTIAL);
    const first = json<{ name: string }>(failed).name;
    // The destination is back (the mount requirement lifted), the gap is still there.
    t.setEnv({ BACKUP_OFFSITE_REQUIRE_MOUNT: 'false' });
    const list = json<{ backups: { name: string; offsite_missing: boolean }[] }>(await run(t, ['backup', 'list', '--json']));
    expect(list.backups.find((b) => b.name === first)!.offsite_missing).toBe(true);
    expect((await run(t, ['backup', 'list'])).stdout).toMatch(/1 backup\(s\) lack their offsite copy: `botctl backup offsite sync`/);
    const skip = { HEALTH_SKIP_CHECKS: 'database,telegram,bot_process,cpu,memory,disk,log_size,backup_verify,backup_drill,maintenance_lock,backup_space' };
    const h = json<{ checks: { id: string; fact: string }[] }>(await run(t, ['healthcheck', '--no-alert', '--json'], skip));
    expect(h.checks.find((c) => c.id === 'backup_offsite')!.fact).toMatch(/1 backup\(s\) lack their offsite copy/);

    // The next run copies what is missing, its own archive too.
    const next = await run(t, ['backup', 'create', '--offsite', '--json']);
    expect(next.exitCode).toBe(ExitCode.OK);
    expect(json<{ offsite: { caught_up: string[] } }>(next).offsite.caught_up).toEqual([first]);
    expect(fs.existsSync(path.join(t.offsiteStoreDir, first))).toBe(true);
    // backup offsite sync does the same on demand.
    fs.rmSync(path.join(t.offsiteStoreDir, first));
    fs.rmSync(path.join(t.offsiteStoreDir, `${first}.meta.json`));
    const sync = await run(t, ['backup', 'offsite', 'sync', '--json']);
    expect(sync.exitCode).toBe(ExitCode.OK);
    expect(json<{ copied: string[] }>(sync).copied).toEqual([first]);
  });
});

describe('corruption told apart from a wrong key', () => {
  it('a damaged header with the right identity is INTEGRITY (8); another identity is WRONG_KEY (9)', async () => {
    for (const mode of ['recipients', 'passphrase'] as const) {
      const t = await suite.tenant({ seed: false, mode });
      const name = json<{ name: string }>(await run(t, ['backup', 'create', '--json'])).name;
      const file = path.join(t.localDir, name);
      const bytes = fs.readFileSync(file);
      // Flip one character inside the first stanza's body (the line after "-> X25519 …" / "-> scrypt …").
      const text = bytes.toString('latin1');
      const at = text.indexOf('\n', text.indexOf('\n-> ') + 1) + 5;
      bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
      const damaged = path.join(t.dir, 'damaged', name);
      fs.mkdirSync(path.dirname(damaged), { recursive: true });
      fs.writeFileSync(damaged, bytes);
      const sc = JSON.parse(fs.readFileSync(`${file}.meta.json`, 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(`${damaged}.meta.json`, JSON.stringify(sc));
      const v = await run(t, ['backup', 'verify', damaged]);
      expect(`${mode}: ${v.exitCode}`).toBe(`${mode}: ${ExitCode.INTEGRITY}`);
      expect(v.stderr).toMatch(/damaged|modified|corrupt/);
      const other = await suite.tenant({ seed: false, mode });
      t.setEnv(mode === 'recipients' ? { BACKUP_AGE_IDENTITY_FILE: other.identityFile } : { BACKUP_ENCRYPTION_PASSWORD: other.passphrase });
      const wrong = await run(t, ['backup', 'verify', file]);
      expect(`${mode}: ${wrong.exitCode}`).toBe(`${mode}: ${ExitCode.WRONG_KEY}`);
    }
  });
});

describe('a drill killed between creating its scratch database and marking it', () => {
  it('left an unmarked scratch database: the note it wrote first in BOT_STATE_DIR lets the health check (and the next drill) drop it', async () => {
    const t = await suite.tenant({ scale: 1 });
    // What the killed drill left: its database (no mark yet) and its note, made by a process now dead.
    const name = 'botctl_drill_20261201_020000_dead01';
    await query(suite.cluster.url(), `CREATE DATABASE ${name}`);
    const dead = spawnBotctl(['--version'], { cwd: t.dir });
    const deadPid = dead.pid!;
    await dead;
    const pending = path.join(t.dir, 'state', 'scratch-pending');
    fs.mkdirSync(pending, { recursive: true });
    fs.writeFileSync(
      path.join(pending, `${name}.json`),
      JSON.stringify({ botctl: 'drill', store_id: t.storeId, pid: deadPid, host: os.hostname(), at: new Date().toISOString() }),
    );
    const skip = {
      HEALTH_SKIP_CHECKS: 'telegram,bot_process,cpu,memory,disk,log_size,backup_offsite,backup_verify,backup_drill,maintenance_lock,backup_space',
    };
    const h = json<{ checks: { id: string; fact: string }[] }>(await run(t, ['healthcheck', '--no-alert', '--json'], skip));
    expect(h.checks.find((c) => c.id === 'database')!.fact).toMatch(new RegExp(`dropped 1 scratch database.*${name}`));
    expect(await scratchDatabases()).not.toContain(name);
    expect(fs.readdirSync(pending)).toEqual([]);
  });
});
