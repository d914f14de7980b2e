import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ExitCode } from '@botctl/core';
import { createTenant, listFiles, packArchive, readSidecarFile, type Tenant, unpackArchive } from '@botctl/test-utils';
import { botctlInProcess, useCluster } from '../harness.js';

/**
 * Hostile or broken archives (docs/reliability.md, "Hostile archives"): built with the real age
 * and GNU tar CLIs, as someone who controls the offsite storage and has the public key could.
 */

const suite = useCluster('botctl-fault-hostile-');

const run = (t: Tenant, args: string[]) => botctlInProcess(['--env-file', t.envFile, ...args], { cwd: t.dir });
const json = <T>(r: { stdout: string }) => JSON.parse(r.stdout) as T;

async function backup(t: Tenant): Promise<string> {
  const r = await run(t, ['backup', 'create', '--json']);
  expect(r.exitCode).toBe(ExitCode.OK);
  return json<{ name: string }>(r).name;
}

async function databases(): Promise<string[]> {
  return execFileSync('psql', ['-Atc', 'SELECT datname FROM pg_database'], {
    env: {
      ...process.env,
      PGHOST: suite.cluster.host,
      PGPORT: String(suite.cluster.port),
      PGUSER: suite.cluster.user,
      PGPASSWORD: suite.cluster.password.reveal(),
      PGDATABASE: 'postgres',
    },
    encoding: 'utf8',
  })
    .trim()
    .split('\n');
}

/** Re-packs a real backup of `t` after `edit`, under a new name in its local folder. */
function tamper(
  t: Tenant,
  name: string,
  label: string,
  // biome-ignore lint/suspicious/noConfusingVoidType: most edits return nothing; some return the members to write.
  edit: (dir: string, manifest: Record<string, unknown>, members: string[]) => string[] | void,
  recomputeManifest = true,
): string {
  const src = path.join(t.localDir, name);
  const u = unpackArchive(src, t.identityFile, path.join(suite.work, `unpacked-${label}`));
  const members = edit(u.dir, u.manifest, u.members) ?? u.members;
  const crafted = `backup-2026010${(label.length % 9) + 1}-01${String(label.length).padStart(2, '0')}00.tar.gz.enc`;
  if (!recomputeManifest) fs.writeFileSync(path.join(u.dir, 'manifest.json'), `${JSON.stringify(u.manifest, null, 2)}\n`);
  packArchive(u, t.recipient, path.join(t.localDir, crafted), { ...readSidecarFile(src), name: crafted }, { members, recomputeManifest });
  return crafted;
}

describe('paths from the archive are never trusted', () => {
  let t: Tenant;
  let name: string;
  beforeAll(async () => {
    t = await suite.tenant({ seed: false });
    name = await backup(t);
  });

  it('a manifest naming a config file outside the tenant does not make --with-config write there', async () => {
    const target = path.join(suite.work, `pwned-${Date.now()}`, 'authorized_keys');
    const crafted = tamper(t, name, 'outside', (dir, manifest, members) => {
      const member = `config/external${target}`;
      fs.mkdirSync(path.dirname(path.join(dir, member)), { recursive: true });
      fs.writeFileSync(path.join(dir, member), 'ssh-ed25519 AAAA attacker\n');
      (manifest.config_files as unknown[]).push({ member, path: target, role: 'extra' });
      return [...members.slice(0, -1), member, 'manifest.json'];
    });
    const r = await run(t, ['backup', 'restore', crafted, '--new-db', `${t.dbName}_outside`, '--with-config', '--json']);
    expect(r.exitCode).toBe(ExitCode.OK);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(path.dirname(target))).toBe(false);
    expect(json<{ warnings: string[] }>(r).warnings.join('\n')).toMatch(/authorized_keys is neither this tenant's env file nor one of its BACKUP_EXTRA_FILES/);
  });

  it('--with-logs does not follow a symlinked log folder; nothing is restored or created', async () => {
    const elsewhere = path.join(suite.work, 'elsewhere');
    fs.mkdirSync(elsewhere, { recursive: true });
    fs.rmSync(path.join(t.logDir, 'bot-order'), { recursive: true, force: true });
    fs.symlinkSync(elsewhere, path.join(t.logDir, 'bot-order'));
    try {
      const r = await run(t, ['backup', 'restore', name, '--new-db', `${t.dbName}_link`, '--with-logs']);
      expect(r.exitCode).toBe(ExitCode.REFUSED);
      expect(r.stderr).toMatch(/bot-order is a symbolic link; botctl does not write through links/);
      expect(fs.readdirSync(elsewhere)).toEqual([]);
      expect(await databases()).not.toContain(`${t.dbName}_link`);
    } finally {
      fs.rmSync(path.join(t.logDir, 'bot-order'));
      fs.mkdirSync(path.join(t.logDir, 'bot-order'));
    }
  });

  it('a member larger than its manifest says is refused, and nothing is staged', async () => {
    // The manifest (and sidecar) keep the log's original size; the member grows by 100 kB.
    const crafted = tamper(
      t,
      name,
      'bigger',
      (dir, manifest) => {
        const log = (manifest.members as { name: string }[]).find((m) => m.name.startsWith('logs/'))!.name;
        fs.appendFileSync(path.join(dir, log), 'x'.repeat(100_000));
      },
      false,
    );
    const before = listFiles(t.dir).filter((f) => !f.startsWith('logs/maintenance/') && !f.endsWith('.meta.json'));
    const r = await run(t, ['backup', 'restore', crafted, '--new-db', `${t.dbName}_bigger`, '--with-logs']);
    expect(r.exitCode).toBe(ExitCode.INTEGRITY);
    expect(r.stderr).toMatch(/does not match its size or SHA-256 in the manifest/);
    expect(listFiles(t.dir).filter((f) => !f.startsWith('logs/maintenance/') && !f.endsWith('.meta.json'))).toEqual(before);
    expect(await databases()).not.toContain(`${t.dbName}_bigger`);
  });
});

describe('a decompression bomb', () => {
  it('a 1 GiB member in a small archive is refused before staging: there is no room for it', async () => {
    if (process.getuid?.() !== 0) return; // needs a small filesystem of its own (tmpfs)
    const mnt = path.join(suite.work, 'bomb-fs');
    fs.mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', mnt]);
    try {
      const localDir = path.join(suite.work, 'bomb-backups');
      const t = await createTenant({ cluster: suite.cluster, parentDir: mnt, seed: false, extraEnv: { BACKUP_LOCAL_DIR: localDir } });
      const name = await backup(t);
      const src = path.join(localDir, name);
      const u = unpackArchive(src, t.identityFile, path.join(suite.work, 'bomb-unpacked'));
      // 1 GiB of zeros (a sparse file, so building it is cheap), honestly declared in the manifest.
      const bomb = 'logs/bot-order/2026-11-19.log';
      execFileSync('truncate', ['-s', '1G', path.join(u.dir, bomb)]);
      const crafted = 'backup-20260101-010101.tar.gz.enc';
      packArchive(
        u,
        t.recipient,
        path.join(localDir, crafted),
        { ...readSidecarFile(src), name: crafted },
        {
          members: [...u.members.slice(0, -1), bomb, 'manifest.json'],
        },
      );
      expect(fs.statSync(path.join(localDir, crafted)).size).toBeLessThan(4 * 1024 * 1024);
      const used = () => Number(execFileSync('df', ['--output=used', '-B1', mnt], { encoding: 'utf8' }).trim().split('\n')[1]);
      const before = used();
      for (const extra of [['--with-logs'], []]) {
        const r = await run(t, ['backup', 'restore', crafted, '--new-db', `${t.dbName}_bomb`, ...extra]);
        expect(r.exitCode).toBe(ExitCode.NO_SPACE);
        expect(r.stderr).toMatch(/2026-11-19\.log alone is 1\.00? GiB/);
        expect(used() - before).toBeLessThan(1024 * 1024);
        expect(await databases()).not.toContain(`${t.dbName}_bomb`);
      }
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});

describe('the sidecar is plain text', () => {
  it("editing its store name does not let another store's archive pass as this one's", async () => {
    const a = await suite.tenant({ seed: false });
    const b = await suite.tenant({ seed: false });
    const theirs = await backup(b);
    const aSc = readSidecarFile(path.join(a.localDir, await backup(a)));
    // Someone copies B's archive into A's folder with a sidecar claiming it is A's.
    const planted = 'backup-20260102-030405.tar.gz.enc';
    fs.copyFileSync(path.join(b.localDir, theirs), path.join(a.localDir, planted));
    const sc = readSidecarFile(path.join(b.localDir, theirs));
    fs.writeFileSync(
      path.join(a.localDir, `${planted}.meta.json`),
      JSON.stringify({ ...sc, name: planted, store_name: aSc.store_name, store_id: aSc.store_id, database: aSc.database }, null, 2),
    );
    // A holds B's key too (the worst case: a shared identity), so only the manifest can tell.
    a.setEnv({ BACKUP_AGE_IDENTITY_FILE: b.identityFile });
    const r = await run(a, ['backup', 'restore', planted, '--new-db', `${a.dbName}_planted`]);
    expect(r.exitCode).toBe(ExitCode.INTEGRITY);
    expect(r.stderr).toMatch(/the sidecar says .* but the archive itself is a backup of "Toko Test \d+" .*the sidecar was changed/);
    expect(await databases()).not.toContain(`${a.dbName}_planted`);
    const v = await run(a, ['backup', 'verify', planted]);
    expect(v.exitCode).toBe(ExitCode.INTEGRITY);
  });
});
