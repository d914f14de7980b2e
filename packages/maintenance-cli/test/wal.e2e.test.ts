import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSql, type EphemeralCluster, findPgTool, freePort, type Sql } from '@botctl/core';
import {
  ageKeyPair,
  BOTCTL_MAIN,
  createTenant,
  FAKE_OWNER_TOKEN,
  FAKE_SHOP_TOKEN,
  makeTempDir,
  nodeBinaryFor,
  removeDir,
  startBotProcess,
  startEphemeralCluster,
  startFakeBotApi,
  type Tenant,
} from '@botctl/test-utils';
import { execa } from 'execa';
import { botctlInProcess } from './harness.js';

// A cluster with archiving on, whose real archiver runs `botctl wal push` from the cluster's own
// env file; as root the server runs as `postgres`, so that user owns the cluster's folder.
const asRoot = process.getuid?.() === 0;
const pgOwner = (() => {
  if (!asRoot) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const f = line?.split(':');
  return f ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
})();

let work: string;
let home: string;
let envFile: string;
let identityFile: string;
let localWal: string;
let offsiteWal: string;
let cluster: EphemeralCluster;
let sql: Sql;

function chownTree(p: string): void {
  if (!pgOwner) return;
  fs.chownSync(p, pgOwner.uid, pgOwner.gid);
  if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e));
}

/** Runs a PostgreSQL server program as the cluster's owner (postgres when we are root). */
const asOwner = (file: string, args: string[], env: Record<string, string> = {}) =>
  asRoot ? execa('runuser', ['-u', 'postgres', '--', file, ...args], { env }) : execa(file, args, { env });

const wal = (args: string[], env: Record<string, string> = {}) => botctlInProcess(['--env-file', envFile, ...args], { cwd: home, env });

/** Every object stored under a WAL folder (`<folder>/<16 hex>/<name>-<sha256>.gz.age`). */
function objects(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .flatMap((d) => fs.readdirSync(path.join(root, d)).map((f) => path.join(d, f)))
    .sort();
}

async function archivedUpTo(segment: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const [r] = await sql<{ last: string | null; failed: string }[]>`SELECT last_archived_wal AS last, failed_count::text AS failed FROM pg_stat_archiver`;
    if (r!.last && r!.last >= segment) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  const log = fs.readFileSync(path.join(cluster.rootDir, 'postgres.log'), 'utf8').slice(-2000);
  throw new Error(`${segment} was not archived within 30 s; the server's log ends:\n${log}`);
}

beforeAll(async () => {
  work = makeTempDir('botctl-wal-');
  home = path.join(work, 'cluster-main');
  fs.mkdirSync(home, { mode: 0o750 });
  localWal = path.join(home, 'backups', 'wal');
  offsiteWal = '';
  const { identity, recipient } = await ageKeyPair();
  identityFile = path.join(work, 'cluster-identity.txt');
  fs.writeFileSync(identityFile, `${identity}\n`, { mode: 0o600 });
  const offsite = path.join(work, 'offsite');
  fs.mkdirSync(offsite);
  envFile = path.join(home, 'cluster.env');
  fs.writeFileSync(
    envFile,
    [
      'BOT_STORE_NAME=cluster-main',
      'BACKUP_STORE_ID=cluster-main',
      'BOT_TIMEZONE=Asia/Jakarta',
      'BACKUP_LOCAL_DIR=backups',
      `BACKUP_OFFSITE_DIR=${offsite}`,
      `BACKUP_AGE_RECIPIENTS=${recipient}`,
      'BOT_LOG_PATH=logs',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  offsiteWal = path.join(offsite, 'cluster-main', 'wal');
  chownTree(home);
  chownTree(offsite);
  const node = asRoot ? nodeBinaryFor('postgres') : process.execPath;
  cluster = await startEphemeralCluster({
    parentDir: work,
    settings: {
      wal_level: 'replica',
      archive_mode: 'on',
      archive_command: `'${node} -- ${BOTCTL_MAIN} --env-file ${envFile} --quiet wal push %p'`,
    },
  });
  // `cluster backup` connects as the cluster's superuser (a REPLICATION role in real life).
  fs.appendFileSync(envFile, `DATABASE_URL=${cluster.url().reveal()}\n`);
  sql = createSql(cluster.url(), { max: 2 });
  await sql`CREATE TABLE orders_wal_test (id serial PRIMARY KEY, note text)`;
});

afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await cluster?.destroy();
  if (work) removeDir(work);
});

describe('botctl wal push (archive_command) and wal fetch (restore_command)', () => {
  it("PostgreSQL's own archiver stores each segment, encrypted and compressed, locally and offsite; age, gunzip and pg_waldump read it back", async () => {
    await sql`INSERT INTO orders_wal_test (note) SELECT 'pesanan ' || g FROM generate_series(1, 2000) g`;
    const [s] = await sql<{ seg: string }[]>`SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg`;
    await sql`SELECT pg_switch_wal()`;
    await archivedUpTo(s!.seg);
    const mine = objects(localWal).filter((o) => path.basename(o).startsWith(`${s!.seg}-`));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatch(new RegExp(`^${s!.seg.slice(0, 16)}/${s!.seg}-[0-9a-f]{64}\\.gz\\.age$`));
    expect(objects(offsiteWal)).toContain(mine[0]);
    // 0600, no plaintext anywhere, a compressed 16 MiB segment.
    const file = path.join(localWal, mine[0]!);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(file).size).toBeLessThan(4 * 1024 * 1024);
    expect(fs.readFileSync(file).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    // Standard tools only: age -d | gunzip gives the segment, whose SHA-256 is in its name.
    const plain = execFileSync('sh', ['-c', `age -d -i "${identityFile}" "${file}" | gunzip`], { maxBuffer: 64 * 1024 * 1024 });
    expect(plain.length).toBe(16 * 1024 * 1024);
    expect(createHash('sha256').update(plain).digest('hex')).toBe(/-([0-9a-f]{64})\.gz\.age$/.exec(mine[0]!)![1]);
    const segFile = path.join(work, s!.seg);
    fs.writeFileSync(segFile, plain);
    const waldump = findPgTool('pg_waldump');
    const dump = execFileSync(waldump, [segFile], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\n');
    expect(dump.some((l) => /rmgr: Heap .*INSERT/.test(l))).toBe(true);
    // Quiet success: the archiver ran it with --quiet, the server's log has no botctl line.
    const [a] = await sql<{ failed: string }[]>`SELECT failed_count::text AS failed FROM pg_stat_archiver`;
    expect(a!.failed).toBe('0');
    fs.rmSync(segFile);
  });

  // Made-up files live on a timeline of their own (9): the real ones are on 1.
  it('a second push of the same file succeeds and changes nothing; another file under an archived name is refused (8) and nothing is replaced', async () => {
    const seg = path.join(work, '0000000900000000000000F1');
    fs.writeFileSync(seg, Buffer.alloc(1024 * 1024, 7));
    const first = await wal(['--json', 'wal', 'push', seg], { BACKUP_AGE_IDENTITY_FILE: identityFile });
    expect(first.exitCode).toBe(0);
    expect(JSON.parse(first.stdout).stored.map((x: { location: string; outcome: string }) => `${x.location}:${x.outcome}`)).toEqual([
      'local:stored',
      'offsite:stored',
    ]);
    const before = objects(localWal).filter((o) => o.includes('0000000900000000000000F1'));
    const again = await wal(['--json', 'wal', 'push', seg]);
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout).stored.map((x: { outcome: string }) => x.outcome)).toEqual(['already', 'already']);
    fs.writeFileSync(seg, Buffer.alloc(1024 * 1024, 8));
    const other = await wal(['wal', 'push', seg]);
    expect(other.exitCode).toBe(8);
    expect(other.stderr).toMatch(
      /^botctl: error: 0000000900000000000000F1 is already archived in .* with other content; an archived WAL file is never replaced\nhint: /,
    );
    expect(objects(localWal).filter((o) => o.includes('0000000900000000000000F1'))).toEqual(before);
    // An offsite copy that failed once is made by the next push of the same file.
    fs.rmSync(path.join(offsiteWal, before[0]!));
    fs.writeFileSync(seg, Buffer.alloc(1024 * 1024, 7));
    const heal = await wal(['--json', 'wal', 'push', seg]);
    expect(JSON.parse(heal.stdout).stored.map((x: { location: string; outcome: string }) => `${x.location}:${x.outcome}`)).toEqual([
      'local:already',
      'offsite:stored',
    ]);
  });

  it('fetch writes the file where PostgreSQL asks, from the local copy, else offsite; a damaged copy is named; a missing one exits 12', async () => {
    const seg = path.join(work, '0000000900000000000000F2');
    const content = Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => i % 251));
    fs.writeFileSync(seg, content);
    expect((await wal(['wal', 'push', seg])).exitCode).toBe(0);
    const dest = path.join(work, 'restored', 'RECOVERYXLOG');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const withKey = { BACKUP_AGE_IDENTITY_FILE: identityFile };
    const got = await wal(['--json', 'wal', 'fetch', '0000000900000000000000F2', dest], withKey);
    expect(got.exitCode).toBe(0);
    expect(JSON.parse(got.stdout).from).toBe('local');
    expect(fs.readFileSync(dest).equals(content)).toBe(true);
    expect(fs.readdirSync(path.dirname(dest))).toEqual(['RECOVERYXLOG']);
    fs.rmSync(dest);

    // The local copy damaged: the offsite one is used.
    const [obj] = objects(localWal).filter((o) => o.includes('0000000900000000000000F2'));
    const local = path.join(localWal, obj!);
    const bytes = fs.readFileSync(local);
    bytes[bytes.length - 100]! ^= 0xff;
    fs.writeFileSync(local, bytes);
    const fallback = await wal(['--json', 'wal', 'fetch', '0000000900000000000000F2', dest], withKey);
    expect(fallback.exitCode).toBe(0);
    expect(JSON.parse(fallback.stdout).from).toBe('offsite');
    expect(fs.readFileSync(dest).equals(content)).toBe(true);
    fs.rmSync(dest);

    // Both damaged: an integrity error naming the copy, nothing written.
    fs.writeFileSync(path.join(offsiteWal, obj!), bytes);
    const bad = await wal(['wal', 'fetch', '0000000900000000000000F2', dest], withKey);
    expect(bad.exitCode).toBe(8);
    expect(bad.stderr).toMatch(new RegExp(`^botctl: error: ${local.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*(damaged|authentication)`));
    expect(fs.readdirSync(path.dirname(dest))).toEqual([]);

    const missing = await wal(['wal', 'fetch', '0000000900000000000000F9', dest], withKey);
    expect(missing.exitCode).toBe(12);
    expect(missing.stderr).toBe('botctl: error: 0000000900000000000000F9 is not in the WAL archive\n');
  });

  it('refuses what is not a WAL file name (2), a fetch without the identity (3) and WAL encrypted with a passphrase (3)', async () => {
    const notWal = path.join(work, 'postgresql.conf');
    fs.writeFileSync(notWal, 'x');
    const r = await wal(['wal', 'push', notWal]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^botctl: error: postgresql\.conf is not a WAL file name/);
    const traversal = await wal(['wal', 'fetch', '../../etc/passwd', path.join(work, 'x')], { BACKUP_AGE_IDENTITY_FILE: identityFile });
    expect(traversal.exitCode).toBe(2);
    const noKey = await wal(['wal', 'fetch', '0000000900000000000000F2', path.join(work, 'x')]);
    expect(noKey.exitCode).toBe(3);
    const passEnv = path.join(home, 'passphrase.env');
    fs.writeFileSync(passEnv, fs.readFileSync(envFile, 'utf8').replace(/^BACKUP_AGE_RECIPIENTS=.*$/m, 'BACKUP_ENCRYPTION_PASSWORD=rahasia#toko-2026'), {
      mode: 0o600,
    });
    const pass = await botctlInProcess(['--env-file', passEnv, 'wal', 'push', path.join(work, '0000000900000000000000F2')], { cwd: home });
    expect(pass.exitCode).toBe(3);
    expect(pass.stderr).toMatch(/WAL archiving needs BACKUP_AGE_RECIPIENTS/);
    expect(pass.stderr).not.toMatch(/rahasia/);
  });

  it('PostgreSQL recovers to a point in time from botctl cluster backup and the WAL archive, with wal fetch as restore_command: rows before the target are there, the one after is not', async () => {
    // The base backup through botctl: pg_basebackup → gzip → age, locally and offsite, sidecar last.
    const made = await wal(['--json', 'cluster', 'backup', '--offsite']);
    expect(made.exitCode).toBe(0);
    const base = JSON.parse(made.stdout) as {
      name: string;
      size: number;
      sha256: string;
      start_lsn: string;
      end_lsn: string;
      timeline: number;
      offsite: { status: string };
    };
    expect(base.name).toMatch(/^base-\d{8}-\d{6}\.tar\.gz\.age$/);
    expect(base.start_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(base.timeline).toBe(1);
    expect(base.offsite.status).toBe('stored');
    const archive = path.join(home, 'backups', 'base', base.name);
    expect(fs.statSync(archive).mode & 0o777).toBe(0o600);
    expect(createHash('sha256').update(fs.readFileSync(archive)).digest('hex')).toBe(base.sha256);
    expect(fs.readFileSync(path.join(offsiteWal, '..', 'base', base.name)).equals(fs.readFileSync(archive))).toBe(true);
    expect(JSON.parse(fs.readFileSync(`${archive}.meta.json`, 'utf8'))).toMatchObject({ format: 'botctl-base-backup', name: base.name, sha256: base.sha256 });
    const listed = await wal(['--json', 'cluster', 'list']);
    expect((JSON.parse(listed.stdout) as { base_backups: { name: string }[] }).base_backups.map((b) => b.name)).toEqual([base.name]);

    // Unpacked with standard tools only, into a scratch data directory the server's user owns.
    const scratch = path.join(work, 'pitr');
    fs.mkdirSync(scratch, { mode: 0o700 });
    const data = path.join(scratch, 'data');
    fs.mkdirSync(data, { mode: 0o700 });
    execFileSync('sh', ['-c', `age -d -i "${identityFile}" "${archive}" | gunzip | tar -x -C "${data}"`]);
    chownTree(scratch);
    const at = async (note: string) => {
      await sql`INSERT INTO orders_wal_test (note) VALUES (${note})`;
      const [r] = await sql<{ t: string }[]>`SELECT clock_timestamp()::text AS t`;
      await new Promise((res) => setTimeout(res, 1100));
      return r!.t;
    };
    await at('pesanan pertama');
    const second = await at('pesanan kedua');
    await at('pesanan ketiga');
    const [s] = await sql<{ seg: string }[]>`SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg`;
    await sql`SELECT pg_switch_wal()`;
    await archivedUpTo(s!.seg);
    // The target: after the second order was committed, before the third.
    const [t] = await sql<{ t: string }[]>`SELECT (${second}::timestamptz + interval '500 milliseconds')::text AS t`;

    // Recovery reads WAL only through botctl (with the identity, which the archiving host lacks).
    const restoreEnv = path.join(home, 'restore.env');
    fs.writeFileSync(restoreEnv, `${fs.readFileSync(envFile, 'utf8')}BACKUP_AGE_IDENTITY_FILE=${identityFile}\n`, { mode: 0o600 });
    chownTree(restoreEnv);
    chownTree(identityFile);
    const node = asRoot ? nodeBinaryFor('postgres') : process.execPath;
    const port = await freePort();
    fs.appendFileSync(
      path.join(data, 'postgresql.auto.conf'),
      [
        `port = ${port}`,
        "listen_addresses = ''",
        `unix_socket_directories = '${scratch}'`,
        "archive_mode = 'off'",
        `restore_command = '${node} -- ${BOTCTL_MAIN} --env-file ${restoreEnv} --quiet wal fetch %f %p'`,
        `recovery_target_time = '${t!.t}'`,
        "recovery_target_action = 'promote'",
        '',
      ].join('\n'),
    );
    fs.writeFileSync(path.join(data, 'recovery.signal'), '');
    chownTree(scratch);
    fs.chmodSync(data, 0o700);
    const pgCtl = findPgTool('pg_ctl');
    try {
      await asOwner(pgCtl, ['-D', data, '-l', path.join(scratch, 'recovery.log'), '-w', '-t', '60', 'start']);
      const psql = (q: string) =>
        execa(findPgTool('psql'), ['-h', scratch, '-p', String(port), '-U', cluster.user, '-d', 'postgres', '-XAtc', q], {
          env: { PGPASSWORD: cluster.password.reveal() },
        }).then((r) => r.stdout.trim());
      for (let i = 0; i < 100 && (await psql('SELECT pg_is_in_recovery()')) === 't'; i++) await new Promise((res) => setTimeout(res, 100));
      expect(await psql('SELECT pg_is_in_recovery()')).toBe('f');
      expect((await psql("SELECT string_agg(note, ',' ORDER BY id) FROM orders_wal_test WHERE note LIKE 'pesanan %a'")).split(',')).toEqual([
        'pesanan pertama',
        'pesanan kedua',
      ]);
      expect(await psql("SELECT count(*) FROM orders_wal_test WHERE note = 'pesanan ketiga'")).toBe('0');
      // The server's log shows where recovery stopped and that the segments came from the archive.
      const log = fs.readFileSync(path.join(scratch, 'recovery.log'), 'utf8');
      expect(log).toMatch(/restored log file "[0-9A-F]{24}" from archive/);
      expect(log).toMatch(/recovery stopping before commit of transaction \d+, time /);
    } finally {
      await asOwner(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('cluster backup that pg_basebackup cannot make is one line (6), the password nowhere, and nothing left that looks complete', async () => {
    const badEnv = path.join(home, 'bad.env');
    const wrong = 'salah-sekali-#2026';
    const url = new URL(cluster.url().reveal());
    url.password = wrong;
    fs.writeFileSync(badEnv, fs.readFileSync(envFile, 'utf8').replace(/^DATABASE_URL=.*$/m, `DATABASE_URL=${url.href}`), { mode: 0o600 });
    const baseDir = path.join(home, 'backups', 'base');
    const inBase = () => (fs.existsSync(baseDir) ? fs.readdirSync(baseDir).sort() : []);
    const before = inBase();
    const r = await botctlInProcess(['--env-file', badEnv, 'cluster', 'backup'], { cwd: home });
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toMatch(/^botctl: error: pg_basebackup failed: .*password authentication failed/);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(2);
    expect(r.stderr + r.stdout).not.toContain(wrong);
    expect(inBase()).toEqual(before);
  });

  it('backup restore --to-time brings one tenant back to a moment, through the safe restore; its neighbour on the cluster is untouched and restores on its own; a gap in the archive is named; the scratch server is gone', async () => {
    const a = await createTenant({ cluster, parentDir: work, extraEnv: { WAL_CLUSTER_ENV_FILE: envFile } });
    const b = await createTenant({ cluster, parentDir: work, extraEnv: { WAL_CLUSTER_ENV_FILE: envFile } });
    const sqlA = createSql(a.databaseUrl, { max: 1 });
    const sqlB = createSql(b.databaseUrl, { max: 1 });
    try {
      await sqlA`CREATE TABLE catatan (id serial PRIMARY KEY, isi text, dibuat timestamptz DEFAULT clock_timestamp())`;
      await sqlB`CREATE TABLE catatan (id serial PRIMARY KEY, isi text)`;
      expect((await wal(['cluster', 'backup'])).exitCode).toBe(0);
      const note = async (isi: string) => {
        const [r] = await sqlA<{ t: string }[]>`INSERT INTO catatan (isi) VALUES (${isi}) RETURNING dibuat::text AS t`;
        await new Promise((res) => setTimeout(res, 1100));
        return r!.t;
      };
      await note('pertama');
      const second = await note('kedua');
      const [t] = await sqlA<{ iso: string; local: string }[]>`
        SELECT to_char((${second}::timestamptz + interval '500 milliseconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS iso,
               to_char((${second}::timestamptz + interval '1 second') AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM-DD HH24:MI:SS') AS local`;
      await note('ketiga');
      await sqlB`INSERT INTO catatan (isi) VALUES ('B sesudah')`;
      const [s] = await sql<{ seg: string }[]>`SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg`;
      await sql`SELECT pg_switch_wal()`;
      await archivedUpTo(s!.seg);

      // As a real process whose Node the server's user can run (restore_command runs botctl too).
      const node = asRoot ? nodeBinaryFor('postgres') : process.execPath;
      const restoreAt = (t: Tenant, args: string[]) =>
        execa(node, ['--', BOTCTL_MAIN, '--env-file', t.envFile, ...args], {
          cwd: t.dir,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', NO_COLOR: '1', TZ: 'UTC', BACKUP_AGE_IDENTITY_FILE: identityFile },
          extendEnv: false,
          reject: false,
          timeout: 40_000,
        });
      const look = await restoreAt(a, ['--json', 'backup', 'restore', '--to-time', t!.iso, '--new-db', `${a.dbName}_pitr`]);
      expect(look.stderr).toBe('');
      expect(look.exitCode).toBe(0);
      const out = JSON.parse(look.stdout) as { reached: string; stopped: string; base_backup: { name: string }; status: string };
      expect(out.stopped).toBe('at-target');
      // The point reached is the last transaction replayed: the second one's commit, before the target.
      expect(Date.parse(out.reached)).toBeGreaterThanOrEqual(Date.parse(second));
      expect(Date.parse(out.reached)).toBeLessThan(Date.parse(t!.iso));
      const looked = createSql(cluster.url(`${a.dbName}_pitr`), { max: 1 });
      try {
        expect((await looked<{ isi: string }[]>`SELECT isi FROM catatan ORDER BY id`).map((r) => r.isi)).toEqual(['pertama', 'kedua']);
      } finally {
        await looked.end({ timeout: 5 });
      }
      const scratchLeft = () =>
        fs.existsSync(path.join(a.dir, 'state')) ? fs.readdirSync(path.join(a.dir, 'state')).filter((f) => f.startsWith('pitr-')) : [];
      expect(scratchLeft()).toEqual([]);

      // Over the live database, the time in BOT_TIMEZONE: the safe path (a safety copy first).
      const over = await restoreAt(a, ['--json', 'backup', 'restore', '--to-time', t!.local, '--yes']);
      expect(over.exitCode).toBe(0);
      expect((await sqlA<{ isi: string }[]>`SELECT isi FROM catatan ORDER BY id`).map((r) => r.isi)).toEqual(['pertama', 'kedua']);
      expect(fs.readdirSync(a.localDir).filter((f) => f.endsWith('-pre-restore.tar.gz.enc'))).toHaveLength(1);
      expect(scratchLeft()).toEqual([]);
      // The neighbour on the same cluster: untouched.
      expect((await sqlB<{ isi: string }[]>`SELECT isi FROM catatan`).map((r) => r.isi)).toEqual(['B sesudah']);
      // And it restores on its own: B to the same moment (before its row), from the same base backup and WAL,
      // into its own database with its own safety copy; A stays as restored.
      const overB = await restoreAt(b, ['--json', 'backup', 'restore', '--to-time', t!.iso, '--yes']);
      expect(overB.stderr).toBe('');
      expect(overB.exitCode).toBe(0);
      expect(await sqlB`SELECT isi FROM catatan`).toHaveLength(0);
      expect(fs.readdirSync(b.localDir).filter((f) => f.endsWith('-pre-restore.tar.gz.enc'))).toHaveLength(1);
      expect(fs.readdirSync(a.localDir).filter((f) => f.endsWith('-pre-restore.tar.gz.enc'))).toHaveLength(1);
      expect((await sqlA<{ isi: string }[]>`SELECT isi FROM catatan ORDER BY id`).map((r) => r.isi)).toEqual(['pertama', 'kedua']);
      expect(fs.existsSync(path.join(b.dir, 'state')) ? fs.readdirSync(path.join(b.dir, 'state')).filter((f) => f.startsWith('pitr-')) : []).toEqual([]);

      // After the archive's last transaction: PostgreSQL stops short of the target; the archive's end is then the state at it.
      const later = await restoreAt(a, [
        '--json',
        'backup',
        'restore',
        '--to-time',
        new Date(Date.now() + 3_600_000).toISOString(),
        '--new-db',
        `${a.dbName}_end`,
      ]);
      expect(later.exitCode).toBe(0);
      const end = JSON.parse(later.stdout) as { reached: string | null; stopped: string };
      expect(end.stopped).toBe('end-of-archive');
      expect(Date.parse(end.reached!)).toBeGreaterThan(Date.parse(t!.iso));
      const atEnd = createSql(cluster.url(`${a.dbName}_end`), { max: 1 });
      try {
        expect((await atEnd<{ isi: string }[]>`SELECT isi FROM catatan ORDER BY id`).map((r) => r.isi)).toEqual(['pertama', 'kedua', 'ketiga']);
      } finally {
        await atEnd.end({ timeout: 5 });
      }
      expect(scratchLeft()).toEqual([]);

      // Without the cluster's key (only the tenant's): refused once the scratch folder exists, which then goes.
      const noKey = await execa(node, ['--', BOTCTL_MAIN, '--env-file', a.envFile, 'backup', 'restore', '--to-time', t!.iso, '--new-db', 'tanpa_kunci'], {
        cwd: a.dir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', TZ: 'UTC', BACKUP_AGE_IDENTITY_FILE: a.identityFile },
        extendEnv: false,
        reject: false,
      });
      expect(noKey.exitCode).toBe(9);
      expect(noKey.stderr).toMatch(
        /\nbotctl: error: base backup .*base-\d{8}-\d{6}\.tar\.gz\.age: cannot decrypt: .*\nhint: BACKUP_AGE_IDENTITY_FILE must hold the cluster's key/,
      );
      expect(scratchLeft()).toEqual([]);

      // Ctrl-C while the scratch server replays: 130, the server stopped, the folder gone, nothing restored.
      const child = execa(node, ['--', BOTCTL_MAIN, '--env-file', a.envFile, 'backup', 'restore', '--to-time', t!.iso, '--new-db', 'terputus'], {
        cwd: a.dir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', TZ: 'UTC', BACKUP_AGE_IDENTITY_FILE: identityFile },
        extendEnv: false,
        reject: false,
      });
      for (let i = 0; i < 200 && !scratchLeft().some((d) => fs.existsSync(path.join(a.dir, 'state', d, 'data', 'recovery.signal'))); i++)
        await new Promise((res) => setTimeout(res, 50));
      const scratch = scratchLeft()[0];
      expect(scratch).toBeDefined();
      await new Promise((res) => setTimeout(res, 500));
      child.kill('SIGINT');
      const stopped = await child;
      expect(stopped.exitCode).toBe(130);
      expect(scratchLeft()).toEqual([]);
      expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(scratch!);
      expect((await sql<{ n: string }[]>`SELECT count(*)::text AS n FROM pg_database WHERE datname = 'terputus'`)[0]!.n).toBe('0');

      // Before any base backup: nothing to start from, said at once.
      const early = await restoreAt(a, ['backup', 'restore', '--to-time', '2020-01-01 10:00:00', '--new-db', 'tidak_ada']);
      expect(early.exitCode).toBe(12);
      expect(early.stderr).toMatch(/^botctl: error: no base backup of cluster cluster-main finished before 2020-01-01 10:00:00/);
      expect(scratchLeft()).toEqual([]);

      // A segment the replay needs, damaged in both copies: named, never taken for the end of the archive.
      const hit = objects(localWal).filter((o) => path.basename(o).startsWith(`${s!.seg}-`));
      expect(hit).toHaveLength(1);
      const original = fs.readFileSync(path.join(localWal, hit[0]!));
      const broken = Buffer.from(original);
      broken[broken.length - 50]! ^= 0xff;
      for (const root of [localWal, offsiteWal]) fs.writeFileSync(path.join(root, hit[0]!), broken);
      const damaged = await restoreAt(a, ['backup', 'restore', '--to-time', t!.iso, '--new-db', `${a.dbName}_damaged`]);
      expect(damaged.exitCode).toBe(8);
      expect(damaged.stderr).toMatch(
        new RegExp(`\\nbotctl: error: the WAL archive's copies of ${s!.seg} are damaged: the recovery cannot pass it; nothing was restored\\nhint: `),
      );
      expect(scratchLeft()).toEqual([]);
      for (const root of [localWal, offsiteWal]) fs.writeFileSync(path.join(root, hit[0]!), original);

      // A segment the replay needs, gone from both copies while later ones are there: a gap named, not "the end".
      await sqlB`INSERT INTO catatan (isi) VALUES ('B lagi')`;
      const [n] = await sql<{ seg: string }[]>`SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg`;
      await sql`SELECT pg_switch_wal()`;
      await archivedUpTo(n!.seg);
      const gone = objects(localWal).filter((o) => path.basename(o).startsWith(`${s!.seg}-`));
      expect(gone).toHaveLength(1);
      fs.rmSync(path.join(localWal, gone[0]!));
      fs.rmSync(path.join(offsiteWal, gone[0]!));
      const gap = await restoreAt(a, ['backup', 'restore', '--to-time', t!.iso, '--new-db', `${a.dbName}_gap`]);
      expect(gap.exitCode).toBe(8);
      expect(gap.stderr).toMatch(new RegExp(`\\nbotctl: error: the WAL archive lacks ${s!.seg} but holds \\d+ later files? .*nothing was restored\\nhint: `));
      expect(scratchLeft()).toEqual([]);
      expect((await sql<{ n: string }[]>`SELECT count(*)::text AS n FROM pg_database WHERE datname = ${`${a.dbName}_gap`}`)[0]!.n).toBe('0');
    } finally {
      await sqlA.end({ timeout: 5 });
      await sqlB.end({ timeout: 5 });
    }
  }, 240_000);

  it('cluster prune keeps base backups by the policy and WAL back to the first file the oldest kept one needs; --dry-run changes nothing', async () => {
    const base = path.join(home, 'backups', 'base');
    const make = async () => {
      await sql`INSERT INTO orders_wal_test (note) SELECT 'prune ' || g FROM generate_series(1, 500) g`;
      const r = await wal(['--json', 'cluster', 'backup', '--offsite']);
      expect(r.exitCode).toBe(0);
      // A second in between: base names carry the second.
      await new Promise((res) => setTimeout(res, 1100));
      return JSON.parse(r.stdout) as { name: string; start_wal: string };
    };
    await make();
    const newest = await make();
    expect(newest.start_wal).toMatch(/^[0-9A-F]{24}$/);
    const before = { base: fs.readdirSync(base).sort(), wal: objects(localWal) };
    const older = (o: string) => /^[0-9A-F]{24}/.test(path.basename(o)) && path.basename(o).slice(0, 24) < newest.start_wal;
    expect(before.wal.filter(older).length).toBeGreaterThan(0);

    const plan = await wal(['--json', 'cluster', 'prune', '--keep', '1', '--offsite', '--dry-run']);
    expect(plan.exitCode).toBe(0);
    const p = JSON.parse(plan.stdout) as {
      locations: { location: string; base_backups: { name: string; action: string }[]; wal: { keep_from: string; remove: number } }[];
    };
    expect(p.locations.map((l) => l.location)).toEqual(['local', 'offsite']);
    expect(p.locations[0]!.base_backups.filter((b) => b.action === 'keep').map((b) => b.name)).toEqual([newest.name]);
    expect(p.locations[0]!.wal.keep_from).toBe(newest.start_wal);
    expect(p.locations[0]!.wal.remove).toBe(before.wal.filter(older).length);
    expect(fs.readdirSync(base).sort()).toEqual(before.base);
    expect(objects(localWal)).toEqual(before.wal);

    const done = await wal(['--json', 'cluster', 'prune', '--keep', '1', '--offsite']);
    expect(done.exitCode).toBe(0);
    expect(fs.readdirSync(base).sort()).toEqual([newest.name, `${newest.name}.meta.json`]);
    expect(fs.readdirSync(path.join(offsiteWal, '..', 'base')).sort()).toEqual([newest.name, `${newest.name}.meta.json`]);
    // Every WAL file from the kept base backup's start on is still there, locally and offsite; none before.
    expect(objects(localWal)).toEqual(before.wal.filter((o) => !older(o)));
    expect(objects(offsiteWal).filter(older)).toEqual([]);
    expect(objects(localWal).some((o) => path.basename(o).startsWith(`${newest.start_wal}-`))).toBe(true);
  });

  it('cluster prune while a restore --to-time replays keeps the base backup and the WAL it uses; a hold left by a dead process does not', async () => {
    const t = await createTenant({ cluster, parentDir: work, extraEnv: { WAL_CLUSTER_ENV_FILE: envFile } });
    const holds = path.join(home, 'backups', 'holds');
    const base = path.join(home, 'backups', 'base');
    const live = createSql(t.databaseUrl, { max: 1 });
    try {
      await live`CREATE TABLE pegangan (isi text)`;
      const first = JSON.parse((await wal(['--json', 'cluster', 'backup'])).stdout) as { name: string; start_wal: string };
      await live`INSERT INTO pegangan VALUES ('sebelum')`;
      await new Promise((res) => setTimeout(res, 1100));
      const target = new Date().toISOString();
      await new Promise((res) => setTimeout(res, 1100));
      const second = JSON.parse((await wal(['--json', 'cluster', 'backup'])).stdout) as { name: string };
      await live`INSERT INTO pegangan VALUES ('sesudah')`;
      const [s] = await sql<{ seg: string }[]>`SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg`;
      await sql`SELECT pg_switch_wal()`;
      await archivedUpTo(s!.seg);

      const node = asRoot ? nodeBinaryFor('postgres') : process.execPath;
      const restoring = execa(
        node,
        ['--', BOTCTL_MAIN, '--env-file', t.envFile, '--json', 'backup', 'restore', '--to-time', target, '--new-db', `${t.dbName}_held`],
        {
          cwd: t.dir,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', TZ: 'UTC', BACKUP_AGE_IDENTITY_FILE: identityFile },
          extendEnv: false,
          reject: false,
        },
      );
      const holdFiles = () => (fs.existsSync(holds) ? fs.readdirSync(holds) : []);
      for (let i = 0; i < 400 && holdFiles().length === 0; i++) await new Promise((res) => setTimeout(res, 25));
      expect(holdFiles()).toHaveLength(1);
      // The policy keeps only the newest; the one being replayed from stays, and the WAL from its start.
      const during = await wal(['--json', 'cluster', 'prune', '--keep', '1']);
      expect(during.exitCode).toBe(0);
      const p = JSON.parse(during.stdout) as {
        holds: { base: string; command: string }[];
        locations: { base_backups: { name: string; action: string; reasons: string[] }[]; wal: { keep_from: string } }[];
      };
      expect(p.holds.map((h) => [h.base, h.command])).toEqual([[first.name, `backup restore --to-time (${t.storeId})`]]);
      const decision = p.locations[0]!.base_backups.find((b) => b.name === first.name)!;
      expect([decision.action, decision.reasons.join(';')]).toEqual(['keep', expect.stringMatching(/^in use by backup restore --to-time/)]);
      expect(p.locations[0]!.wal.keep_from).toBe(first.start_wal);
      expect(fs.existsSync(path.join(base, first.name))).toBe(true);
      expect(objects(localWal).some((o) => path.basename(o).startsWith(`${first.start_wal}-`))).toBe(true);

      const done = await restoring;
      expect(done.stderr).toBe('');
      expect(done.exitCode).toBe(0);
      expect((JSON.parse(done.stdout) as { base_backup: { name: string } }).base_backup.name).toBe(first.name);
      const restored = createSql(cluster.url(`${t.dbName}_held`), { max: 1 });
      try {
        expect((await restored<{ isi: string }[]>`SELECT isi FROM pegangan`).map((r) => r.isi)).toEqual(['sebelum']);
      } finally {
        await restored.end({ timeout: 5 });
      }
      expect(holdFiles()).toEqual([]);

      // A restore killed with -9 leaves its hold; its process is gone, so the next prune removes both.
      const dead = Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
      const stale = { pid: dead, host: os.hostname(), started_at: new Date().toISOString(), command: 'x', base: first.name, start_wal: first.start_wal };
      fs.writeFileSync(path.join(holds, 'stale.json'), JSON.stringify(stale));
      const after = await wal(['--json', 'cluster', 'prune', '--keep', '1']);
      expect(after.exitCode).toBe(0);
      expect((JSON.parse(after.stdout) as { holds: unknown[] }).holds).toEqual([]);
      expect(holdFiles()).toEqual([]);
      expect(fs.readdirSync(base).filter((f) => f.endsWith('.age'))).toEqual([second.name]);
    } finally {
      await live.end({ timeout: 5 });
    }
  }, 120_000);

  it('healthcheck of a tenant on an archiving cluster shows the recovery point, and turns critical (with the metric) when archiving fails', async () => {
    const t = await createTenant({
      cluster,
      parentDir: work,
      seed: false,
      extraEnv: { WAL_CLUSTER_ENV_FILE: envFile, HEALTH_SKIP_CHECKS: 'telegram,cpu,bot_process' },
    });
    const health = async () => {
      const textfile = path.join(t.dir, 'metrics');
      const run = await botctlInProcess(['--env-file', t.envFile, '--json', 'healthcheck', '--no-alert', '--textfile', textfile], { cwd: t.dir });
      const out = JSON.parse(run.stdout) as { checks: { id: string; status: string; fact: string; value?: number }[] };
      const prom = fs
        .readdirSync(textfile)
        .map((f) => fs.readFileSync(path.join(textfile, f), 'utf8'))
        .join('');
      return { check: out.checks.find((c) => c.id === 'wal_archive')!, prom };
    };
    const good = await health();
    expect(good.check.status).toBe('ok');
    expect(good.check.fact).toMatch(/^newest archived WAL [0-9A-F]{24}, .* old \(offsite too\); base backup base-\d{8}-\d{6}\.tar\.gz\.age finished .* ago$/);
    expect(good.prom).toMatch(/^botctl_wal_archiving_failing\{store="[^"]+"\} 0$/m);
    expect(good.prom).toMatch(/^botctl_wal_newest_offsite_timestamp_seconds\{store="[^"]+"\} \d+/m);
    // status: the recovery point is the archive's newest WAL file, not the newest dump (this tenant has none).
    const st = JSON.parse((await botctlInProcess(['--env-file', t.envFile, '--json', 'status'], { cwd: t.dir })).stdout) as {
      recovery_point: { source: string; at: string; offsite_at: string };
      checks: { id: string; fact: string }[];
    };
    expect(st.recovery_point).toMatchObject({ source: 'wal', at: expect.stringMatching(/^\d{4}-/), offsite_at: expect.stringMatching(/^\d{4}-/) });
    expect(Date.now() - Date.parse(st.recovery_point.at)).toBeLessThan(15 * 60_000);
    expect(st.checks.find((c) => c.id === 'recovery')!.fact).toMatch(
      /^recovery point \d{4}-\d{2}-\d{2} \d{2}:\d{2}.* ago\), WAL archive \(offsite .* ago\)\); /,
    );

    // The archive folder can no longer be written: PostgreSQL's archiver fails and keeps the file.
    const lockDown = (mode: number) => {
      fs.chmodSync(localWal, mode);
      for (const d of fs.readdirSync(localWal)) fs.chmodSync(path.join(localWal, d), mode);
    };
    lockDown(0o500);
    try {
      await sql`INSERT INTO orders_wal_test (note) VALUES ('tidak terarsip')`;
      await sql`SELECT pg_switch_wal()`;
      for (let i = 0; i < 100; i++) {
        const [a] = await sql<{ failed: string }[]>`SELECT failed_count::text AS failed FROM pg_stat_archiver`;
        if (Number(a!.failed) > 0 && (await sql`SELECT 1 FROM pg_stat_archiver WHERE last_failed_time > coalesce(last_archived_time, '-infinity')`).length > 0)
          break;
        await new Promise((res) => setTimeout(res, 100));
      }
      const bad = await health();
      expect(bad.check.status).toBe('critical');
      expect(bad.check.fact).toMatch(
        /^archiving fails: [0-9A-F]{24} since .* \(\d+ failures; PostgreSQL keeps the files in pg_wal until it works\); newest archived WAL/,
      );
      expect(bad.prom).toMatch(/^botctl_wal_archiving_failing\{store="[^"]+"\} 1$/m);
    } finally {
      lockDown(0o750);
    }
    // Writable again: the archiver catches up on its own.
    const [c] = await sql<{ seg: string }[]>`SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg`;
    await sql`SELECT pg_switch_wal()`;
    await archivedUpTo(c!.seg);
    expect((await health()).check.status).toBe('ok');
  });

  it('backup drill --to-time: a canary row written now comes back from the base backup and the WAL archive; the scratch database is dropped', async () => {
    const t = await createTenant({ cluster, parentDir: work, extraEnv: { WAL_CLUSTER_ENV_FILE: envFile } });
    expect((await wal(['cluster', 'backup'])).exitCode).toBe(0);
    const node = asRoot ? nodeBinaryFor('postgres') : process.execPath;
    const run = await execa(node, ['--', BOTCTL_MAIN, '--env-file', t.envFile, '--json', 'backup', 'drill', '--to-time'], {
      cwd: t.dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', TZ: 'UTC', BACKUP_AGE_IDENTITY_FILE: identityFile },
      extendEnv: false,
      reject: false,
    });
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const r = JSON.parse(run.stdout) as { ok: boolean; canary: string; written_at: string; reached: string; database: string };
    expect(r.ok).toBe(true);
    expect(Date.parse(r.reached)).toBeGreaterThanOrEqual(Date.parse(r.written_at) - 1000);
    expect(r.database).toMatch(/^botctl_drill_pitr_\d{8}_\d{6}_[0-9a-f]{6}$/);
    expect((await sql<{ n: string }[]>`SELECT count(*)::text AS n FROM pg_database WHERE datname = ${r.database}`)[0]!.n).toBe('0');
    const live = createSql(t.databaseUrl, { max: 1 });
    try {
      expect(
        (await live<{ n: string }[]>`SELECT count(*)::text AS n FROM audit_log WHERE action = 'pitr_drill_canary' AND details->>'canary' = ${r.canary}`)[0]!.n,
      ).toBe('1');
    } finally {
      await live.end({ timeout: 5 });
    }
    expect(fs.readdirSync(path.join(t.dir, 'state')).filter((f) => f.startsWith('pitr-'))).toEqual([]);
  }, 120_000);
});

it('the monthly drill of a tenant whose cluster archives WAL proves the point-in-time path too, from botctl and from the bot; --no-to-time skips it', async () => {
  const t = await createTenant({ cluster, parentDir: work, extraEnv: { WAL_CLUSTER_ENV_FILE: envFile } });
  // One identity file for both: the tenant's archives and the cluster's base backups and WAL.
  const both = path.join(t.dir, 'identities.txt');
  fs.writeFileSync(both, `${fs.readFileSync(t.identityFile, 'utf8').trim()}\n${fs.readFileSync(identityFile, 'utf8').trim()}\n`, { mode: 0o600 });
  const node = asRoot ? nodeBinaryFor('postgres') : process.execPath;
  // In the environment: it is the cluster's identity too (a cluster env file names none).
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', TZ: 'UTC', BACKUP_AGE_IDENTITY_FILE: both };
  const botctl = (args: string[]) => execa(node, ['--', BOTCTL_MAIN, '--env-file', t.envFile, ...args], { cwd: t.dir, env, extendEnv: false, reject: false });
  expect((await botctl(['backup', 'create'])).exitCode).toBe(0);
  expect((await wal(['cluster', 'backup'])).exitCode).toBe(0);

  const monthly = await botctl(['--json', 'backup', 'drill', '--latest', '--scheduled']);
  expect(monthly.stderr).toBe('');
  expect(monthly.exitCode).toBe(0);
  const r = JSON.parse(monthly.stdout) as { ok: boolean; archive: string; point_in_time: { ok: boolean; canary: string; written_at: string; reached: string } };
  expect(r.archive).toMatch(/^backup-\d{8}-\d{6}\.tar\.gz\.enc$/);
  expect(r.point_in_time).toMatchObject({ ok: true });
  // The canary is written after the backup: only the WAL can bring it back.
  expect(Date.parse(r.point_in_time.reached)).toBeGreaterThanOrEqual(Date.parse(r.point_in_time.written_at) - 1000);
  const plain = await botctl(['--json', 'backup', 'drill', '--no-to-time']);
  expect(plain.exitCode).toBe(0);
  expect(JSON.parse(plain.stdout)).not.toHaveProperty('point_in_time');

  // The bot's own monthly drill (ENABLE_AUTO_DRILL) does the same and tells the owners.
  const fakeApi = await startFakeBotApi({ tokens: [FAKE_SHOP_TOKEN, FAKE_OWNER_TOKEN] });
  t.setEnv({
    TELEGRAM_BOT_TOKEN: FAKE_SHOP_TOKEN,
    OWNER_BOT_TOKEN: FAKE_OWNER_TOKEN,
    TELEGRAM_OWNER_IDS: '9101',
    TELEGRAM_API_ROOT: fakeApi.url,
    BOT_HTTP_PORT: '0',
    ENABLE_AUTO_HEALTHCHECK: 'false',
    ENABLE_AUTO_DRILL: 'true',
    BACKUP_DRILL_CRON: '*/2 * * * * *',
  });
  const bot = await startBotProcess({ envFile: t.envFile, cwd: t.dir, node, env: { BACKUP_AGE_IDENTITY_FILE: both } });
  try {
    const told = () =>
      fakeApi.calls
        .filter((c) => c.token === FAKE_OWNER_TOKEN && c.method === 'sendMessage')
        .map((c) => String(c.params.text))
        .find((m) => /Uji restore \(drill\)/.test(m));
    for (let i = 0; i < 1200 && !told(); i++) await new Promise((res) => setTimeout(res, 100));
    expect(told()).toMatch(
      /✅ Uji restore \(drill\) lulus: backup-[\s\S]*\nUji restore titik waktu lulus: data sampai \d{4}-.* kembali dari base-\d{8}-\d{6}\.tar\.gz\.age \+ arsip WAL/,
    );
    // The cron (every 2 s) has started the next drill by now: SIGTERM cuts it short at once (a
    // drill changes nothing), its scratch server and folder go, and no owner hears of a failure.
    await new Promise((res) => setTimeout(res, 2_500));
  } finally {
    // systemd's default TimeoutStopSec (90 s) before SIGKILL: a kill would cut the clean-up short.
    expect(await bot.stop('SIGTERM', 90_000)).toBe(0);
    await fakeApi.close();
  }
  expect(bot.lines.join('\n')).not.toMatch(/did not finish within/);
  expect(fakeApi.calls.filter((c) => c.token === FAKE_OWNER_TOKEN && /GAGAL|gagal/.test(String(c.params.text)))).toEqual([]);
  expect(fs.readdirSync(path.join(t.dir, 'state')).filter((f) => f.startsWith('pitr-'))).toEqual([]);
}, 240_000);

describe('botctl wal enable', () => {
  // A cluster of its own with its cluster env file, and `wal enable` run as a process whose Node
  // the server's user can run (the archive_command it writes names it).
  const enableSetup = async (name: string, extra: string) => {
    const own = await startEphemeralCluster({ parentDir: work });
    const home = path.join(work, name);
    fs.mkdirSync(home, { mode: 0o750 });
    const envFile = path.join(home, 'cluster.env');
    const { recipient } = await ageKeyPair();
    fs.writeFileSync(
      envFile,
      `BOT_STORE_NAME=${name}\nBACKUP_STORE_ID=${name}\nBACKUP_LOCAL_DIR=backups\nBACKUP_AGE_RECIPIENTS=${recipient}\nBOT_LOG_PATH=logs\n${extra}DATABASE_URL=${own.url().reveal()}\n`,
      { mode: 0o600 },
    );
    chownTree(home);
    const node = asRoot ? nodeBinaryFor('postgres') : process.execPath;
    const enable = (args: string[]) =>
      execa(node, ['--', BOTCTL_MAIN, '--env-file', envFile, '--json', 'wal', 'enable', ...args], {
        cwd: home,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', TZ: 'UTC' },
        extendEnv: false,
        reject: false,
      });
    return { own, home, envFile, node, enable };
  };

  it('shows the plan and changes nothing without --yes; with it, sets the four settings, says a restart is needed, and the archiver then runs botctl wal push', async () => {
    const {
      own,
      home: home2,
      envFile: env2,
      node,
      enable,
    } = await enableSetup('cluster-two', `BACKUP_OFFSITE_DIR=${path.join(work, 'cluster-two', 'offsite')}\nWAL_ARCHIVE_TIMEOUT_SECONDS=90\n`);
    const sql2 = createSql(own.url(), { max: 1 });
    try {
      const plan = await enable([]);
      expect(plan.exitCode).toBe(0);
      const p = JSON.parse(plan.stdout) as { applied: boolean; settings: { name: string; current: string; wanted: string; change: boolean }[] };
      expect(p.applied).toBe(false);
      expect(Object.fromEntries(p.settings.map((s) => [s.name, s.wanted]))).toMatchObject({ wal_level: 'replica', archive_mode: 'on', archive_timeout: '90' });
      expect(p.settings.find((s) => s.name === 'archive_command')!.wanted).toBe(`${node} -- ${BOTCTL_MAIN} --env-file ${env2} --quiet wal push %p`);
      expect((await sql2<{ n: string }[]>`SELECT count(*)::text AS n FROM pg_file_settings WHERE name LIKE 'archive%'`)[0]!.n).toBe('0');

      const done = await enable(['--yes']);
      expect(done.exitCode).toBe(0);
      expect(JSON.parse(done.stdout)).toMatchObject({ applied: true, restart_needed: true });
      // The reloadable ones are in effect now; archive_mode needs the restart.
      expect((await sql2<{ t: string }[]>`SELECT current_setting('archive_timeout') AS t`)[0]!.t).toBe('90s');
      await sql2.end({ timeout: 5 });
      await own.stopServer();
      await own.startServer();
      const sql3 = createSql(own.url(), { max: 1 });
      try {
        expect((await sql3<{ m: string }[]>`SELECT current_setting('archive_mode') AS m`)[0]!.m).toBe('on');
        await sql3`CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g`;
        const [s] = await sql3<{ seg: string }[]>`SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg`;
        await sql3`SELECT pg_switch_wal()`;
        for (let i = 0; i < 300; i++) {
          const [r] = await sql3<{ last: string | null }[]>`SELECT last_archived_wal AS last FROM pg_stat_archiver`;
          if (r!.last && r!.last >= s!.seg) break;
          await new Promise((res) => setTimeout(res, 100));
        }
        expect(objects(path.join(home2, 'backups', 'wal')).some((o) => path.basename(o).startsWith(`${s!.seg}-`))).toBe(true);
        // Run again: nothing to change.
        const again = JSON.parse((await enable([])).stdout) as { settings: { change: boolean }[] };
        expect(again.settings.every((x) => !x.change)).toBe(true);
      } finally {
        await sql3.end({ timeout: 5 });
      }
    } finally {
      await sql2.end({ timeout: 5 }).catch(() => undefined);
      await own.destroy();
    }
  }, 120_000);

  it("on a Debian-like cluster (include_dir = 'conf.d') writes conf.d/botctl-wal.conf, resets what postgresql.auto.conf would override, and the settings count after the restart", async () => {
    const { own, envFile: env3, node, enable } = await enableSetup('cluster-three', 'WAL_ARCHIVE_TIMEOUT_SECONDS=75\n');
    // Debian's layout: postgresql.conf includes conf.d; the folder is the server user's.
    const confD = path.join(own.dataDir, 'conf.d');
    fs.mkdirSync(confD);
    fs.appendFileSync(path.join(own.dataDir, 'postgresql.conf'), "\ninclude_dir = 'conf.d'\n");
    chownTree(confD);
    const sql2 = createSql(own.url(), { max: 1 });
    try {
      // An earlier ALTER SYSTEM value: postgresql.auto.conf is read last and would win over conf.d.
      await sql2`ALTER SYSTEM SET archive_timeout = '300'`;
      const plan = await enable([]);
      expect(plan.exitCode).toBe(0);
      expect(JSON.parse(plan.stdout)).toMatchObject({ applied: false, method: 'conf.d', file: path.join(confD, 'botctl-wal.conf') });
      expect(fs.readdirSync(confD)).toEqual([]);

      // A conf.d file read after ours that sets one of them: refused, named, and nothing left.
      const later = path.join(confD, 'zz-local.conf');
      fs.writeFileSync(later, 'archive_timeout = 10\n');
      const refused = await enable(['--yes']);
      expect(refused.exitCode).toBe(3);
      expect(refused.stderr).toContain(`archive_timeout is set again in ${later}`);
      expect(fs.readdirSync(confD)).toEqual(['zz-local.conf']);
      fs.rmSync(later);

      const done = await enable(['--yes']);
      expect(done.exitCode).toBe(0);
      expect(JSON.parse(done.stdout)).toMatchObject({ applied: true, method: 'conf.d', restart_needed: true, reset: ['archive_timeout'] });
      const file = path.join(confD, 'botctl-wal.conf');
      const text = fs.readFileSync(file, 'utf8');
      expect(text).toContain("wal_level = 'replica'\narchive_mode = 'on'\narchive_timeout = '75'\n");
      expect(text).toContain(`archive_command = '${node} -- ${BOTCTL_MAIN} --env-file ${env3} --quiet wal push %p'`);
      expect(fs.statSync(file).uid).toBe(fs.statSync(confD).uid);
      expect(fs.readFileSync(path.join(own.dataDir, 'postgresql.auto.conf'), 'utf8')).not.toMatch(/archive/);
      expect((await sql2<{ t: string }[]>`SELECT current_setting('archive_timeout') AS t`)[0]!.t).toBe('75s');
      await sql2.end({ timeout: 5 });
      await own.stopServer();
      await own.startServer();
      const sql3 = createSql(own.url(), { max: 1 });
      try {
        expect((await sql3<{ m: string; l: string }[]>`SELECT current_setting('archive_mode') AS m, current_setting('wal_level') AS l`)[0]).toEqual({
          m: 'on',
          l: 'replica',
        });
        const applied = await sql3<{ name: string; sourcefile: string }[]>`
          SELECT name, sourcefile FROM pg_file_settings WHERE applied AND name IN ('wal_level', 'archive_mode', 'archive_timeout', 'archive_command') ORDER BY name`;
        expect(applied.map((r) => [r.name, r.sourcefile])).toEqual(['archive_command', 'archive_mode', 'archive_timeout', 'wal_level'].map((n) => [n, file]));
        const again = JSON.parse((await enable([])).stdout) as { settings: { change: boolean }[] };
        expect(again.settings.every((x) => !x.change)).toBe(true);
      } finally {
        await sql3.end({ timeout: 5 });
      }
    } finally {
      await sql2.end({ timeout: 5 }).catch(() => undefined);
      await own.destroy();
    }
  }, 120_000);
});
