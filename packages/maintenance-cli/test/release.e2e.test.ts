import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useCluster } from './harness.js';

// `pnpm release` and install.sh as a sysadmin uses them: the tarball unpacked where no checkout,
// pnpm or node_modules is, run with a PATH of only node and the system tools; installed into a
// temporary root; a backup and a verify of a throwaway PostgreSQL through the installed botctl.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'packages/maintenance-cli/package.json'), 'utf8')) as { version: string }).version;
const NAME = `botctl-${VERSION}-linux-x64`;
const suite = useCluster('botctl-release-');
// Only node and the system tools: no pnpm, no node_modules/.bin, no checkout.
const PATH = [path.dirname(process.execPath), '/usr/bin', '/bin', '/usr/sbin', '/sbin'].join(':');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        cwd: opts.cwd,
        encoding: 'utf8',
        env: { PATH, HOME: opts.cwd, LANG: 'C.UTF-8', TZ: 'UTC', NO_COLOR: '1', ...opts.env },
        timeout: 120_000,
        maxBuffer: 1 << 26,
      },
      (_e, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe('the release tarball and install.sh', () => {
  it('builds a reproducible tarball whose tree runs with only Node; install.sh lays out a tenant, again and again; the installed botctl backs up and verifies', async () => {
    const work = suite.work;
    // 1. pnpm release (the build is done: pnpm test builds first), twice: the same bytes.
    const out = path.join(work, 'release');
    const a = await run(process.execPath, [path.join(ROOT, 'scripts/release.mjs'), '--out', out], { cwd: ROOT, env: { SOURCE_DATE_EPOCH: '1764547200' } });
    expect(a).toMatchObject({ code: 0 });
    const tarball = path.join(out, `${NAME}.tar.gz`);
    const sha = fs.readFileSync(`${tarball}.sha256`, 'utf8');
    expect(sha).toMatch(new RegExp(`^[0-9a-f]{64}  ${NAME}\\.tar\\.gz\\n$`));
    expect(await run('sha256sum', ['-c', `${NAME}.tar.gz.sha256`], { cwd: out })).toMatchObject({ code: 0 });
    const again = path.join(work, 'release-again');
    expect(
      await run(process.execPath, [path.join(ROOT, 'scripts/release.mjs'), '--out', again], { cwd: ROOT, env: { SOURCE_DATE_EPOCH: '1764547200' } }),
    ).toMatchObject({
      code: 0,
    });
    expect(fs.readFileSync(path.join(again, `${NAME}.tar.gz.sha256`), 'utf8')).toBe(sha);
    expect(fs.readdirSync(out).filter((f) => f.startsWith('.stage-'))).toEqual([]);

    // 2. What is in it: one JavaScript file each, the files they need, nothing of the workspace.
    const listing = (await run('tar', ['-tzf', tarball], { cwd: work })).stdout.split('\n').filter(Boolean);
    for (const f of [
      'lib/botctl.mjs',
      'lib/bot.mjs',
      'bin/botctl',
      'bin/bot',
      'install.sh',
      'scripts/install.sh',
      'scripts/cron_backup.sh',
      'scripts/lib/tenant.sh',
      'share/migrations/0001_shop_schema.sql',
      'share/man/man1/botctl.1',
      'share/completions/botctl.bash',
      'deploy/systemd/botctl-bot@.service',
      'docs/operations.md',
      '.env.example',
      'LICENSE',
      'THIRD_PARTY_LICENSES',
    ]) {
      expect(listing).toContain(`${NAME}/${f}`);
    }
    expect(listing.filter((f) => /node_modules|\/packages\/|\.ts$|\/bench\/|setup\.sh/.test(f))).toEqual([]);
    const unpacked = path.join(work, 'unpacked');
    fs.mkdirSync(unpacked);
    expect(await run('tar', ['-xzf', tarball, '-C', unpacked], { cwd: work })).toMatchObject({ code: 0 });
    const tree = path.join(unpacked, NAME);
    expect(fs.readFileSync(path.join(tree, 'THIRD_PARTY_LICENSES'), 'utf8')).toMatch(/^telegraf@4\.16\.3 \(MIT\)$/m);

    // 3. The tree alone, from a folder that is not a checkout.
    const elsewhere = path.join(work, 'elsewhere');
    fs.mkdirSync(elsewhere);
    expect(await run(path.join(tree, 'bin/botctl'), ['--version'], { cwd: elsewhere })).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    expect(await run(path.join(tree, 'bin/bot'), ['--help'], { cwd: elsewhere })).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: bot/) });
    // The demo from the tree: the whole promise, with nothing but Node and PostgreSQL's own programs.
    const demo = await run(path.join(tree, 'bin/botctl'), ['--json', 'demo'], { cwd: elsewhere });
    expect([demo.code, demo.stderr.split('\n').filter((l) => /error/i.test(l))]).toEqual([0, []]);
    const shown = JSON.parse(demo.stdout) as { commands: { command: string; exit_code: number }[]; failed?: unknown };
    expect(shown.failed).toBeUndefined();
    expect(shown.commands.map((c) => c.command).join('\n')).toMatch(/backup create --offsite[\s\S]*backup verify[\s\S]*backup drill[\s\S]*backup restore/);

    // 4. install.sh into a temporary root (as / would be), with a tenant.
    const root = path.join(work, 'root');
    const user = os.userInfo().username;
    const install = () => run(path.join(tree, 'install.sh'), ['--root', root, '--user', user, '--tenant', 'toko1'], { cwd: elsewhere });
    const first = await install();
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(/== installing botctl .* into .*\/opt\/botctl/);
    // Not ready yet: it says what to fill in and enables nothing.
    expect(first.stdout).toMatch(/tenant toko1: fill in \/etc\/botctl\/tenants\/toko1\.env/);
    expect(fs.readlinkSync(path.join(root, 'usr/local/bin/botctl'))).toBe('/opt/botctl/bin/botctl');
    const envFile = path.join(root, 'etc/botctl/tenants/toko1.env');
    const data = path.join(root, 'var/lib/botctl/toko1');
    expect(mode(envFile)).toBe(0o640);
    expect(mode(path.dirname(envFile))).toBe(0o750);
    expect(mode(data)).toBe(0o750);
    expect(fs.existsSync(path.join(data, 'backup-identity.txt'))).toBe(true);
    expect(fs.readFileSync(path.join(root, 'etc/systemd/system/botctl-backup@.service'), 'utf8')).toContain(
      'ExecStart=/opt/botctl/scripts/cron_backup.sh /etc/botctl/tenants/%i.env',
    );
    expect(fs.existsSync(path.join(root, 'usr/local/share/man/man1/botctl.1'))).toBe(true);
    expect(fs.existsSync(path.join(root, 'usr/local/share/bash-completion/completions/botctl'))).toBe(true);

    // Idempotent: the tenant's settings are never touched again.
    const settings = fs.readFileSync(envFile, 'utf8');
    expect(await install()).toMatchObject({ code: 0, stdout: expect.stringContaining('tenant toko1: keeping') });
    expect(fs.readFileSync(envFile, 'utf8')).toBe(settings);
    expect(fs.readdirSync(path.join(root, 'opt'))).toEqual(['botctl']);

    // 5. The sysadmin fills in the settings; the installed botctl backs up and verifies.
    const shop = await suite.tenant();
    const fill: Record<string, string> = {
      DATABASE_URL: shop.databaseUrl.reveal(),
      TELEGRAM_BOT_TOKEN: '7012345678:AAHfakeTokenForReleaseTests_aaaaaaaa',
      TELEGRAM_API_ROOT: 'http://127.0.0.1:9',
      BACKUP_AGE_IDENTITY_FILE: path.join(data, 'backup-identity.txt'),
    };
    let text = settings;
    for (const [k, v] of Object.entries(fill)) {
      const line = new RegExp(`^#?${k}=.*$`, 'm');
      text = line.test(text) ? text.replace(line, `${k}=${v}`) : `${text}${k}=${v}\n`;
    }
    fs.writeFileSync(envFile, text);
    const botctl = path.join(root, 'opt/botctl/bin/botctl');
    const layout = { BOTCTL_ETC_DIR: path.join(root, 'etc/botctl'), BOTCTL_VAR_DIR: path.join(root, 'var/lib/botctl') };
    const backup = await run(botctl, ['--env-file', envFile, '--no-alert', '--json', 'backup', 'create'], { cwd: elsewhere, env: layout });
    expect([backup.code, backup.stderr]).toEqual([0, '']);
    const made = JSON.parse(backup.stdout) as { archive: { path: string } } & Record<string, unknown>;
    expect(JSON.stringify(made)).toContain(path.join(data, 'backups'));
    const verify = await run(botctl, ['--env-file', envFile, '--no-alert', 'backup', 'verify', '--latest'], { cwd: elsewhere, env: layout });
    expect(verify).toMatchObject({ code: 0 });
    expect(verify.stdout).toMatch(/verified|OK|✓/i);

    // Ready now: a third run says how to start its timers and bot (no systemctl under --root).
    const third = await install();
    expect(third).toMatchObject({ code: 0 });
    expect(third.stdout).toMatch(/tenant toko1: start it with\n {2}systemctl enable --now botctl-backup@toko1\.timer .*botctl-bot@toko1\.service/);
  });

  it('refuses bad input with one line, a hint and an exit code', async () => {
    const tree = path.join(suite.work, 'unpacked', NAME);
    const r = await run(path.join(tree, 'install.sh'), ['--root', path.join(suite.work, 'r2'), '--tenant', '../etc'], { cwd: suite.work });
    expect(r).toMatchObject({
      code: 2,
      stderr: 'install: error: "../etc" is not a tenant name\nhint: use lower-case letters, digits, - and _ (e.g. toko1), at most 63\n',
    });
    const u = await run(path.join(tree, 'install.sh'), ['--bogus'], { cwd: suite.work });
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/^install: error: unknown option --bogus$/m);
  });
});
