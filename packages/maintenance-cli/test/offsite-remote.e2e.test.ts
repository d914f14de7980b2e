import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ExitCode } from '@botctl/core';
import {
  type CliRun,
  databaseDigest,
  listFiles,
  maintenanceLog,
  parseJsonOutput,
  pathWith,
  type RcloneServer,
  runBotctl,
  spawnBotctl,
  startRcloneServer,
  type Tenant,
  writeFakeBin,
} from '@botctl/test-utils';
import { useCluster } from './harness.js';

// Issue 7: offsite on an rclone remote, against real `rclone serve sftp|webdav` on 127.0.0.1.

const servers: RcloneServer[] = [];
const REAL_RCLONE = execFileSync('sh', ['-c', 'command -v rclone'], { encoding: 'utf8' }).trim();

const suite = useCluster('botctl-remote-');

afterAll(async () => {
  for (const s of servers) await s.stop();
});

async function server(protocol: 'sftp' | 'webdav', name: string, readOnly = false): Promise<RcloneServer> {
  const s = await startRcloneServer({ protocol, dir: path.join(suite.work, name, 'served'), stateDir: path.join(suite.work, name, 'state'), readOnly });
  servers.push(s);
  return s;
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Every file under `dir` (relative), or [] when it does not exist. */
const filesIn = (dir: string) => (fs.existsSync(dir) ? listFiles(dir) : []);

describe('offsite on an rclone SFTP remote', () => {
  let sftp: RcloneServer;
  let t: Tenant;
  let argsLog: string;
  let binDir: string;
  const runs: CliRun[] = [];
  const botctl = async (args: string[], env: Record<string, string | undefined> = {}) => {
    const run = await runBotctl(['--env-file', t.envFile, '--no-alert', ...args], { cwd: t.dir, env: { PATH: pathWith(binDir), ...env } });
    runs.push(run);
    return run;
  };
  // The tenant's own folder on the remote: <BACKUP_OFFSITE_REMOTE>/<store id>.
  const remoteDir = () => path.join(sftp.dir, 'shops', 'toko1', t.storeId);

  beforeAll(async () => {
    sftp = await server('sftp', 'sftp');
    // rclone through a wrapper that records its arguments: no secret may be among them.
    binDir = path.join(suite.work, 'sftp-bin');
    argsLog = path.join(suite.work, 'rclone-args.log');
    writeFakeBin(binDir, 'rclone', `printf '%s\\n' "$*" >> '${argsLog}'\nexec '${REAL_RCLONE}' "$@"`);
    t = await suite.tenant({ extraEnv: { ...sftp.env, BACKUP_OFFSITE_REMOTE: `${sftp.remoteName}:shops/toko1` } });
  });

  it('create --offsite streams the archive to the remote, checks it, and puts the sidecar last', async () => {
    const run = await botctl(['backup', 'create', '--offsite', '--json']);
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{ name: string; status: string; offsite: { status: string; path: string; sha256: string } }>(run);
    expect(out.status).toBe('ok');
    expect(out.offsite).toMatchObject({ status: 'ok', path: `${sftp.remoteName}:shops/toko1/${t.storeId}/${out.name}` });
    expect(filesIn(remoteDir()).sort()).toEqual([out.name, `${out.name}.meta.json`].sort());
    expect(sha256(path.join(remoteDir(), out.name))).toBe(sha256(path.join(t.localDir, out.name)));
    // Uploaded under a temporary name, then moved: rcat to *.partial-*, moveto the final name.
    const calls = fs.readFileSync(argsLog, 'utf8');
    expect(calls).toMatch(new RegExp(`^rcat ${sftp.remoteName}:shops/toko1/${t.storeId}/${out.name.replace(/\./g, '\\.')}\\.partial-[0-9a-f]+$`, 'm'));
    expect(calls).toMatch(
      new RegExp(`^moveto --ignore-times \\S+\\.partial-[0-9a-f]+ ${sftp.remoteName}:shops/toko1/${t.storeId}/${out.name.replace(/\./g, '\\.')}$`, 'm'),
    );
    expect(maintenanceLog(t)).toContain(`Salinan offsite terverifikasi: ${sftp.remoteName}:shops/toko1/${t.storeId}/${out.name}`);

    // status and the health check compare the remote copy with the local one.
    const status = parseJsonOutput<{ checks: { id: string; mark: string; fact: string }[] }>(await botctl(['status', '--json']));
    expect(status.checks.find((c) => c.id === 'offsite')).toMatchObject({
      mark: 'ok',
      fact: expect.stringContaining(`${out.name} offsite, same size and SHA-256`),
    });
    const health = parseJsonOutput<{ checks: { id: string; status: string; fact: string }[] }>(await botctl(['healthcheck', '--json']));
    expect(health.checks.find((c) => c.id === 'backup_offsite')).toMatchObject({
      status: 'ok',
      fact: expect.stringContaining(`${out.name} offsite, same size and SHA-256`),
    });
  });

  it('list --offsite, verify --all (streams the remote copy back) and prune --offsite work on the remote', async () => {
    expect((await botctl(['backup', 'create', '--offsite'])).exitCode).toBe(0);
    const list = await botctl(['backup', 'list', '--offsite', '--json']);
    expect(list.exitCode).toBe(0);
    const backups = parseJsonOutput<{ backups: { name: string; where: string; locations: { location: string; path: string }[] }[] }>(list).backups;
    expect(backups).toHaveLength(2);
    expect(backups.every((b) => b.where === 'both')).toBe(true);
    expect(backups[0]!.locations.find((l) => l.location === 'offsite')!.path).toBe(`${sftp.remoteName}:shops/toko1/${t.storeId}/${backups[0]!.name}`);

    const verify = await botctl(['backup', 'verify', '--all', '--json']);
    expect(verify.exitCode).toBe(0);
    const results = parseJsonOutput<{ results: { name: string; location: string; ok: boolean; level: string }[] }>(verify).results;
    expect(results.map((r) => `${r.location}:${r.ok}:${r.level}`).sort()).toEqual([
      'local:true:full',
      'local:true:full',
      'offsite:true:full',
      'offsite:true:full',
    ]);
    // The verdict is recorded in the remote sidecar too.
    const sidecar = JSON.parse(fs.readFileSync(path.join(remoteDir(), `${backups[0]!.name}.meta.json`), 'utf8')) as {
      verifications: { location: string; ok: boolean }[];
    };
    expect(sidecar.verifications).toEqual([expect.objectContaining({ location: 'offsite', ok: true })]);

    // A corrupted remote copy is caught by verify --all.
    const victim = path.join(remoteDir(), backups[1]!.name);
    const original = fs.readFileSync(victim);
    const bad = Buffer.from(original);
    bad.writeUInt8(bad.readUInt8(bad.length - 100) ^ 0xff, bad.length - 100);
    fs.writeFileSync(victim, bad);
    const caught = await botctl(['backup', 'verify', '--all', '--quick', '--json']);
    expect(caught.exitCode).toBe(ExitCode.INTEGRITY);
    const bad1 = parseJsonOutput<{ results: { name: string; location: string; ok: boolean }[] }>(caught).results.filter((r) => !r.ok);
    expect(bad1).toEqual([expect.objectContaining({ name: backups[1]!.name, location: 'offsite' })]);
    fs.writeFileSync(victim, original);

    const prune = await botctl(['backup', 'prune', '--offsite', '--keep', '1', '--keep-daily', '0', '--keep-weekly', '0', '--keep-monthly', '0', '--json']);
    expect(prune.exitCode).toBe(0);
    const locs = parseJsonOutput<{ locations: { location: string; path: string; removed: number; kept: number }[] }>(prune).locations;
    expect(locs.map((l) => [l.location, l.removed, l.kept])).toEqual([
      ['local', 1, 1],
      ['offsite', 1, 1],
    ]);
    expect(locs[1]!.path).toBe(`${sftp.remoteName}:shops/toko1/${t.storeId}`);
    expect(filesIn(remoteDir()).sort()).toEqual([backups[0]!.name, `${backups[0]!.name}.meta.json`].sort());
  });

  it('after losing the server: restore --latest and drill use the newest offsite archive', async () => {
    const before = await databaseDigest(t.databaseUrl);
    fs.rmSync(t.localDir, { recursive: true, force: true });
    const restore = await botctl(['backup', 'restore', '--latest', '--new-db', `${t.dbName}_fromremote`, '--json']);
    expect(restore.exitCode).toBe(0);
    const out = parseJsonOutput<{ status: string; plan: { archive: { location: string; name: string } } }>(restore);
    expect(out.status).toBe('restored');
    expect(out.plan.archive.location).toBe('offsite');
    expect(await databaseDigest(suite.cluster.url(`${t.dbName}_fromremote`))).toEqual(before);

    const drill = await botctl(['backup', 'drill', '--latest', '--json']);
    expect(drill.exitCode).toBe(0);
    expect(parseJsonOutput<{ ok: boolean; location: string; archive: string }>(drill)).toMatchObject({
      ok: true,
      location: 'offsite',
      archive: out.plan.archive.name,
    });
    // Nothing was downloaded to a local file along the way.
    expect(filesIn(t.localDir).filter((f) => f.includes(out.plan.archive.name))).toEqual([]);
  });

  it('log archives go to <remote>/logs, are listed and extracted from there', async () => {
    const logDir = path.join(t.logDir, 'bot-order');
    for (const day of ['2026-05-10', '2026-05-11']) fs.writeFileSync(path.join(logDir, `${day}.log`), `[${day} 10:00:00] [INFO] old line ${day}\n`);
    const rotate = await botctl(['logs', 'rotate', '--json']);
    expect(rotate.exitCode).toBe(0);
    const archives = parseJsonOutput<{ archives: { name: string; offsite: string }[] }>(rotate).archives;
    const may = archives.find((a) => a.name === 'logs-2026-05.tar.gz.enc')!;
    expect(may.offsite).toBe('copied');
    expect(filesIn(path.join(remoteDir(), 'logs'))).toEqual(expect.arrayContaining(['logs-2026-05.tar.gz.enc', 'logs-2026-05.tar.gz.enc.meta.json']));
    expect(fs.existsSync(path.join(logDir, '2026-05-10.log'))).toBe(false);

    const list = await botctl(['logs', 'list', '--json']);
    expect(parseJsonOutput<{ archives: { name: string; offsite: boolean; offsite_matches: boolean }[] }>(list).archives).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'logs-2026-05.tar.gz.enc', offsite: true, offsite_matches: true })]),
    );

    // Only the remote copy left: extract still works.
    fs.rmSync(path.join(t.dir, 'backups', 'logs'), { recursive: true, force: true });
    const out = path.join(suite.work, 'extracted-logs');
    const extract = await botctl(['logs', 'extract', '2026-05', '--out', out, '--json']);
    expect(extract.exitCode).toBe(0);
    expect(fs.readFileSync(path.join(out, 'bot-order', '2026-05-11.log'), 'utf8')).toContain('old line 2026-05-11');
  });

  it('doctor offsite writes, reads, renames and deletes a probe and reports free space (SFTP tells it)', async () => {
    const run = await botctl(['doctor', 'offsite', '--json']);
    expect(run.exitCode).toBe(0);
    const out = parseJsonOutput<{ ok: boolean; backend: string; steps: { step: string; ok: boolean }[]; space: { free: number } | null }>(run);
    expect(out.backend).toBe('rclone');
    expect(out.steps.map((s) => `${s.step}:${s.ok}`)).toEqual(['ready:true', 'write:true', 'read:true', 'rename:true', 'delete:true', 'space:true']);
    expect(out.space?.free).toBeGreaterThan(0);
    // The probe is gone.
    expect(filesIn(remoteDir()).filter((f) => f.includes('botctl-probe'))).toEqual([]);
  });

  it('never put the password in rclone arguments, output or logs', () => {
    const obscured = sftp.env[`RCLONE_CONFIG_${sftp.remoteName}_PASS`]!;
    const texts = [
      fs.readFileSync(argsLog, 'utf8'),
      ...runs.flatMap((r) => [r.stdout, r.stderr]),
      ...listFiles(t.logDir).map((f) => fs.readFileSync(path.join(t.logDir, f), 'utf8')),
    ];
    expect(texts.join('\n').length).toBeGreaterThan(1000);
    for (const text of texts) {
      expect(text).not.toContain(sftp.password);
      expect(text).not.toContain(obscured);
    }
  });
});

describe('offsite on an rclone WebDAV remote: failures', () => {
  let dav: RcloneServer;

  beforeAll(async () => {
    dav = await server('webdav', 'webdav');
  });

  it('an upload cut half-way (server killed) leaves no remote sidecar and exits 5 (partial); the local backup stands', async () => {
    const t = await suite.tenant({ extraEnv: { ...dav.env, BACKUP_OFFSITE_REMOTE: `${dav.remoteName}:toko2` } });
    // A big, incompressible log so the upload takes a few seconds at 512 KiB/s.
    fs.writeFileSync(path.join(t.logDir, 'bot-order', '2026-11-21.log'), randomBytes(3 * 1024 * 1024).toString('base64'));
    const remote = path.join(dav.dir, 'toko2');
    const proc = spawnBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite', '--json'], {
      cwd: t.dir,
      env: { RCLONE_BWLIMIT: '512k' },
    });
    // Kill the server once a good part of the archive has arrived under its temporary name.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const partial = filesIn(remote).find((f) => f.includes('.partial-'));
      if (partial && fs.statSync(path.join(remote, partial)).size > 512 * 1024) break;
      if (Date.now() > deadline) throw new Error(`no upload in progress in ${remote}: ${filesIn(remote).join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    dav.kill();
    const r = await proc;
    expect(r.exitCode).toBe(ExitCode.PARTIAL);
    expect(String(r.stderr)).toMatch(/^botctl: error: offsite copy failed: rclone rcat on \S+ failed \(exit \d+\): .+; the local backup \S+ is complete$/m);
    const out = JSON.parse(String(r.stdout)) as { name: string; status: string; offsite: { status: string } };
    expect(out).toMatchObject({ status: 'partial', offsite: { status: 'failed' } });

    await dav.restart();
    const left = filesIn(remote);
    expect(left.filter((f) => f.endsWith('.meta.json'))).toEqual([]);
    expect(left).not.toContain(out.name);
    // The local backup is complete and good.
    expect(fs.existsSync(path.join(t.localDir, `${out.name}.meta.json`))).toBe(true);
    const verify = await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'verify', '--latest'], { cwd: t.dir });
    expect(verify.exitCode).toBe(0);
    // And it is not listed as an offsite copy.
    const list = parseJsonOutput<{ backups: { name: string; where: string }[] }>(
      await runBotctl(['--env-file', t.envFile, 'backup', 'list', '--json'], { cwd: t.dir }),
    );
    expect(list.backups.find((b) => b.name === out.name)?.where).toBe('local');
  });

  it('doctor offsite on WebDAV: all steps pass, free space unknown (the server does not tell)', async () => {
    const t = await suite.tenant({ seed: false, extraEnv: { ...dav.env, BACKUP_OFFSITE_REMOTE: `${dav.remoteName}:doc` } });
    const run = await runBotctl(['--env-file', t.envFile, 'doctor', 'offsite'], { cwd: t.dir });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/✓ rename/);
    expect(run.stdout).toMatch(/the backend does not report free space/);
    expect(run.stdout).toMatch(/Offsite is ready for backups\./);
  });

  it('a remote that rejects writes: create exits 5 with the reason, doctor fails at write', async () => {
    const ro = await server('webdav', 'webdav-ro', true);
    const t = await suite.tenant({ extraEnv: { ...ro.env, BACKUP_OFFSITE_REMOTE: `${ro.remoteName}:toko3` } });
    const run = await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite'], { cwd: t.dir });
    expect(run.exitCode).toBe(ExitCode.PARTIAL);
    expect(run.stderr).toMatch(
      /offsite copy failed: rclone rcat on \S+ failed \(exit \d+\): .*(403|404|409|Forbidden|Not Found|Conflict|read only|not allowed)/i,
    );
    expect(run.stderr).toMatch(/^hint: check BACKUP_OFFSITE_REMOTE=\S+ \(`botctl doctor offsite`/m);
    expect(filesIn(ro.dir)).toEqual([]);
    expect(filesIn(t.localDir).filter((f) => f.endsWith('.meta.json'))).toHaveLength(1);

    const doctor = await runBotctl(['--env-file', t.envFile, 'doctor', 'offsite', '--json'], { cwd: t.dir });
    expect(doctor.exitCode).toBe(ExitCode.FAILURE);
    const out = parseJsonOutput<{ ok: boolean; steps: { step: string; ok: boolean }[]; error: string }>(doctor);
    expect(out.ok).toBe(false);
    expect(out.steps.map((s) => `${s.step}:${s.ok}`)).toEqual(['ready:true', 'write:false']);
  });
});

describe('rclone missing or not needed', () => {
  it('with a remote configured: a clear error (doctor exit 3, create exit 5 with the local backup kept, healthcheck critical)', async () => {
    const t = await suite.tenant({ extraEnv: { BACKUP_OFFSITE_REMOTE: 'nowhere:shop' } });
    const env = { PATH: '/nonexistent-bin' };
    const doctor = await runBotctl(['--env-file', t.envFile, 'doctor', 'offsite'], { cwd: t.dir, env });
    expect(doctor.exitCode).toBe(ExitCode.CONFIG);
    expect(doctor.stderr).toMatch(
      /^botctl: error: offsite probe failed at ready: rclone is not installed \(or not on PATH\), and BACKUP_OFFSITE_REMOTE=nowhere:shop needs it$/m,
    );
    expect(doctor.stderr).toMatch(/^hint: install rclone 1\.60 or newer/m);

    const create = await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite'], { cwd: t.dir, env });
    expect(create.exitCode).toBe(ExitCode.PARTIAL);
    expect(create.stderr).toMatch(/offsite copy failed: rclone is not installed/);
    expect(filesIn(t.localDir).filter((f) => f.endsWith('.meta.json'))).toHaveLength(1);

    const health = await runBotctl(['--env-file', t.envFile, 'healthcheck', '--json'], { cwd: t.dir, env });
    const checks = parseJsonOutput<{ checks: { id: string; status: string; fact: string }[] }>(health).checks;
    expect(checks.find((c) => c.id === 'backup_offsite')).toMatchObject({
      status: 'critical',
      fact: expect.stringMatching(/^offsite unusable: rclone is not installed/),
    });
  });

  it('an rclone older than 1.60 is refused by name', async () => {
    const t = await suite.tenant({ seed: false, extraEnv: { BACKUP_OFFSITE_REMOTE: 'nowhere:shop' } });
    const bin = path.join(suite.work, 'old-rclone');
    writeFakeBin(bin, 'rclone', `[ "$1" = version ] && { echo 'rclone v1.53.3-DEV'; exit 0; }\nexit 1`);
    const run = await runBotctl(['--env-file', t.envFile, 'doctor', 'offsite'], { cwd: t.dir, env: { PATH: pathWith(bin) } });
    expect(run.exitCode).toBe(ExitCode.CONFIG);
    expect(run.stderr).toMatch(/rclone v1\.53\.3 is too old for BACKUP_OFFSITE_REMOTE: v1\.60 or newer is needed/);
  });

  it('without a remote, nothing needs rclone', async () => {
    const t = await suite.tenant();
    const run = await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite'], { cwd: t.dir, env: { PATH: '/nonexistent-bin' } });
    expect(run.exitCode).toBe(0);
    expect(filesIn(t.offsiteDir).filter((f) => f.endsWith('.meta.json'))).toHaveLength(1);
  });

  it('a secret in a connection-string remote is refused before anything runs', async () => {
    const t = await suite.tenant({ seed: false, extraEnv: { BACKUP_OFFSITE_REMOTE: ':sftp,host=nas,pass=hunter22hunter:backups' } });
    const run = await runBotctl(['--env-file', t.envFile, 'doctor', 'offsite'], { cwd: t.dir });
    expect(run.exitCode).toBe(ExitCode.CONFIG);
    expect(run.stderr).toMatch(/BACKUP_OFFSITE_REMOTE must not contain a password, key or token/);
    expect(run.stderr).not.toContain('hunter22hunter');
  });
});

describe('BACKUP_OFFSITE_REQUIRE_MOUNT', () => {
  it('refuses an offsite folder that is not a mount point, and the health check says so', async () => {
    const t = await suite.tenant({ offsite: 'inside', extraEnv: { BACKUP_OFFSITE_REQUIRE_MOUNT: 'true' } });
    const create = await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite', '--json'], { cwd: t.dir });
    expect(create.exitCode).toBe(ExitCode.PARTIAL);
    const out = parseJsonOutput<{ offsite: { status: string; error: string } }>(create);
    expect(out.offsite.status).toBe('failed');
    expect(out.offsite.error).toMatch(/backups\/offsite is not a mount point: it is on (the root filesystem|the same filesystem as the local backups)/);
    // Nothing written there, not even the folder.
    expect(fs.existsSync(t.offsiteDir)).toBe(false);

    const health = await runBotctl(['--env-file', t.envFile, 'healthcheck', '--json'], { cwd: t.dir });
    const checks = parseJsonOutput<{ checks: { id: string; status: string; fact: string }[] }>(health).checks;
    expect(checks.find((c) => c.id === 'backup_offsite')).toMatchObject({
      status: 'critical',
      fact: expect.stringMatching(/offsite unusable: .* is not a mount point/),
    });

    const doctor = await runBotctl(['--env-file', t.envFile, 'doctor', 'offsite'], { cwd: t.dir });
    expect(doctor.exitCode).toBe(ExitCode.FAILURE);
    expect(doctor.stderr).toMatch(/offsite probe failed at ready: .* is not a mount point/);
  });

  // /dev/shm is a tmpfs of its own on Linux: a folder there passes the guard.
  const shm = fs.statSync('/dev/shm', { throwIfNoEntry: false });
  (shm && shm.dev !== fs.statSync('/').dev ? it : it.skip)('accepts a folder on a filesystem of its own', async () => {
    const dir = fs.mkdtempSync('/dev/shm/botctl-offsite-');
    try {
      const t = await suite.tenant({ extraEnv: { BACKUP_OFFSITE_REQUIRE_MOUNT: 'true', BACKUP_OFFSITE_DIR: path.join(dir, 'toko') } });
      const create = await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite', '--json'], { cwd: t.dir });
      expect(create.exitCode).toBe(0);
      expect(filesIn(path.join(dir, 'toko')).filter((f) => f.endsWith('.meta.json'))).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
