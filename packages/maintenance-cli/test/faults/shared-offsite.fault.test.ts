import fs from 'node:fs';
import path from 'node:path';
import { ExitCode, FixedClock } from '@botctl/core';
import { folderApart, listFiles, packArchive, readSidecarFile, sha256File, startRcloneServer, type Tenant, unpackArchive } from '@botctl/test-utils';
import { botctlInProcess, useCluster } from '../harness.js';

/**
 * Several tenants, one offsite destination (docs/reliability.md, "Shared offsite"): each tenant
 * only ever counts, keeps, verifies, restores or deletes its own archives.
 */

const suite = useCluster('botctl-fault-shared-');

const clock = new FixedClock('2026-12-01T02:00:00+07:00');
const run = (t: Tenant, args: string[], env: Record<string, string> = {}) => botctlInProcess(['--env-file', t.envFile, ...args], { cwd: t.dir, clock, env });
const json = <T>(r: { stdout: string }) => JSON.parse(r.stdout) as T;

interface ListJson {
  backups: { name: string; sha256: string | null; store_name: string | null; locations: { location: string; path: string }[] }[];
}

/** Every archive under a folder, whatever its layout. */
const archivesUnder = (dir: string) => listFiles(dir).filter((f) => f.endsWith('.tar.gz.enc'));

async function twoTenants(offsite: Record<string, string>): Promise<[Tenant, Tenant]> {
  const a = await suite.tenant({ extraEnv: offsite });
  const b = await suite.tenant({ extraEnv: offsite });
  return [a, b];
}

describe('two tenants sharing one offsite folder', () => {
  let a: Tenant;
  let b: Tenant;
  let shared: string;
  const codes: number[] = [];

  beforeAll(async () => {
    // One offsite mount for both (on another filesystem, as a real one is).
    shared = folderApart(suite.work, 'shared-offsite') ?? path.join(suite.work, 'shared-offsite');
    [a, b] = await twoTenants({ BACKUP_OFFSITE_DIR: shared });
    // Both back up in the same seconds, as two cron lines at 02:00 do.
    for (let i = 0; i < 2; i++) {
      codes.push((await run(a, ['backup', 'create', '--offsite'])).exitCode);
      codes.push((await run(b, ['backup', 'create', '--offsite'])).exitCode);
      clock.advance(3_600_000);
    }
  });

  it('each gets its offsite copy, even when both back up in the same second', () => {
    expect(codes).toEqual([0, 0, 0, 0]);
    expect(archivesUnder(shared)).toHaveLength(4);
  });

  it('backup list --offsite shows only the tenant own archives, each listed copy being its own', async () => {
    for (const t of [a, b]) {
      const list = json<ListJson>(await run(t, ['backup', 'list', '--offsite', '--json']));
      expect(list.backups).toHaveLength(2);
      expect(new Set(list.backups.map((x) => x.store_name))).toEqual(new Set([t.env().BOT_STORE_NAME]));
      for (const x of list.backups) {
        for (const loc of x.locations) expect(sha256File(loc.path)).toBe(x.sha256);
      }
    }
  });

  it("prune --offsite --keep 1 of one tenant keeps its own newest copy and never touches the other's", async () => {
    const before = archivesUnder(shared);
    const ownBefore = json<ListJson>(await run(a, ['backup', 'list', '--offsite', '--json'])).backups;
    const r = await run(a, ['backup', 'prune', '--offsite', '--keep', '1', '--json']);
    expect(r.exitCode).toBe(ExitCode.OK);
    const after = archivesUnder(shared);
    expect(after).toHaveLength(3);
    const listA = json<ListJson>(await run(a, ['backup', 'list', '--offsite', '--json']));
    expect(listA.backups).toHaveLength(1);
    const listB = json<ListJson>(await run(b, ['backup', 'list', '--offsite', '--json']));
    expect(listB.backups).toHaveLength(2);
    // What A removed was A's older copy; A's newest is still there.
    const removed = before.filter((f) => !after.includes(f));
    expect(removed).toHaveLength(1);
    const ownPaths = (x: ListJson['backups'][number]) => x.locations.filter((l) => l.location === 'offsite').map((l) => path.relative(shared, l.path));
    expect(ownPaths(ownBefore[1]!)).toEqual(removed);
    expect(listA.backups[0]!.name).toBe(ownBefore[0]!.name);
  });

  it('healthcheck and status judge the offsite copy of the tenant own newest backup', async () => {
    // A's newest backup is local only; B's newest (same second) is offsite.
    expect((await run(a, ['backup', 'create'])).exitCode).toBe(ExitCode.OK);
    expect((await run(b, ['backup', 'create', '--offsite'])).exitCode).toBe(ExitCode.OK);
    const skip = { HEALTH_SKIP_CHECKS: 'database,telegram,bot_process,cpu,memory,disk,log_size,backup_verify,backup_drill,maintenance_lock,backup_space' };
    const hA = json<{ checks: { id: string; status: string; fact: string }[] }>(await run(a, ['healthcheck', '--no-alert', '--json'], skip));
    const offA = hA.checks.find((c) => c.id === 'backup_offsite')!;
    expect(offA.status).toBe('warning');
    expect(offA.fact).toMatch(/is not offsite/);
    const hB = json<{ checks: { id: string; status: string }[] }>(await run(b, ['healthcheck', '--no-alert', '--json'], skip));
    expect(hB.checks.find((c) => c.id === 'backup_offsite')!.status).toBe('ok');
    const sA = json<{ checks: { id: string; mark: string; fact: string }[] }>(await run(a, ['status', '--json']));
    expect(sA.checks.find((c) => c.id === 'offsite')).toMatchObject({ mark: 'warn' });
    clock.advance(3_600_000);
  });

  it('verify --all checks only the tenant own copies, and each decrypts with its own key', async () => {
    for (const t of [a, b]) {
      const v = await run(t, ['backup', 'verify', '--all', '--json']);
      expect(v.exitCode).toBe(ExitCode.OK);
      const own = json<ListJson>(await run(t, ['backup', 'list', '--json'])).backups.flatMap((x) => x.locations);
      expect(json<{ results: unknown[] }>(v).results).toHaveLength(own.length);
    }
  });

  it('restore --latest from offsite (local folder lost) restores the tenant own newest, not the neighbour newer one', async () => {
    const lost = `${a.localDir}-lost`;
    fs.renameSync(a.localDir, lost);
    try {
      const r = await run(a, ['backup', 'restore', '--latest', '--new-db', `${a.dbName}_from_offsite`, '--json']);
      expect(r.stderr).not.toMatch(/not of this store/);
      expect(r.exitCode).toBe(ExitCode.OK);
      expect(json<{ plan: { archive: { store_name: string } } }>(r).plan.archive.store_name).toBe(a.env().BOT_STORE_NAME);
    } finally {
      fs.rmSync(a.localDir, { recursive: true, force: true });
      fs.renameSync(lost, a.localDir);
    }
  });

  it('log archives of both tenants for the same month live side by side offsite', async () => {
    for (const t of [a, b]) {
      fs.mkdirSync(path.join(t.logDir, 'bot-order'), { recursive: true });
      fs.writeFileSync(path.join(t.logDir, 'bot-order', '2026-08-01.log'), `[2026-08-01 10:00:00] [INFO] ${t.env().BOT_STORE_NAME}\n`);
      const r = await run(t, ['logs', 'rotate', '--json']);
      expect(r.exitCode).toBe(ExitCode.OK);
    }
    expect(listFiles(shared).filter((f) => /logs-2026-08\.tar\.gz\.enc$/.test(f))).toHaveLength(2);
    const out = path.join(suite.work, 'extract-a');
    const r = await run(a, ['logs', 'extract', '2026-08', '--out', out, '--json']);
    expect(r.exitCode).toBe(ExitCode.OK);
    expect(fs.readFileSync(path.join(out, 'bot-order', '2026-08-01.log'), 'utf8')).toContain(a.env().BOT_STORE_NAME);
  });
});

describe('archives written in the flat layout of earlier versions', () => {
  it('are still listed, verified and restored, and never taken for another tenant', async () => {
    const shared = path.join(suite.work, 'flat-offsite');
    const [a, b] = await twoTenants({ BACKUP_OFFSITE_DIR: shared });
    const made = json<{ name: string }>(await run(a, ['backup', 'create', '--json']));
    // Rewrite A's archive as an earlier botctl wrote it: no store id or sequence, flat in the
    // offsite root, sidecar beside it.
    const src = path.join(a.localDir, made.name);
    const u = unpackArchive(src, a.identityFile, path.join(suite.work, 'flat-unpacked'));
    delete u.manifest.store;
    delete u.manifest.sequence;
    const sc = readSidecarFile(src);
    delete sc.store_id;
    delete sc.sequence;
    fs.mkdirSync(shared, { recursive: true });
    packArchive(u, a.recipient, path.join(shared, made.name), sc);
    fs.rmSync(a.localDir, { recursive: true });
    clock.advance(3_600_000);

    const listA = json<ListJson>(await run(a, ['backup', 'list', '--offsite', '--json']));
    expect(listA.backups.map((x) => x.name)).toEqual([made.name]);
    expect(json<ListJson>(await run(b, ['backup', 'list', '--offsite', '--json'])).backups).toEqual([]);
    const verify = await run(a, ['backup', 'verify', '--all', '--json']);
    expect(verify.exitCode).toBe(ExitCode.OK);
    const restore = await run(a, ['backup', 'restore', '--latest', '--new-db', `${a.dbName}_flat`, '--json']);
    expect(restore.exitCode).toBe(ExitCode.OK);
    // B's prune with a tight policy leaves A's flat archive alone.
    expect((await run(b, ['backup', 'create', '--offsite'])).exitCode).toBe(ExitCode.OK);
    expect((await run(b, ['backup', 'prune', '--offsite', '--keep', '1'])).exitCode).toBe(ExitCode.OK);
    expect(fs.existsSync(path.join(shared, made.name))).toBe(true);
  });
});

describe('two tenants sharing one rclone remote', () => {
  it('keep their archives apart, and prune never crosses over', async () => {
    const server = await startRcloneServer({ protocol: 'sftp', dir: path.join(suite.work, 'sftp-root'), stateDir: path.join(suite.work, 'sftp-state') });
    try {
      const [a, b] = await twoTenants({ BACKUP_OFFSITE_REMOTE: `${server.remoteName}:shops`, ...server.env });
      for (const t of [a, b, a, b]) {
        expect((await run(t, ['backup', 'create', '--offsite'])).exitCode).toBe(ExitCode.OK);
      }
      clock.advance(3_600_000);
      expect((await run(a, ['backup', 'prune', '--offsite', '--keep', '1'])).exitCode).toBe(ExitCode.OK);
      expect(json<ListJson>(await run(a, ['backup', 'list', '--offsite', '--json'])).backups).toHaveLength(1);
      expect(json<ListJson>(await run(b, ['backup', 'list', '--offsite', '--json'])).backups).toHaveLength(2);
    } finally {
      await server.stop();
    }
  });
});

describe('two tenants sharing one local backup folder', () => {
  it('each lists and prunes only its own; recover without the .env refuses to guess which store, and takes the one named', async () => {
    const shared = path.join(suite.work, 'shared-local');
    const [a, b] = await twoTenants({ BACKUP_LOCAL_DIR: shared });
    for (const t of [a, b, a, b]) expect((await run(t, ['backup', 'create'])).exitCode).toBe(ExitCode.OK);
    clock.advance(3_600_000);
    expect(json<ListJson>(await run(a, ['backup', 'list', '--json'])).backups).toHaveLength(2);
    expect((await run(b, ['backup', 'prune', '--keep', '1'])).exitCode).toBe(ExitCode.OK);
    expect(json<ListJson>(await run(a, ['backup', 'list', '--json'])).backups).toHaveLength(2);
    expect(json<ListJson>(await run(b, ['backup', 'list', '--json'])).backups).toHaveLength(1);

    // A's .env is gone: the settings to find the backup come from the environment.
    const aId = json<{ store_id: string }>(await run(a, ['backup', 'list', '--json'])).store_id;
    fs.rmSync(a.envFile);
    const env = { BACKUP_LOCAL_DIR: shared, BACKUP_AGE_IDENTITY_FILE: a.identityFile };
    const guess = await run(a, ['recover', '--latest'], env);
    expect(guess.exitCode).toBe(ExitCode.REFUSED);
    expect(guess.stderr).toMatch(/holds backups of 2 stores/);
    expect(guess.stderr).toMatch(/BACKUP_STORE_ID=/);
    const named = await run(a, ['recover', '--latest', '--json'], { ...env, BACKUP_STORE_ID: aId });
    expect(named.exitCode).toBe(ExitCode.REFUSED); // the plan only, without --yes
    const plan = json<{ plan: { archive: { store_name: string } } }>(named);
    expect(plan.plan.archive.store_name).toBe(a.env().BOT_STORE_NAME);
  });
});

describe('two tenants sharing one LOG_ARCHIVE_DIR', () => {
  it("the second one's logs rotate refuses to touch the first one's month archive", async () => {
    const shared = path.join(suite.work, 'shared-log-archives');
    const [a, b] = await twoTenants({ LOG_ARCHIVE_DIR: shared });
    for (const t of [a, b]) {
      fs.mkdirSync(path.join(t.logDir, 'bot-order'), { recursive: true });
      fs.writeFileSync(path.join(t.logDir, 'bot-order', '2026-07-01.log'), `[2026-07-01 10:00:00] [INFO] ${t.env().BOT_STORE_NAME}\n`);
    }
    expect((await run(a, ['logs', 'rotate'])).exitCode).toBe(ExitCode.OK);
    const before = fs.readFileSync(path.join(shared, 'logs-2026-07.tar.gz.enc'));
    const r = await run(b, ['logs', 'rotate']);
    expect(r.exitCode).toBe(ExitCode.REFUSED);
    expect(r.stderr).toMatch(/logs-2026-07\.tar\.gz\.enc .* belongs to store .*LOG_ARCHIVE_DIR is shared/);
    expect(fs.readFileSync(path.join(shared, 'logs-2026-07.tar.gz.enc')).equals(before)).toBe(true);
    expect(fs.existsSync(path.join(b.logDir, 'bot-order', '2026-07-01.log'))).toBe(true);
  });
});
