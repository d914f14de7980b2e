import { execFileSync, execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createSql, ExitCode, findPgTool, libpqEnv, parseDatabaseUrl, type Secret } from '@botctl/core';
import { databaseDigest, listFiles, parseJsonOutput, pathWith, type Tenant, writeFakeBin, maintenanceLog } from '@botctl/test-utils';
import { botctl, botctlProcess, useCluster } from './harness.js';

const suite = useCluster('botctl-restore-');

async function psql(url: Secret, sql: string): Promise<void> {
  execFileSync(findPgTool('psql'), ['-qX', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { ...process.env, ...libpqEnv(parseDatabaseUrl(url)) } });
}

async function databases(): Promise<string[]> {
  const sql = createSql(suite.cluster.url(), { max: 1 });
  try {
    return (await sql<{ datname: string }[]>`SELECT datname FROM pg_database ORDER BY 1`).map((r) => r.datname);
  } finally {
    await sql.end();
  }
}

async function makeBackup(t: Tenant, extra: string[] = []): Promise<string> {
  const run = await botctl(t, ['backup', 'create', '--json', ...extra]);
  expect(run.exitCode).toBe(0);
  return parseJsonOutput<{ name: string }>(run).name;
}

describe('backup restore', () => {
  let t: Tenant;
  let name: string;
  let original: Awaited<ReturnType<typeof databaseDigest>>;

  beforeAll(async () => {
    t = await suite.tenant();
    name = await makeBackup(t, ['--offsite']);
    original = await databaseDigest(t.databaseUrl);
  });

  it('--new-db creates a database with contents identical to the source', async () => {
    // A real process: the built binary end to end.
    const run = await botctlProcess(t, ['backup', 'restore', name, '--new-db', `${t.dbName}_copy`, '--json']);
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{ status: string; plan: { action: string }; tables: { expected: number; restored: number }[]; safety_backup: null }>(run);
    expect(out.status).toBe('restored');
    expect(out.plan.action).toBe('create-database');
    expect(out.safety_backup).toBeNull();
    expect(out.tables.every((x) => x.expected === x.restored)).toBe(true);
    expect(await databaseDigest(suite.cluster.url(`${t.dbName}_copy`))).toEqual(original);
    // Config and logs are staged, not put in place.
    const staged = path.join(t.dir, 'restore', name.replace('.tar.gz.enc', ''));
    expect(listFiles(staged)).toEqual(expect.arrayContaining(['config/.env', 'logs/bot-order/2026-11-20.log']));
    expect(listFiles(staged).every((f) => f.startsWith('config/') || f.startsWith('logs/'))).toBe(true);
    expect(fs.statSync(path.join(staged, 'config/.env')).mode & 0o777).toBe(0o600);
  });

  it('refuses to overwrite a database that holds tables without --yes, and changes nothing', async () => {
    const run = await botctl(t, ['backup', 'restore', name]);
    expect(run.exitCode).toBe(ExitCode.REFUSED);
    expect(run.stderr).toMatch(/holds \d+ tables; restoring .* would replace them/);
    expect(run.stderr).toMatch(/hint: add --yes/);
    expect(await databaseDigest(t.databaseUrl)).toEqual(original);
    expect(listFiles(t.localDir).filter((f) => f.includes('pre-restore'))).toEqual([]);
  });

  it('--dry-run shows target, tables, counts and files, and changes nothing', async () => {
    const before = listFiles(t.dir);
    const run = await botctl(t, ['backup', 'restore', name, '--new-db', 'never_created', '--with-config', '--dry-run', '--json']);
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{
      status: string;
      plan: { tables: unknown[]; files: { member: string; placed_at: string | null }[]; target: { database: string } };
    }>(run);
    expect(out.status).toBe('dry-run');
    expect(out.plan.target.database).toBe('never_created');
    expect(out.plan.tables.length).toBeGreaterThan(5);
    expect(out.plan.files.find((f) => f.member === 'config/.env')?.placed_at).toBe(t.envFile);
    expect(await databases()).not.toContain('never_created');
    expect(listFiles(t.dir)).toEqual(before);
    const text = await botctl(t, ['backup', 'restore', name, '--dry-run']);
    expect(text.stdout).toMatch(/Dry run: nothing was changed/);
    expect(text.stdout).toMatch(/REPLACE the \d+ tables/);
  });

  it('with --yes: takes a safety backup, then brings the database back to the backup exactly', async () => {
    await psql(t.databaseUrl, 'DELETE FROM audit_log; UPDATE products SET price = price + 1; INSERT INTO users (telegram_id) VALUES (999)');
    const changed = await databaseDigest(t.databaseUrl);
    expect(changed).not.toEqual(original);
    const run = await botctl(t, ['backup', 'restore', name, '--yes', '--json']);
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{ safety_backup: { name: string }; plan: { action: string } }>(run);
    expect(out.plan.action).toBe('overwrite');
    expect(out.safety_backup.name).toMatch(/^backup-\d{8}-\d{6}-pre-restore\.tar\.gz\.enc$/);
    expect(await databaseDigest(t.databaseUrl)).toEqual(original);

    // The safety copy holds the state before the restore.
    await botctl(t, ['backup', 'restore', out.safety_backup.name, '--new-db', `${t.dbName}_before`]);
    expect(await databaseDigest(suite.cluster.url(`${t.dbName}_before`))).toEqual(changed);
    const list = parseJsonOutput<{ backups: { name: string; kind: string }[] }>(await botctl(t, ['backup', 'list', '--json']));
    expect(list.backups.find((b) => b.name === out.safety_backup.name)?.kind).toBe('pre-restore');
    const log = maintenanceLog(t);
    expect(log).toMatch(/\[INFO\] Safety backup sebelum restore: backup-.*-pre-restore/);
    expect(log).toMatch(/\[INFO\] Restore database selesai: /);
  });

  it('a restore that fails half-way leaves the target exactly as it was', async () => {
    await psql(t.databaseUrl, "UPDATE users SET first_name = 'changed after backup'");
    const before = await databaseDigest(t.databaseUrl);
    // A pg_restore that gets only the first part of the dump: it fails in the middle of the data.
    const bin = path.join(t.dir, 'fakebin');
    const real = findPgTool('pg_restore');
    writeFakeBin(bin, 'pg_restore', `head -c 30000 | "${real}" "$@"`);
    const run = await botctlProcess(t, ['backup', 'restore', name, '--yes'], { PATH: pathWith(bin) });
    expect(run.exitCode).toBe(ExitCode.DATABASE);
    expect(run.stderr).toMatch(/pg_restore failed; the database was left as it was/);
    expect(await databaseDigest(t.databaseUrl)).toEqual(before);
    fs.rmSync(bin, { recursive: true });
  });

  it('--with-config puts .env back, keeping the file it replaces', async () => {
    const original = fs.readFileSync(t.envFile, 'utf8');
    fs.appendFileSync(t.envFile, 'LOG_LEVEL=DEBUG\n');
    const run = await botctl(t, ['backup', 'restore', name, '--new-db', `${t.dbName}_cfg`, '--with-config', '--json']);
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{ placed: { destination: string; kept_as: string }[] }>(run);
    expect(out.placed).toHaveLength(1);
    expect(out.placed[0]!.destination).toBe(t.envFile);
    expect(fs.readFileSync(t.envFile, 'utf8')).toBe(original);
    expect(fs.readFileSync(out.placed[0]!.kept_as, 'utf8')).toBe(`${original}LOG_LEVEL=DEBUG\n`);
    expect(out.placed[0]!.kept_as).toMatch(/\.env\.bak-\d{8}-\d{6}$/);
  });

  it("refuses another store's backup unless --allow-other-store", async () => {
    const other = await suite.tenant();
    const foreign = path.join(t.localDir, name);
    const run = await botctl(other, ['backup', 'restore', foreign, '--new-db', `${other.dbName}_x`]);
    expect(run.exitCode).toBe(ExitCode.REFUSED);
    expect(run.stderr).toMatch(/is a backup of "Toko Test \d+", not of this store \("Toko Test \d+"\)/);
    other.setEnv({ BACKUP_AGE_IDENTITY_FILE: t.identityFile });
    const allowed = await botctl(other, ['backup', 'restore', foreign, '--new-db', `${other.dbName}_x`, '--allow-other-store']);
    expect(allowed.exitCode).toBe(0);
  });

  it('refuses a --target-db URL that carries a password (it would show in ps)', async () => {
    const run = await botctl(t, ['backup', 'restore', name, '--target-db', 'postgresql://u:secret@127.0.0.1/x']);
    expect(run.exitCode).toBe(ExitCode.USAGE);
    expect(run.stderr).toMatch(/must not contain a password/);
    expect(run.stderr).not.toContain('secret');
  });

  it('--latest uses the offsite copy when the local folder has none', async () => {
    const t2 = await suite.tenant();
    const n = await makeBackup(t2, ['--offsite']);
    fs.rmSync(t2.localDir, { recursive: true });
    const run = await botctl(t2, ['backup', 'restore', '--latest', '--new-db', `${t2.dbName}_off`, '--json']);
    expect(run.exitCode).toBe(0);
    expect(parseJsonOutput<{ plan: { archive: { name: string; location: string } } }>(run).plan.archive).toMatchObject({ name: n, location: 'offsite' });
  });
});

describe('crafted archives are rejected before anything is written', () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await suite.tenant();
  });

  /** An archive built with GNU tar from `dir` (members in the given order), encrypted with the age CLI, with a matching sidecar. */
  function craft(label: string, build: (dir: string) => string[], tarFlags: string[] = []): string {
    const src = path.join(t.dir, `craft-${label}`);
    fs.mkdirSync(src, { recursive: true });
    const members = build(src);
    const name = `backup-2026010${label.length % 9}-0${label.length}0000.tar.gz.enc`;
    const file = path.join(t.dir, 'crafted', name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    execSync(`tar -cz ${tarFlags.join(' ')} -f - ${members.map((m) => `'${m}'`).join(' ')} | age -r ${t.recipient} -o "${file}"`, { cwd: src });
    const sha256 = execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];
    fs.writeFileSync(
      `${file}.meta.json`,
      JSON.stringify({
        format: 'botctl-backup-sidecar',
        format_version: 1,
        name,
        size: fs.statSync(file).size,
        sha256,
        created_at: '2026-01-01T00:00:00+07:00',
        store_name: t.env().BOT_STORE_NAME,
        kind: 'manual',
        members: [],
        encryption: { mode: 'recipients' },
      }),
    );
    return file;
  }

  const dump = (dir: string) => {
    fs.writeFileSync(path.join(dir, 'database.dump.0000'), 'PGDMP fake');
    return 'database.dump.0000';
  };

  it.each([
    [
      'dotdot',
      (dir: string) => {
        fs.mkdirSync(path.join(dir, 'inner'));
        fs.writeFileSync(path.join(dir, 'evil.txt'), 'pwned');
        return [dump(dir), 'inner/../evil.txt'];
      },
      ['-P'],
      /'\.\.' in path/,
    ],
    [
      'absolute',
      (dir: string) => {
        fs.writeFileSync(path.join(dir, 'x'), 'pwned');
        return [dump(dir), path.join(dir, 'x')];
      },
      ['-P'],
      /absolute path/,
    ],
    [
      'symlink',
      (dir: string) => {
        fs.mkdirSync(path.join(dir, 'config'));
        fs.symlinkSync('/etc/passwd', path.join(dir, 'config', '.env'));
        return [dump(dir), 'config/.env'];
      },
      [],
      /SymbolicLink entry/,
    ],
  ])('%s entries: INTEGRITY, no database created, nothing staged', async (label, build, flags, why) => {
    const file = craft(label, build, flags);
    const before = listFiles(t.dir);
    const run = await botctl(t, ['backup', 'restore', file, '--new-db', `${t.dbName}_${label}`, '--with-config']);
    expect(run.exitCode).toBe(ExitCode.INTEGRITY);
    expect(run.stderr).toMatch(why);
    expect(await databases()).not.toContain(`${t.dbName}_${label}`);
    expect(listFiles(t.dir)).toEqual(before);
    expect(fs.existsSync(path.join(t.dir, 'restore'))).toBe(false);
  });
});

describe('backup drill', () => {
  let t: Tenant;
  let name: string;
  beforeAll(async () => {
    t = await suite.tenant();
    name = await makeBackup(t);
  });

  const scratchDatabases = async () => (await databases()).filter((d) => d.startsWith('botctl_drill_'));

  it('restores into a scratch database, matches counts and checksums, runs the sanity checks, drops it, records the result', async () => {
    const run = await botctl(t, ['backup', 'drill', '--json']);
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{
      ok: boolean;
      restore_ms: number;
      scratch_dropped: boolean;
      tables: { checksum: string; expected: number; restored: number }[];
      sanity: { name: string; ok: boolean }[];
    }>(run);
    expect(out.ok).toBe(true);
    expect(out.scratch_dropped).toBe(true);
    expect(out.restore_ms).toBeGreaterThan(0);
    expect(out.tables.filter((x) => x.checksum === 'match').length).toBeGreaterThan(5);
    expect(out.tables.some((x) => x.checksum === 'mismatch')).toBe(false);
    expect(out.sanity.map((s) => s.name)).toEqual([
      'every order has at least one item',
      'sold stock belongs to an order',
      'completed payments belong to paid orders',
      "buyers' balances equal their ledger",
    ]);
    expect(await scratchDatabases()).toEqual([]);
    const sidecar = JSON.parse(fs.readFileSync(path.join(t.localDir, `${name}.meta.json`), 'utf8')) as { drills: { ok: boolean; restore_ms: number }[] };
    expect(sidecar.drills.at(-1)).toMatchObject({ ok: true });
    const list = parseJsonOutput<{ backups: { last_drill: { ok: boolean } }[] }>(await botctl(t, ['backup', 'list', '--json']));
    expect(list.backups[0]!.last_drill.ok).toBe(true);
    const log = maintenanceLog(t);
    expect(log).toMatch(/\[INFO\] Uji restore \(drill\) OK: backup-.* \(\d+ tabel, \d+ baris, restore /);
  });

  it('detects a doctored manifest count, fails, and still drops its scratch database', async () => {
    // Rebuild the archive with one count changed in manifest.json, re-encrypted, sidecar updated.
    const dir = path.join(t.dir, 'doctor');
    fs.mkdirSync(dir);
    const archive = path.join(t.localDir, name);
    execSync(`age --decrypt -i "${t.identityFile}" "${archive}" | tar -xz -C "${dir}"`);
    const members = execSync(`age --decrypt -i "${t.identityFile}" "${archive}" | tar -tz`, { encoding: 'utf8' }).trim().split('\n');
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { tables: { table: string; rows: number }[] };
    manifest.tables.find((x) => x.table === 'orders')!.rows += 1;
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    const doctored = path.join(t.localDir, name.replace(/-(\d{6})\./, '-235958.'));
    execSync(`tar -cz -f - ${members.map((m) => `'${m}'`).join(' ')} | age -r ${t.recipient} -o "${doctored}"`, { cwd: dir });
    const sc = JSON.parse(fs.readFileSync(`${archive}.meta.json`, 'utf8')) as Record<string, unknown>;
    sc.name = path.basename(doctored);
    sc.size = fs.statSync(doctored).size;
    sc.sha256 = execFileSync('sha256sum', [doctored], { encoding: 'utf8' }).split(' ')[0];
    fs.writeFileSync(`${doctored}.meta.json`, JSON.stringify(sc));

    const run = await botctl(t, ['backup', 'drill', path.basename(doctored), '--json']);
    expect(run.exitCode).toBe(ExitCode.INTEGRITY);
    const out = parseJsonOutput<{ ok: boolean; error: { message: string }; scratch_dropped: boolean }>(run);
    expect(out.ok).toBe(false);
    expect(out.error.message).toMatch(/public\.orders restored \d+ rows, the manifest recorded \d+/);
    expect(out.scratch_dropped).toBe(true);
    expect(await scratchDatabases()).toEqual([]);
    const recorded = JSON.parse(fs.readFileSync(`${doctored}.meta.json`, 'utf8')) as { drills: { ok: boolean }[] };
    expect(recorded.drills.at(-1)?.ok).toBe(false);
  });
});

describe('backup prune', () => {
  let t: Tenant;
  let names: string[];

  /** Copies of one real backup under other dates, with sidecars that say so. */
  function fabricate(t: Tenant, source: string, stamps: string[], dir = t.localDir): string[] {
    const sc = JSON.parse(fs.readFileSync(path.join(t.localDir, `${source}.meta.json`), 'utf8')) as Record<string, unknown>;
    return stamps.map((stamp) => {
      const n = `backup-${stamp}.tar.gz.enc`;
      fs.mkdirSync(dir, { recursive: true });
      fs.copyFileSync(path.join(t.localDir, source), path.join(dir, n));
      const iso = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}+07:00`;
      // A fabricated copy is ordered by its date, like archives made before sequences.
      fs.writeFileSync(
        path.join(dir, `${n}.meta.json`),
        JSON.stringify({ ...sc, sequence: undefined, name: n, created_at: iso, verifications: [], drills: [] }, null, 2),
      );
      return n;
    });
  }

  beforeAll(async () => {
    t = await suite.tenant({ seed: false });
    // Five days, one backup a day, in the past: copies of one real backup.
    const fake = await makeBackup(t);
    names = fabricate(t, fake, ['20261101-020000', '20261102-020000', '20261103-020000', '20261104-020000', '20261105-020000']);
    fs.rmSync(path.join(t.localDir, fake));
    fs.rmSync(path.join(t.localDir, `${fake}.meta.json`));
  });

  it('--dry-run prints the plan and deletes nothing', async () => {
    const before = listFiles(t.localDir);
    const run = await botctl(t, ['backup', 'prune', '--keep', '2', '--keep-daily', '0', '--keep-weekly', '0', '--keep-monthly', '0', '--dry-run', '--json']);
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{ dry_run: boolean; locations: { decisions: { name: string; action: string; reasons: string[] }[]; removed: number }[] }>(run);
    expect(out.dry_run).toBe(true);
    expect(out.locations[0]!.removed).toBe(3);
    expect(out.locations[0]!.decisions.find((d) => d.name === names[0])).toMatchObject({ action: 'remove', reasons: ['matches no keep rule'] });
    expect(listFiles(t.localDir)).toEqual(before);
  });

  it('removes archives with their sidecars and temporary leftovers older than a day, reporting freed bytes', async () => {
    const stale = path.join(t.localDir, `${names[0]}.partial-abc123`);
    fs.writeFileSync(stale, 'x'.repeat(1000));
    const old = new Date(Date.now() - 2 * 86_400_000);
    fs.utimesSync(stale, old, old);
    const fresh = path.join(t.localDir, `${names[1]}.partial-def456`);
    fs.writeFileSync(fresh, 'in progress');
    const run = await botctl(t, ['backup', 'prune', '--keep', '2', '--keep-daily', '0', '--keep-weekly', '0', '--keep-monthly', '0', '--json']);
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{ freed_bytes: number }>(run);
    expect(out.freed_bytes).toBeGreaterThan(1000);
    expect(listFiles(t.localDir).sort()).toEqual([names[3]!, `${names[3]}.meta.json`, names[4]!, `${names[4]}.meta.json`, path.basename(fresh)].sort());
    fs.rmSync(fresh);
  });

  it('applies the same policy offsite with --offsite', async () => {
    const source = names[4]!;
    const off = fabricate(t, source, ['20261001-020000', '20261002-020000', '20261003-020000'], t.offsiteDir);
    const run = await botctl(t, ['backup', 'prune', '--keep', '1', '--keep-daily', '0', '--keep-weekly', '0', '--keep-monthly', '0', '--offsite', '--json']);
    expect(run.exitCode).toBe(0);
    expect(listFiles(t.offsiteDir)).toEqual([off[2]!, `${off[2]}.meta.json`]);
  });

  it('refuses --keep 0 with REFUSED (14)', async () => {
    const before = listFiles(t.localDir);
    const run = await botctl(t, ['backup', 'prune', '--keep', '0']);
    expect(run.exitCode).toBe(ExitCode.REFUSED);
    expect(run.stderr).toMatch(/--keep 0 would remove every backup; refused/);
    expect(listFiles(t.localDir)).toEqual(before);
  });
});
