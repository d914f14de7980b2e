import { execFileSync, execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, libpqEnv, parseDatabaseUrl } from '@botctl/core';
import {
  databaseDigest,
  listFiles,
  parseJsonOutput,
  pathWith,
  writeFakeBin,
  BOTCTL_MAIN,
  runBotctl,
  spawnBotctl,
  type Tenant,
  writeFakePgDump,
  maintenanceLog,
} from '@botctl/test-utils';
import { botctl, botctlProcess, useCluster } from './harness.js';

const DOCS = fileURLToPath(new URL('../../../docs/', import.meta.url));

/** Runs the manual recovery block of docs/backup-format.md, as written, on one archive into `target`. */
function manualRecovery(t: Tenant, archive: string, target: string): string {
  const doc = fs.readFileSync(path.join(DOCS, 'backup-format.md'), 'utf8');
  const block = /<!-- manual-recovery:start -->\s*```bash\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/backup-format.md has no manual-recovery block');
  const info = parseDatabaseUrl(t.databaseUrl);
  const script = block
    .replace(/^ARCHIVE=.*$/m, `ARCHIVE=${archive}`)
    .replace(/^IDENTITY=.*$/m, `IDENTITY=${t.identityFile}`)
    .replace(/^TARGET_DB=.*$/m, `TARGET_DB=${target}`)
    .replace(/^export PGHOST=.*$/m, `export PGHOST=${info.host} PGPORT=${info.port} PGUSER=${info.user}`);
  return execFileSync('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: t.dir,
    env: { ...process.env, PGPASSWORD: info.password!.reveal() },
    encoding: 'utf8',
  });
}

interface CreateJson {
  ok: boolean;
  status: string;
  name: string;
  path: string;
  size: number;
  sha256: string;
  tables: number;
  rows: number;
  offsite: { status: string; path?: string; error?: string };
  config_files: string[];
  log_files: number;
}

const suite = useCluster('botctl-e2e-');

function decryptList(t: Tenant, archive: string): string[] {
  return execSync(`age --decrypt -i "${t.identityFile}" "${archive}" | tar -tz`, { encoding: 'utf8' }).trim().split('\n');
}

/** The archive, sidecars, and no temporary or lock files: the state after a clean run. */
function backupFiles(dir: string): string[] {
  return listFiles(dir);
}

describe('backup create, list, verify (recipients mode)', () => {
  let t: Tenant;
  let created: CreateJson;

  beforeAll(async () => {
    t = await suite.tenant();
    // A real process: the built binary end to end.
    const run = await botctlProcess(t, ['backup', 'create', '--offsite', '--json']);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(ExitCode.OK);
    created = parseJsonOutput<CreateJson>(run);
  });

  it('writes the archive and its sidecar, locally and offsite, and nothing else', () => {
    expect(created.ok).toBe(true);
    expect(created.name).toMatch(/^backup-\d{8}-\d{6}\.tar\.gz\.enc$/);
    expect(backupFiles(t.localDir)).toEqual([created.name, `${created.name}.meta.json`]);
    expect(backupFiles(t.offsiteStoreDir)).toEqual([created.name, `${created.name}.meta.json`]);
    expect(fs.statSync(path.join(t.localDir, created.name)).mode & 0o777).toBe(0o600);
    expect(created.offsite.status).toBe('ok');
    expect(fs.readFileSync(path.join(t.offsiteStoreDir, created.name)).equals(fs.readFileSync(path.join(t.localDir, created.name)))).toBe(true);
  });

  it('the real age CLI decrypts it and GNU tar lists dump, config, logs and the manifest last', () => {
    const members = decryptList(t, path.join(t.localDir, created.name));
    expect(members[0]).toBe('database.dump.0000');
    expect(members).toContain('config/.env');
    expect(members).toContain('logs/bot-order/2026-11-20.log');
    expect(members.at(-1)).toBe('manifest.json');
  });

  it('records row counts that match the database, and a sidecar that matches the file', async () => {
    const archive = path.join(t.localDir, created.name);
    const manifest = JSON.parse(execSync(`age --decrypt -i "${t.identityFile}" "${archive}" | tar -xzO manifest.json`, { encoding: 'utf8' })) as {
      tables: { schema: string; table: string; rows: number }[];
      store_name: string;
      members: { name: string }[];
    };
    const digest = await databaseDigest(t.databaseUrl);
    for (const tb of manifest.tables) expect(tb.rows).toBe(digest[`${tb.schema}.${tb.table}`]?.rows);
    expect(manifest.tables.length).toBe(Object.keys(digest).length);
    expect(manifest.store_name).toBe(t.env().BOT_STORE_NAME);
    const sidecar = JSON.parse(fs.readFileSync(`${archive}.meta.json`, 'utf8')) as Record<string, unknown>;
    expect(sidecar.sha256).toBe(execFileSync('sha256sum', [archive], { encoding: 'utf8' }).split(' ')[0]);
    expect(sidecar.size).toBe(fs.statSync(archive).size);
    expect(sidecar.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+07:00$/);
    expect((sidecar.encryption as { mode: string }).mode).toBe('recipients');
    expect((sidecar.members as unknown[]).length).toBe(manifest.members.length);
  });

  it('restores through age, tar and pg_restore into a database identical to the source', async () => {
    const target = `${t.dbName}_copy`;
    const targetUrl = await suite.cluster.createDatabase(target);
    const env = { ...process.env, ...libpqEnv(parseDatabaseUrl(targetUrl)) };
    execSync(
      `age --decrypt -i "${t.identityFile}" "${path.join(t.localDir, created.name)}" | tar -xzO --wildcards 'database.dump.*' | pg_restore --no-owner --exit-on-error -d "${target}"`,
      { env },
    );
    expect(await databaseDigest(targetUrl)).toEqual(await databaseDigest(t.databaseUrl));
  });

  it('the manual recovery in docs/backup-format.md works as written', async () => {
    const target = `${t.dbName}_manual`;
    expect(manualRecovery(t, path.join('backups/local', created.name), target)).toContain('hash OK');
    expect(await databaseDigest(suite.cluster.url(target))).toEqual(await databaseDigest(t.databaseUrl));
    expect(fs.readFileSync(path.join(t.dir, 'recovered', 'config', '.env'), 'utf8')).toBe(fs.readFileSync(t.envFile, 'utf8'));
    expect(fs.existsSync(path.join(t.dir, 'recovered', 'manifest.json'))).toBe(true);
    expect(fs.readdirSync(path.join(t.dir, 'recovered')).some((f) => f.startsWith('database.dump'))).toBe(false);
  });

  it('lists the backup as complete and present in both places', async () => {
    const run = await botctl(t, ['backup', 'list', '--json']);
    expect(run.exitCode).toBe(0);
    const { backups } = parseJsonOutput<{ backups: { name: string; where: string; complete: boolean; time: string }[] }>(run);
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatchObject({ name: created.name, where: 'both', complete: true });
    const text = await botctl(t, ['backup', 'list']);
    expect(text.stdout).toMatch(
      new RegExp(`${created.name.replace(/\./g, '\\.')}\\s+\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} \\+07:00\\s+[\\d.]+ KiB\\s+both`),
    );
  });

  it('verifies fully, records the result in the sidecar, and list shows it', async () => {
    const run = await botctl(t, ['backup', 'verify', '--latest']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/OK, full check/);
    const sidecar = JSON.parse(fs.readFileSync(path.join(t.localDir, `${created.name}.meta.json`), 'utf8')) as {
      verifications: { ok: boolean; level: string }[];
    };
    expect(sidecar.verifications.at(-1)).toMatchObject({ ok: true, level: 'full' });
    const list = parseJsonOutput<{ backups: { last_verification: { ok: boolean } }[] }>(await botctl(t, ['backup', 'list', '--json']));
    expect(list.backups[0]!.last_verification.ok).toBe(true);
  });

  it('verifies local and offsite copies with --all', async () => {
    const run = await botctl(t, ['backup', 'verify', '--all', '--json']);
    expect(run.exitCode).toBe(0);
    const report = parseJsonOutput<{ ok: boolean; results: { location: string; ok: boolean }[] }>(run);
    expect(report.results.map((r) => [r.location, r.ok]).sort()).toEqual([
      ['local', true],
      ['offsite', true],
    ]);
  });

  it('logs each run in logs/maintenance in the plan format', () => {
    const logs = fs.readdirSync(path.join(t.logDir, 'maintenance'));
    const text = logs.map((f) => fs.readFileSync(path.join(t.logDir, 'maintenance', f), 'utf8')).join('');
    expect(text).toMatch(/^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] \[INFO\] Backup database selesai: backups\/local\/backup-/m);
    expect(text).toMatch(/\[INFO\] Salinan offsite terverifikasi/);
    expect(text).toMatch(/\[INFO\] Verifikasi backup OK \(full, local\)/);
  });
});

describe('what goes into an archive', () => {
  it('takes BACKUP_EXTRA_FILES, leaves logs out with --no-logs, and lists an archive without sidecar as incomplete', async () => {
    const t = await suite.tenant();
    fs.mkdirSync(path.join(t.dir, 'conf'), { recursive: true });
    fs.writeFileSync(path.join(t.dir, 'conf', 'nginx.conf'), 'server {}\n');
    t.setEnv({ BACKUP_EXTRA_FILES: 'conf/nginx.conf,conf/missing.conf' });
    const run = await botctl(t, ['backup', 'create', '--no-logs', '--json']);
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<CreateJson & { warnings: string[] }>(run);
    expect(out.config_files).toEqual(['config/.env', 'config/conf/nginx.conf']);
    expect(out.log_files).toBe(0);
    expect(out.warnings.join('\n')).toMatch(/missing\.conf is missing/);
    const members = decryptList(t, path.join(t.localDir, out.name));
    expect(members.filter((m) => m.startsWith('logs/'))).toEqual([]);
    expect(members).toContain('config/conf/nginx.conf');

    // An archive whose sidecar never got written (a crash between the two) is listed, as incomplete.
    const orphan = out.name.replace(/-(\d{6})\./, '-235959.');
    fs.copyFileSync(path.join(t.localDir, out.name), path.join(t.localDir, orphan));
    const list = parseJsonOutput<{ backups: { name: string; complete: boolean }[] }>(await botctl(t, ['backup', 'list', '--json']));
    expect(list.backups.find((b) => b.name === orphan)).toMatchObject({ complete: false });
    const text = await botctl(t, ['backup', 'list']);
    expect(text.stdout).toMatch(/incomplete: no sidecar/);
  });

  it('records row counts from the snapshot the dump reads, even while the shop keeps writing', async () => {
    const t = await suite.tenant();
    const bin = path.join(t.dir, 'fakebin');
    // pg_dump starts 3 s after the snapshot was exported; rows inserted meanwhile are in neither.
    // They go in once pg_dump has started (a fixed wait raced botctl's start on a busy machine).
    const started = path.join(t.dir, 'pg_dump-started');
    writeFakePgDump(bin, { kind: 'slow', seconds: 3, started });
    const child = spawnBotctl(['--env-file', t.envFile, 'backup', 'create', '--json'], { cwd: t.dir, env: { PATH: pathWith(bin) } });
    for (let i = 0; i < 600 && !fs.existsSync(started); i++) await new Promise((r) => setTimeout(r, 50));
    expect(fs.existsSync(started)).toBe(true);
    const before = (await databaseDigest(t.databaseUrl))['public.audit_log']!.rows;
    execFileSync('psql', ['-qc', "INSERT INTO audit_log (actor, action) SELECT 'test', 'late write' FROM generate_series(1, 25)"], {
      env: { ...process.env, ...libpqEnv(parseDatabaseUrl(t.databaseUrl)) },
    });
    const r = await child;
    expect(r.exitCode).toBe(0);
    const name = (JSON.parse(String(r.stdout)) as CreateJson).name;
    const manifest = JSON.parse(
      execSync(`age --decrypt -i "${t.identityFile}" "${path.join(t.localDir, name)}" | tar -xzO manifest.json`, { encoding: 'utf8' }),
    ) as { tables: { table: string; rows: number }[] };
    expect(manifest.tables.find((x) => x.table === 'audit_log')?.rows).toBe(before);
    // ... and the dump agrees with the manifest, not with the database as it is now.
    const copy = `${t.dbName}_snap`;
    const copyUrl = await suite.cluster.createDatabase(copy);
    execSync(
      `age --decrypt -i "${t.identityFile}" "${path.join(t.localDir, name)}" | tar -xzO --wildcards 'database.dump.*' | pg_restore --no-owner -d "${copy}"`,
      { env: { ...process.env, ...libpqEnv(parseDatabaseUrl(copyUrl)) } },
    );
    expect((await databaseDigest(copyUrl))['public.audit_log']!.rows).toBe(before);
    expect((await databaseDigest(t.databaseUrl))['public.audit_log']!.rows).toBe(before + 25);
  });

  it('never writes plaintext to disk: every file that appears during a backup is encrypted or metadata', async () => {
    const t = await suite.tenant({ scale: 3 });
    const tmp = path.join(t.dir, 'tmp');
    fs.mkdirSync(tmp);
    const bin = path.join(t.dir, 'fakebin');
    writeFakePgDump(bin, { kind: 'slow', seconds: 1 });
    const child = spawnBotctl(['--env-file', t.envFile, 'backup', 'create', '--offsite'], { cwd: t.dir, env: { PATH: pathWith(bin), TMPDIR: tmp } });
    const seen = new Map<string, Buffer>();
    const scan = () => {
      for (const dir of [t.dir, tmp]) {
        for (const f of listFiles(dir)) {
          const full = path.join(dir, f);
          if (f.startsWith('fakebin') || f.startsWith('logs/') || f === '.env') continue;
          try {
            const fd = fs.openSync(full, 'r');
            const head = Buffer.alloc(512);
            const n = fs.readSync(fd, head, 0, 512, 0);
            fs.closeSync(fd);
            if (n > 0 || !seen.has(f)) seen.set(f, head.subarray(0, n));
          } catch {
            // renamed or removed between listing and reading
          }
        }
      }
    };
    while (child.exitCode === null) {
      scan();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect((await child).exitCode).toBe(0);
    scan();
    expect([...seen.keys()].some((f) => f.includes('.partial-'))).toBe(true);
    for (const [f, head] of seen) {
      if (head.length === 0) continue; // created, nothing written yet when we looked
      const text = head.toString('latin1');
      if (f.endsWith('.json') || f.endsWith('.lock') || f.includes('.json.partial-')) {
        expect(text.trimStart().startsWith('{')).toBe(true);
      } else {
        expect(text.startsWith('age-encryption.org/v1\n')).toBe(true);
      }
      expect(text).not.toContain('PGDMP');
      expect(head.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(false);
    }
  });

  it('a scheduled run copies offsite when BACKUP_AUTOMATIC_OFFSITE is true (the default), and not when false', async () => {
    const t = await suite.tenant();
    const first = parseJsonOutput<CreateJson>(await botctl(t, ['backup', 'create', '--scheduled', '--json']));
    expect(first.offsite.status).toBe('ok');
    t.setEnv({ BACKUP_AUTOMATIC_OFFSITE: 'false' });
    const second = parseJsonOutput<CreateJson>(await botctl(t, ['backup', 'create', '--scheduled', '--json']));
    expect(second.offsite.status).toBe('skipped');
    const sidecar = JSON.parse(fs.readFileSync(path.join(t.localDir, `${second.name}.meta.json`), 'utf8')) as { kind: string };
    expect(sidecar.kind).toBe('scheduled');
  });

  it('at a terminal, shows progress and a coloured summary; under cron, plain lines', async () => {
    const t = await suite.tenant();
    // script(1) gives botctl a pseudo-terminal.
    const tty = execFileSync('script', ['-qec', `"${process.execPath}" -- "${BOTCTL_MAIN}" --env-file "${t.envFile}" backup create`, '/dev/null'], {
      cwd: t.dir,
      env: { ...process.env, TERM: 'xterm-256color', NO_COLOR: '' },
      encoding: 'utf8',
    });
    expect(tty).toContain('\u001b[');
    expect(tty).toMatch(/Backup complete/);
    const cron = await botctl(t, ['backup', 'create']);
    expect(cron.stdout + cron.stderr).not.toContain('\u001b[');
    expect(cron.stdout).toMatch(/^✓ Backup complete$/m);
  });
});

describe('backup verify catches what is wrong, each with its own exit code', () => {
  let t: Tenant;
  let name: string;
  let archive: string;

  beforeAll(async () => {
    t = await suite.tenant();
    const run = await botctl(t, ['backup', 'create', '--json']);
    expect(run.exitCode).toBe(0);
    name = parseJsonOutput<CreateJson>(run).name;
    archive = path.join(t.localDir, name);
  });

  const copyAs = (suffix: string, mutate?: (b: Buffer) => Buffer, sidecar = true) => {
    const n = name.replace('.tar.gz.enc', `${suffix}.tar.gz.enc`).replace(/-(\d{6})/, (_m, s: string) => `-${s}`);
    const file = path.join(t.dir, 'suspects', n);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const data = fs.readFileSync(archive);
    fs.writeFileSync(file, mutate ? mutate(Buffer.from(data)) : data);
    if (sidecar) fs.copyFileSync(`${archive}.meta.json`, `${file}.meta.json`);
    return file;
  };

  it('a flipped byte: INTEGRITY (8), in full and quick mode', async () => {
    const file = copyAs('', (b) => {
      b[Math.floor(b.length / 2)]! ^= 0x01;
      return b;
    });
    const full = await botctl(t, ['backup', 'verify', file]);
    expect(full.exitCode).toBe(ExitCode.INTEGRITY);
    expect(full.stderr).toMatch(/^botctl: error: .*(modified|corrupted)/m);
    expect(full.stderr).not.toMatch(/\n\s+at /);
    const quick = await botctl(t, ['backup', 'verify', '--quick', file]);
    expect(quick.exitCode).toBe(ExitCode.INTEGRITY);
    expect(quick.stderr).toMatch(/does not match its SHA-256/);
  });

  it('a truncated file: INTEGRITY (8), said to be truncated', async () => {
    const file = copyAs('', (b) => b.subarray(0, b.length - 1000));
    const run = await botctl(t, ['backup', 'verify', file]);
    expect(run.exitCode).toBe(ExitCode.INTEGRITY);
    expect(run.stderr).toMatch(/truncated/);
  });

  it('a wrong identity: WRONG_KEY (9), naming the fingerprints', async () => {
    const other = path.join(t.dir, 'other-identity.txt');
    execFileSync('age-keygen', ['-o', other], { stdio: 'ignore' });
    const saved = t.env().BACKUP_AGE_IDENTITY_FILE;
    t.setEnv({ BACKUP_AGE_IDENTITY_FILE: other });
    try {
      const wrong = await botctl(t, ['backup', 'verify', '--latest']);
      expect(wrong.exitCode).toBe(ExitCode.WRONG_KEY);
      expect(wrong.stderr).toMatch(/does not match this backup/);
      expect(wrong.stderr).toMatch(/hint: the backup was encrypted for sha256:[0-9a-f]{16}; you hold sha256:[0-9a-f]{16}/);
      // A key problem says nothing about the archive: no failed verification is recorded.
      const sc = JSON.parse(fs.readFileSync(`${archive}.meta.json`, 'utf8')) as { verifications: { ok: boolean }[] };
      expect(sc.verifications.filter((v) => !v.ok)).toEqual([]);
    } finally {
      t.setEnv({ BACKUP_AGE_IDENTITY_FILE: saved });
    }
  });

  it('a missing sidecar: INCOMPLETE (10)', async () => {
    const file = copyAs('', undefined, false);
    fs.rmSync(`${file}.meta.json`, { force: true });
    const run = await botctl(t, ['backup', 'verify', file]);
    expect(run.exitCode).toBe(ExitCode.INCOMPLETE);
    expect(run.stderr).toMatch(/has no sidecar/);
  });

  it('a file that is not a backup: NOT_A_BACKUP (11)', async () => {
    const file = path.join(t.dir, 'suspects', 'notes.txt');
    fs.writeFileSync(file, 'just some text\n');
    const run = await botctl(t, ['backup', 'verify', file, '--json']);
    expect(run.exitCode).toBe(ExitCode.NOT_A_BACKUP);
    const out = parseJsonOutput<{ ok: boolean; results: { error: { code: string } }[] }>(run);
    expect(out.ok).toBe(false);
    expect(out.results[0]!.error.code).toBe('NOT_A_BACKUP');
  });

  it('an age file that holds something else: NOT_A_BACKUP (11)', async () => {
    const file = path.join(t.dir, 'suspects', 'backup-20200101-000000.tar.gz.enc');
    execSync(`echo hello | age -r ${t.recipient} -o "${file}"`);
    fs.writeFileSync(
      `${file}.meta.json`,
      JSON.stringify({
        format: 'botctl-backup-sidecar',
        format_version: 1,
        name: path.basename(file),
        size: fs.statSync(file).size,
        sha256: 'x',
        members: [],
        encryption: { mode: 'recipients' },
      }),
    );
    const run = await botctl(t, ['backup', 'verify', file]);
    expect(run.exitCode).toBe(ExitCode.NOT_A_BACKUP);
    expect(run.stderr).toMatch(/not a gzip-compressed tar|not a botctl backup/);
  });

  it('a missing file: NOT_FOUND (12)', async () => {
    const run = await botctl(t, ['backup', 'verify', 'backup-19990101-000000.tar.gz.enc']);
    expect(run.exitCode).toBe(ExitCode.NOT_FOUND);
  });

  it('records failures about the archive in its sidecar', async () => {
    const file = copyAs('', (b) => {
      b[b.length - 10]! ^= 0xff;
      return b;
    });
    await botctl(t, ['backup', 'verify', file]);
    const sc = JSON.parse(fs.readFileSync(`${file}.meta.json`, 'utf8')) as { verifications: { ok: boolean; error?: string }[] };
    expect(sc.verifications.at(-1)).toMatchObject({ ok: false });
  });
});

describe('BACKUP_COMPRESSION=zstd', () => {
  it('pg_dump leaves its dump uncompressed and the zstd program compresses the archive (….tar.zst.enc); age, zstd and GNU tar read it; verify, restore and drill take it beside a gzip archive', async () => {
    const t = await suite.tenant({ extraEnv: { BACKUP_COMPRESSION: 'zstd:5' } });
    const made = await botctlProcess(t, ['backup', 'create', '--json']);
    expect(made.stderr).toBe('');
    expect(made.exitCode).toBe(0);
    const zst = parseJsonOutput<CreateJson>(made);
    expect(zst.name).toMatch(/^backup-\d{8}-\d{6}\.tar\.zst\.enc$/);
    const archive = path.join(t.localDir, zst.name);
    // The standard tools: age, then zstd (or GNU tar --zstd), then tar; the dump inside is pg_dump's own, uncompressed.
    const members = execSync(`age --decrypt -i "${t.identityFile}" "${archive}" | zstd -dc | tar -t`, { encoding: 'utf8' }).trim().split('\n');
    expect(members[0]).toBe('database.dump.0000');
    expect(members.at(-1)).toBe('manifest.json');
    const toc = execSync(`age --decrypt -i "${t.identityFile}" "${archive}" | tar --zstd -xO --wildcards 'database.dump.*' | pg_restore -l`, {
      encoding: 'utf8',
    });
    expect(toc).toMatch(/^;\s+Compression: (0|none)$/m);
    const target = `${t.dbName}_zst`;
    const targetUrl = await suite.cluster.createDatabase(target);
    execSync(
      `age --decrypt -i "${t.identityFile}" "${archive}" | zstd -dc | tar -xO --wildcards 'database.dump.*' | pg_restore --no-owner --exit-on-error -d "${target}"`,
      { env: { ...process.env, ...libpqEnv(parseDatabaseUrl(targetUrl)) } },
    );
    expect(await databaseDigest(targetUrl)).toEqual(await databaseDigest(t.databaseUrl));

    // Back to gzip: the next archive is the plan's kind; both are listed, verified, restored and drilled.
    t.setEnv({ BACKUP_COMPRESSION: 'gzip' });
    await new Promise((r) => setTimeout(r, 1000));
    const gz = parseJsonOutput<CreateJson>(await botctl(t, ['backup', 'create', '--json']));
    expect(gz.name).toMatch(/\.tar\.gz\.enc$/);
    const list = parseJsonOutput<{ backups: { name: string; complete: boolean }[] }>(await botctl(t, ['backup', 'list', '--json']));
    expect(list.backups.map((b) => [b.name, b.complete])).toEqual([
      [gz.name, true],
      [zst.name, true],
    ]);
    const verify = await botctl(t, ['backup', 'verify', '--all', '--json']);
    expect(verify.exitCode).toBe(0);
    expect(
      parseJsonOutput<{ results: { name: string; ok: boolean }[] }>(verify)
        .results.filter((r) => r.ok)
        .map((r) => r.name)
        .sort(),
    ).toEqual([gz.name, zst.name].sort());
    const restored = await botctl(t, ['backup', 'restore', zst.name, '--new-db', `${t.dbName}_zst2`, '--json']);
    expect(restored.exitCode).toBe(0);
    expect(await databaseDigest(suite.cluster.url(`${t.dbName}_zst2`))).toEqual(await databaseDigest(t.databaseUrl));
    const drill = await botctl(t, ['backup', 'drill', zst.name, '--json']);
    expect(drill.exitCode).toBe(0);
    expect(parseJsonOutput<{ ok: boolean; archive: string }>(drill)).toMatchObject({ ok: true, archive: zst.name });

    // The manual recovery of docs/backup-format.md, as written, on the zstd archive.
    expect(manualRecovery(t, archive, `${t.dbName}_zst_manual`)).toContain('hash OK');
    expect(await databaseDigest(suite.cluster.url(`${t.dbName}_zst_manual`))).toEqual(await databaseDigest(t.databaseUrl));
  });

  it('BACKUP_NICE: botctl, pg_dump and zstd run at that niceness (IO priority follows it), zstd with one worker thread; 0 leaves them as started, zstd on every core', async () => {
    const t = await suite.tenant({ extraEnv: { BACKUP_COMPRESSION: 'zstd' } });
    const bin = fs.mkdtempSync(path.join(suite.work, 'nice-'));
    const record = path.join(bin, 'record.txt');
    writeFakePgDump(bin, { kind: 'record-nice', file: record });
    const realZstd = execSync('command -v zstd', { encoding: 'utf8' }).trim();
    writeFakeBin(bin, 'zstd', `echo "zstd $(nice) $*" >> "${record}"\nexec "${realZstd}" "$@"`);
    const ours = os.getPriority();
    const lines = async (env: Record<string, string>) => {
      fs.rmSync(record, { force: true });
      const run = await botctlProcess(t, ['backup', 'create'], { PG_BIN_DIR: bin, PATH: pathWith(bin), ...env });
      expect(run.exitCode).toBe(0);
      return fs.readFileSync(record, 'utf8').trim().split('\n');
    };
    // The default, 19 (the lowest: measured, it keeps the bot's replies within 1.3x of idle).
    const byDefault = await lines({});
    const lowest = Math.max(19, ours);
    expect(byDefault).toContain(`pg_dump ${lowest} parent ${lowest}`);
    const zstd = (ls: string[]) => ls.filter((l) => l.startsWith('zstd '));
    expect(zstd(byDefault).length).toBeGreaterThan(0);
    expect(zstd(byDefault).every((l) => l.startsWith(`zstd ${lowest} `))).toBe(true);
    // The compressor (-c without -d): one worker, so it never takes both cores from the shop.
    expect(zstd(byDefault).filter((l) => / -c\b/.test(l) && !/ -d\b/.test(l))).toEqual([`zstd ${lowest} -q -1 -T1 -c`]);
    const off = await lines({ BACKUP_NICE: '0' });
    expect(off).toContain(`pg_dump ${ours} parent ${ours}`);
    expect(zstd(off).filter((l) => / -c\b/.test(l) && !/ -d\b/.test(l))).toEqual([`zstd ${ours} -q -1 -T0 -c`]);
    const bad = await botctlProcess(t, ['backup', 'create'], { BACKUP_NICE: '25' });
    expect(bad.exitCode).toBe(ExitCode.CONFIG);
    expect(bad.stderr).toMatch(/BACKUP_NICE/);
  });

  it('without the zstd program: one line with the install hint (3), nothing written; preflight says so', async () => {
    const t = await suite.tenant({ extraEnv: { BACKUP_COMPRESSION: 'zstd' } });
    // A PATH without zstd: the backup needs nothing else from it (pg_dump is found by its own rules).
    const bin = fs.mkdtempSync(path.join(suite.work, 'nozstd-'));
    const run = await botctlProcess(t, ['backup', 'create'], { PATH: bin });
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toBe(
      'botctl: error: the zstd program is not installed (BACKUP_COMPRESSION=zstd needs it)\nhint: install zstd (apt-get install -y zstd), or set BACKUP_COMPRESSION=gzip',
    );
    expect(fs.existsSync(t.localDir) ? fs.readdirSync(t.localDir).filter((f) => f.startsWith('backup-')) : []).toEqual([]);
    const pre = await botctlProcess(t, ['preflight', '--json'], { PATH: bin });
    const line = parseJsonOutput<{ checks: { id: string; mark: string; fact: string; fix?: string }[] }>(pre).checks.find((c) => c.id === 'compression');
    expect(line).toMatchObject({ mark: 'fail', fix: 'install zstd (apt-get install -y zstd), or set BACKUP_COMPRESSION=gzip' });
  });

  it('BACKUP_COMPRESSION=auto (the default): zstd level 1 where the program is installed, else gzip, never a failure; preflight says which', async () => {
    const t = await suite.tenant({ extraEnv: { BACKUP_COMPRESSION: 'auto' } });
    const withZstd = await botctl(t, ['backup', 'create', '--json']);
    expect(withZstd.exitCode).toBe(0);
    const z = parseJsonOutput<CreateJson>(withZstd);
    expect(z.name).toMatch(/^backup-\d{8}-\d{6}\.tar\.zst\.enc$/);
    // The dump inside is pg_dump's uncompressed custom format (-Z0), as only the zstd path writes it.
    const archive = path.join(t.localDir, z.name);
    const toc = execSync(`age --decrypt -i "${t.identityFile}" "${archive}" | zstd -dc | tar -xO --wildcards 'database.dump.*' | pg_restore -l`, {
      encoding: 'utf8',
    });
    expect(toc).toMatch(/^;\s+Compression: 0$/m);
    const preZ = await botctlProcess(t, ['preflight', '--json']);
    const lineZ = parseJsonOutput<{ checks: { id: string; mark: string; fact: string }[] }>(preZ).checks.find((c) => c.id === 'compression');
    expect(lineZ).toMatchObject({ mark: 'ok', fact: expect.stringMatching(/^auto: zstd level 1: .+/) });

    // No zstd on PATH: today's gzip format, exit 0, and preflight warns (with the install hint).
    const bin = fs.mkdtempSync(path.join(suite.work, 'auto-nozstd-'));
    await new Promise((r) => setTimeout(r, 1100)); // a second name
    const noZstd = await botctlProcess(t, ['backup', 'create', '--json'], { PATH: bin });
    expect(noZstd.exitCode).toBe(0);
    const g = parseJsonOutput<CreateJson>(noZstd);
    expect(g.name).toMatch(/^backup-\d{8}-\d{6}\.tar\.gz\.enc$/);
    expect(execSync(`age --decrypt -i "${t.identityFile}" "${path.join(t.localDir, g.name)}" | tar -tz`, { encoding: 'utf8' })).toMatch(/manifest\.json/);
    const preG = await botctlProcess(t, ['preflight', '--json'], { PATH: bin });
    const lineG = parseJsonOutput<{ checks: { id: string; mark: string; fact: string; fix?: string }[] }>(preG).checks.find((c) => c.id === 'compression');
    expect(lineG).toMatchObject({
      mark: 'warn',
      fact: 'auto: gzip, the zstd program is not installed',
      fix: expect.stringMatching(/^apt-get install -y zstd/),
    });
    // Both read back whatever the setting says now.
    expect((await botctl(t, ['backup', 'verify', z.name])).exitCode).toBe(0);
    expect((await botctl(t, ['backup', 'verify', g.name])).exitCode).toBe(0);
  });
});

describe('passphrase mode', () => {
  it('creates and fully verifies with BACKUP_ENCRYPTION_PASSWORD (scrypt 18), and the age CLI opens it', async () => {
    const t = await suite.tenant({ mode: 'passphrase' });
    const run = await botctl(t, ['backup', 'create', '--json']);
    expect(run.exitCode).toBe(0);
    const created = parseJsonOutput<CreateJson & { encryption: { mode: string; scrypt_work_factor: number } }>(run);
    expect(created.encryption).toEqual({ mode: 'passphrase', scrypt_work_factor: 18 });
    const verify = await botctl(t, ['backup', 'verify', '--latest']);
    expect(verify.exitCode).toBe(0);
    // age reads a passphrase only from a terminal: give it one with script(1).
    const archive = path.join(t.localDir, created.name);
    const out = path.join(t.dir, 'plain.tar.gz');
    execSync(`script -qec 'age --decrypt -o "${out}" "${archive}"' /dev/null`, { input: `${t.passphrase}\n`, stdio: ['pipe', 'ignore', 'ignore'] });
    expect(execFileSync('tar', ['-tzf', out], { encoding: 'utf8' })).toMatch(/manifest\.json/);
  });
});

describe('failed backups leave nothing that looks complete', () => {
  let t: Tenant;
  let bin: string;
  beforeAll(async () => {
    t = await suite.tenant();
    bin = path.join(t.dir, 'fakebin');
  });
  afterEach(() => fs.rmSync(bin, { recursive: true, force: true }));

  const withFake = () => ({ PATH: pathWith(bin) });

  it('pg_dump failing half-way: DATABASE (6), no archive, no sidecar, no temp file, lock released', async () => {
    writeFakePgDump(bin, { kind: 'fail-halfway', bytes: 20_000 });
    const run = await botctlProcess(t, ['backup', 'create'], withFake());
    expect(run.exitCode).toBe(ExitCode.DATABASE);
    expect(run.stderr).toMatch(/^botctl: error: pg_dump failed \(exit code 1\): pg_dump: error: connection to server lost$/m);
    expect(backupFiles(t.localDir)).toEqual([]);
    const log = maintenanceLog(t);
    expect(log).toMatch(/\[ERROR\] Backup database gagal: pg_dump failed/);
  });

  it('pg_dump writing garbage: DATABASE (6), nothing left', async () => {
    writeFakePgDump(bin, { kind: 'garbage' });
    const run = await botctlProcess(t, ['backup', 'create'], withFake());
    expect(run.exitCode).toBe(ExitCode.DATABASE);
    expect(run.stderr).toMatch(/not a custom-format dump/);
    expect(backupFiles(t.localDir)).toEqual([]);
  });

  it('pg_dump hanging: stopped after BACKUP_DUMP_STALL_SECONDS, DATABASE (6), nothing left', async () => {
    writeFakePgDump(bin, { kind: 'hang' });
    t.setEnv({ BACKUP_DUMP_STALL_SECONDS: '5' });
    try {
      const started = Date.now();
      const run = await botctlProcess(t, ['backup', 'create'], withFake());
      expect(run.exitCode).toBe(ExitCode.DATABASE);
      expect(run.stderr).toMatch(/pg_dump wrote nothing for 5 s/);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(backupFiles(t.localDir)).toEqual([]);
    } finally {
      t.setEnv({ BACKUP_DUMP_STALL_SECONDS: undefined });
    }
  });

  it.each([
    ['SIGTERM', ExitCode.TERMINATED],
    ['SIGINT', ExitCode.INTERRUPTED],
  ] as const)('interrupted by %s while pg_dump hangs: exit %i, nothing left, pg_dump stopped', async (signal, code) => {
    writeFakePgDump(bin, { kind: 'hang' });
    const child = spawnBotctl(['--env-file', t.envFile, 'backup', 'create'], { cwd: t.dir, env: withFake() });
    // Wait until the archive is being written, then interrupt.
    for (let i = 0; i < 100 && !(fs.existsSync(t.localDir) && fs.readdirSync(t.localDir).some((f) => f.includes('.partial-'))); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(fs.readdirSync(t.localDir).some((f) => f.includes('.partial-'))).toBe(true);
    child.kill(signal);
    const r = await child;
    expect(r.exitCode).toBe(code);
    expect(String(r.stderr)).toMatch(new RegExp(`interrupted by ${signal}`));
    expect(backupFiles(t.localDir)).toEqual([]);
    const sleepers = execSync('ps -eo args', { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.startsWith('sleep 3600'));
    expect(sleepers).toEqual([]);
  });

  it('pg_dump older than the server: VERSION_MISMATCH (7)', async () => {
    writeFakePgDump(bin, { kind: 'old-version', version: '14.9' });
    const run = await botctlProcess(t, ['backup', 'create'], withFake());
    expect(run.exitCode).toBe(ExitCode.VERSION_MISMATCH);
    expect(run.stderr).toMatch(/pg_dump 14\.9 is older than the server \(PostgreSQL 15\.\d+\)/);
    expect(run.stderr).toMatch(/hint: install the PostgreSQL 15 client tools/);
    expect(backupFiles(t.localDir)).toEqual([]);
  });

  it('the disk filling up: NO_SPACE (13), nothing left', async () => {
    if (process.getuid?.() !== 0) {
      // A tiny filesystem needs mount(8); as a normal user this case is covered by the storage
      // contract's failed-write test.
      return;
    }
    const mnt = path.join(t.dir, 'tiny');
    fs.mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24k', 'tmpfs', mnt]);
    try {
      t.setEnv({ BACKUP_LOCAL_DIR: 'tiny' });
      const run = await botctl(t, ['backup', 'create']);
      expect(run.exitCode).toBe(ExitCode.NO_SPACE);
      expect(run.stderr).toMatch(/no space left/);
      expect(listFiles(mnt)).toEqual([]);
    } finally {
      t.setEnv({ BACKUP_LOCAL_DIR: 'backups/local' });
      execFileSync('umount', [mnt]);
    }
  });

  it('an unusable offsite folder: PARTIAL (5), the local backup stays complete', async () => {
    const blocker = path.join(t.dir, 'offsite-is-a-file');
    fs.writeFileSync(blocker, 'not a folder');
    t.setEnv({ BACKUP_OFFSITE_DIR: 'offsite-is-a-file/inside' });
    try {
      const run = await botctl(t, ['backup', 'create', '--offsite', '--json']);
      expect(run.exitCode).toBe(ExitCode.PARTIAL);
      const out = parseJsonOutput<CreateJson>(run);
      expect(out.status).toBe('partial');
      expect(out.offsite.status).toBe('failed');
      expect(run.stderr).toMatch(/^botctl: error: offsite copy failed: .*the local backup .* is complete$/m);
      expect(backupFiles(t.localDir)).toEqual([out.name, `${out.name}.meta.json`]);
      const verify = await botctl(t, ['backup', 'verify', out.name]);
      expect(verify.exitCode).toBe(0);
    } finally {
      t.setEnv({ BACKUP_OFFSITE_DIR: 'backups/offsite' });
    }
  });
});

describe('one operation at a time, and no secrets anywhere', () => {
  it('refuses a second concurrent create with LOCKED (4); the first one completes', async () => {
    const t = await suite.tenant();
    const bin = path.join(t.dir, 'fakebin');
    writeFakePgDump(bin, { kind: 'slow', seconds: 3 });
    const first = spawnBotctl(['--env-file', t.envFile, 'backup', 'create'], { cwd: t.dir, env: { PATH: pathWith(bin) } });
    for (let i = 0; i < 100 && !fs.existsSync(path.join(t.localDir, '.botctl.lock')); i++) await new Promise((r) => setTimeout(r, 50));
    const second = await botctl(t, ['backup', 'create']);
    expect(second.exitCode).toBe(ExitCode.LOCKED);
    expect(second.stderr).toMatch(/another maintenance operation holds the lock .*backup create \(pid \d+ on /);
    const r = await first;
    expect(r.exitCode).toBe(0);
    expect(listFiles(t.localDir)).toHaveLength(2);
  });

  it('keeps the database password and keys out of argv (ps), output, JSON, logs and sidecars', async () => {
    const t = await suite.tenant({ mode: 'passphrase' });
    const password = parseDatabaseUrl(t.databaseUrl).password!.reveal();
    const bin = path.join(t.dir, 'fakebin');
    const argsFile = path.join(t.dir, 'pg_dump-args.txt');
    writeFakePgDump(bin, { kind: 'record', file: argsFile });
    const child = spawnBotctl(['--env-file', t.envFile, 'backup', 'create', '--offsite', '--json'], { cwd: t.dir, env: { PATH: pathWith(bin) } });
    const snapshots: string[] = [];
    while (child.exitCode === null) {
      snapshots.push(execSync('ps -eo args', { encoding: 'utf8' }));
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await child;
    expect(r.exitCode).toBe(0);
    expect(snapshots.some((s) => s.includes('pg_dump --format=custom'))).toBe(true);
    const outputs = [
      ...snapshots,
      String(r.stdout),
      String(r.stderr),
      fs.readFileSync(argsFile, 'utf8'),
      ...listFiles(path.join(t.logDir, 'maintenance')).map((f) => fs.readFileSync(path.join(t.logDir, 'maintenance', f), 'utf8')),
      ...listFiles(t.localDir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => fs.readFileSync(path.join(t.localDir, f), 'utf8')),
      (await botctl(t, ['backup', 'list', '--json'])).stdout,
      (await botctl(t, ['backup', 'verify', '--latest', '--json'])).stdout,
    ];
    for (const text of outputs) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(t.passphrase);
      expect(text).not.toContain(t.dataKey);
    }
  });
});

describe('configuration and keys', () => {
  it('reports every configuration problem in one message with CONFIG (3)', async () => {
    const dir = path.join(suite.work, 'badconfig');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.env'), 'BOT_TIMEZONE=Nowhere/Land\nHEALTH_CPU_THRESHOLD=500\n');
    const run = await runBotctl(['backup', 'create'], { cwd: dir });
    expect(run.exitCode).toBe(ExitCode.CONFIG);
    expect(run.stderr.split('\n')[0]).toMatch(/invalid configuration \(2 problems\): .*BOT_TIMEZONE.*HEALTH_CPU_THRESHOLD/);
    expect(run.stderr).toMatch(/^hint: /m);
  });

  it('says what is missing for a backup, all at once', async () => {
    const dir = path.join(suite.work, 'emptyconfig');
    fs.mkdirSync(dir, { recursive: true });
    const run = await runBotctl(['backup', 'create', '--json'], { cwd: dir });
    expect(run.exitCode).toBe(ExitCode.CONFIG);
    const out = parseJsonOutput<{ ok: boolean; error: { code: string; message: string } }>(run);
    expect(out.error.code).toBe('CONFIG');
    expect(out.error.message).toMatch(/DATABASE_URL.*BACKUP_AGE_RECIPIENTS/);
  });

  it('rejects unknown options with USAGE (2)', async () => {
    const run = await runBotctl(['backup', 'create', '--offsight'], { cwd: suite.work });
    expect(run.exitCode).toBe(ExitCode.USAGE);
    expect(run.stderr).toMatch(/unknown option '--offsight'/);
  });

  it('keygen writes a 0600 identity, prints its recipient, and never overwrites', async () => {
    const dir = path.join(suite.work, 'keys');
    fs.mkdirSync(dir, { recursive: true });
    const run = await runBotctl(['keygen', '--output', 'id.txt', '--json'], { cwd: dir });
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{ recipient: string; identity_file: string }>(run);
    expect(out.recipient).toMatch(/^age1[0-9a-z]+$/);
    expect(run.stdout).not.toMatch(/AGE-SECRET-KEY/);
    const file = path.join(dir, 'id.txt');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // The real age tooling agrees on the recipient.
    expect(execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim()).toBe(out.recipient);
    const again = await runBotctl(['keygen', '--output', 'id.txt'], { cwd: dir });
    expect(again.exitCode).toBe(ExitCode.REFUSED);
    expect(again.stderr).toMatch(/refusing to overwrite/);
  });
});

describe('botctl demo', () => {
  it('runs the whole quick start on its own throwaway PostgreSQL and cleans up', async () => {
    const run = await runBotctl(['demo', '--json'], { cwd: suite.work, timeoutMs: 120_000 });
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{ ok: boolean; dir: string; commands: { command: string; exit_code: number }[] }>(run);
    expect(out.ok).toBe(true);
    expect(out.commands.map((c) => c.command)).toEqual([
      'botctl backup create --offsite',
      'botctl backup verify --latest',
      'botctl backup list',
      'botctl backup drill --latest',
      'botctl backup restore --latest --new-db toko_demo_restored',
      'botctl healthcheck --no-alert',
      'botctl status',
    ]);
    const code = (c: string) => out.commands.find((x) => x.command === c)!.exit_code;
    for (const c of out.commands.slice(0, 5)) expect([c.command, c.exit_code]).toEqual([c.command, 0]);
    expect(code('botctl status')).toBeLessThanOrEqual(2);
    expect(code('botctl healthcheck --no-alert')).toBeLessThanOrEqual(1);
    // List after verify: the backup shows as verified; the drill reports its row counts.
    const result = (c: string) => (out.commands.find((x) => x.command === c) as { result?: unknown }).result as Record<string, unknown>;
    expect(JSON.stringify(result('botctl backup list'))).toMatch(/"last_verification":\{[^}]*"ok":true/);
    expect(JSON.stringify(result('botctl backup drill --latest'))).toMatch(/"rows"/);
    expect(fs.existsSync(out.dir)).toBe(false);
  });
});
