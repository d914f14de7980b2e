import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ExitCode } from '@botctl/core';
import { makeTempDir, removeDir } from '@botctl/test-utils';
import { botctlInProcess } from './harness.js';

// The CLI's wiring, in-process and without PostgreSQL: which command ran decides the exit-code
// convention, and a command's JSON result is never followed by a second JSON object.

let dir: string;
const run = (args: string[]) => botctlInProcess(['--env-file', path.join(dir, '.env'), ...args], { cwd: dir });

beforeAll(() => {
  dir = makeTempDir('botctl-wiring-');
  fs.writeFileSync(
    path.join(dir, '.env'),
    'DATABASE_URL=postgres://shop@127.0.0.1:1/shop\nTELEGRAM_BOT_TOKEN=123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0\nBOT_STORE_NAME=wiring\n',
    { mode: 0o600 },
  );
});
afterAll(() => removeDir(dir));

describe('the Nagios convention belongs to healthcheck alone', () => {
  it('an archive named "healthcheck" given to backup verify is not found (12), not UNKNOWN (3)', async () => {
    const res = await run(['backup', 'verify', '--quick', 'healthcheck']);
    expect(res.stderr).toMatch(/healthcheck not found/);
    expect(res.exitCode).toBe(ExitCode.NOT_FOUND);
  });

  it('healthcheck with an unknown option is UNKNOWN (3); another command with one is a usage error (2)', async () => {
    expect((await run(['healthcheck', '--bogus'])).exitCode).toBe(3);
    expect((await run(['backup', 'list', '--bogus'])).exitCode).toBe(ExitCode.USAGE);
  });

  it('healthcheck that cannot even read its settings is UNKNOWN (3)', async () => {
    const res = await botctlInProcess(['--env-file', path.join(dir, 'missing.env'), 'healthcheck'], { cwd: dir });
    expect(res.exitCode).toBe(3);
  });
});

describe('one JSON object per run', () => {
  it('a command that printed its JSON result and then fails adds no second object', async () => {
    const res = await run(['--json', 'backup', 'verify', '--quick', 'nothere']);
    expect(res.exitCode).toBe(ExitCode.NOT_FOUND);
    const objects = res.stdout.trim() ? res.stdout.trim().split(/\n(?=\{)/) : [];
    expect(objects).toHaveLength(1);
    expect(JSON.parse(objects[0]!)).toMatchObject({ ok: false });
  });
});

describe('commands load when they run, and --help still shows them whole', () => {
  it('--help lists every command with its options and arguments; a command help shows its own options', async () => {
    const top = await botctlInProcess(['--help'], { cwd: dir });
    expect(top.exitCode).toBe(ExitCode.OK);
    for (const term of ['backup ', 'healthcheck [options]', 'recover [options] [file]', 'unlock [options]', 'keygen [options]', 'demo [options]', 'status ']) {
      expect(top.stdout).toContain(`  ${term}`);
    }
    const restore = await botctlInProcess(['backup', 'restore', '--help'], { cwd: dir });
    expect(restore.exitCode).toBe(ExitCode.OK);
    expect(restore.stdout).toMatch(/--new-db/);
    const version = await botctlInProcess(['--version'], { cwd: dir });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('the sysadmin’s small mistakes get a clear answer', () => {
  it('keygen -o into a folder that does not exist creates it (0700), never "unexpected error"', async () => {
    const res = await botctlInProcess(['keygen', '-o', 'keys/new/x.txt', '--json'], { cwd: dir });
    expect(res.stderr).not.toMatch(/unexpected error/);
    expect(res.exitCode).toBe(ExitCode.OK);
    expect(fs.statSync(path.join(dir, 'keys/new')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'keys/new/x.txt')).mode & 0o777).toBe(0o600);
    const key = await botctlInProcess(['keygen', '--data-key', '-o', 'keys/other/data.env'], { cwd: dir });
    expect(key.exitCode).toBe(ExitCode.OK);
    expect(fs.readFileSync(path.join(dir, 'keys/other/data.env'), 'utf8')).toMatch(/^DATA_ENCRYPTION_KEY=/);
  });

  it('keygen -o where it cannot write says why in one line with a hint', async () => {
    fs.writeFileSync(path.join(dir, 'a-file'), 'x');
    const res = await botctlInProcess(['keygen', '-o', 'a-file/x.txt'], { cwd: dir });
    expect(res.stderr).not.toMatch(/unexpected error/);
    expect(res.stderr).toMatch(/^botctl: error: .*a-file.*\nhint: /);
    expect(res.exitCode).toBe(ExitCode.FAILURE);
  });

  it('a usage error with --json prints a JSON error object on stdout', async () => {
    const res = await run(['--json', 'backup', 'list', '--bogus']);
    expect(res.exitCode).toBe(ExitCode.USAGE);
    expect(JSON.parse(res.stdout)).toMatchObject({ ok: false, error: { code: 'USAGE', exit_code: ExitCode.USAGE } });
  });

  it('status with a wrong flag exits 3 as docs/exit-codes.md says (2 is its "a line failed")', async () => {
    const res = await run(['status', '--bogus']);
    expect(res.exitCode).toBe(3);
    const json = await run(['--json', 'status', '--bogus']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { exit_code: 3 } });
  });
});

describe('botctl init tenant', () => {
  it("writes a tenant's env file (0600) from .env.example with a new identity and data key, lists what is left, and refuses to overwrite", async () => {
    const res = await botctlInProcess(['--json', 'init', 'tenant', 'toko9'], { cwd: dir });
    expect(res.exitCode).toBe(ExitCode.OK);
    const out = JSON.parse(res.stdout) as { env_file: string; identity_file: string; recipient: string; to_fill: string[] };
    expect(out.env_file).toBe(path.join(dir, 'toko9', '.env'));
    expect(fs.statSync(out.env_file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(out.env_file)).mode & 0o777).toBe(0o700);
    expect(fs.statSync(out.identity_file).mode & 0o777).toBe(0o600);
    // The real age tool derives the same recipient from the identity.
    expect(execFileSync('age-keygen', ['-y', out.identity_file], { encoding: 'utf8' }).trim()).toBe(out.recipient);
    const env = fs.readFileSync(out.env_file, 'utf8');
    expect(env).toMatch(/^BOT_STORE_NAME=toko9$/m);
    expect(env).toContain(`BACKUP_AGE_RECIPIENTS=${out.recipient}`);
    const key = /^DATA_ENCRYPTION_KEY=(\S+)$/m.exec(env)![1]!;
    expect(res.stdout).not.toContain(key);
    expect(out.to_fill).toEqual(['DATABASE_URL', 'TELEGRAM_BOT_TOKEN', 'TELEGRAM_OWNER_IDS', 'OWNER_BOT_TOKEN', 'PAKASIR_PROJECT_SLUG', 'PAKASIR_API_KEY']);
    const check = await botctlInProcess(['--env-file', out.env_file, 'config', 'check'], { cwd: dir });
    expect(check.exitCode).toBe(ExitCode.OK);
    // Valid, but not ready to run: what the bot and the scheduled backups need is still empty.
    const ready = await botctlInProcess(['--env-file', out.env_file, 'config', 'check', '--ready'], { cwd: dir });
    expect(ready.exitCode).toBe(ExitCode.CONFIG);
    expect(ready.stdout).toMatch(/✗ DATABASE_URL is not set/);
    expect(ready.stdout).toMatch(/✗ TELEGRAM_BOT_TOKEN/);
    expect(ready.stdout).not.toMatch(/DATA_ENCRYPTION_KEY|encryption/);
    const again = await botctlInProcess(['init', 'tenant', 'toko9'], { cwd: dir });
    expect(again.exitCode).toBe(ExitCode.REFUSED);
    expect(fs.readFileSync(out.env_file, 'utf8')).toBe(env);
  });

  it("puts an installed tenant's identity in its data folder, not beside the settings in /etc", async () => {
    const env = { BOTCTL_ETC_DIR: path.join(dir, 'etc'), BOTCTL_VAR_DIR: path.join(dir, 'var') };
    fs.mkdirSync(path.join(dir, 'etc', 'tenants'), { recursive: true });
    const res = await botctlInProcess(['--json', 'init', 'tenant', 'toko8', '--out', path.join(dir, 'etc', 'tenants', 'toko8.env')], { cwd: dir, env });
    expect(res.exitCode).toBe(ExitCode.OK);
    expect(JSON.parse(res.stdout).identity_file).toBe(path.join(dir, 'var', 'toko8', 'backup-identity.txt'));
    expect(fs.readdirSync(path.join(dir, 'etc', 'tenants'))).toEqual(['toko8.env']);
  });

  it('refuses a name that is not a folder-safe tenant name', async () => {
    const res = await botctlInProcess(['init', 'tenant', '../etc'], { cwd: dir });
    expect(res.exitCode).toBe(ExitCode.USAGE);
    expect(res.stderr).toMatch(/is not a tenant name/);
  });
});

describe('--quiet', () => {
  it('prints nothing on success, still the error line on failure, and leaves --json alone', async () => {
    const ok = await run(['--quiet', 'backup', 'list']);
    expect(ok.exitCode).toBe(ExitCode.OK);
    expect(ok.stdout).toBe('');
    expect(ok.stderr).toBe('');
    const loud = await run(['backup', 'list']);
    expect(loud.stdout).not.toBe('');
    const bad = await run(['--quiet', 'backup', 'verify', 'nothere']);
    expect(bad.exitCode).toBe(ExitCode.NOT_FOUND);
    expect(bad.stderr).toMatch(/^botctl: error: nothere not found/m);
    expect(bad.stderr).not.toMatch(/Verifying/);
    const json = await run(['--quiet', '--json', 'backup', 'list']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true });
  });
});

describe('botctl completion', () => {
  it('bash: a valid script that completes commands, subcommands and options from the command definitions', async () => {
    const res = await botctlInProcess(['completion', 'bash'], { cwd: dir });
    expect(res.exitCode).toBe(ExitCode.OK);
    const file = path.join(dir, 'botctl.bash');
    fs.writeFileSync(file, res.stdout);
    execFileSync('bash', ['-n', file]);
    const complete = (...words: string[]) =>
      execFileSync(
        'bash',
        ['-c', `source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _botctl; echo "\${COMPREPLY[*]}"`, file, 'botctl', ...words],
        {
          encoding: 'utf8',
        },
      ).trim();
    expect(complete('backup', 're')).toBe('restore');
    expect(complete('backup', 'create', '--of')).toBe('--offsite');
    expect(complete('--json', 'backup', 'offsite', 's')).toBe('sync');
    expect(complete('init', 't')).toBe('tenant');
    expect(complete('he')).toBe('healthcheck');
  });

  it('zsh and fish get their own scripts; another shell is a usage error', async () => {
    expect((await botctlInProcess(['completion', 'zsh'], { cwd: dir })).stdout).toMatch(/^#compdef botctl\n/);
    const fish = (await botctlInProcess(['completion', 'fish'], { cwd: dir })).stdout;
    expect(fish).toContain("complete -c botctl -n '__fish_seen_subcommand_from backup; and __fish_seen_subcommand_from create' -l offsite");
    expect((await botctlInProcess(['completion', 'tcsh'], { cwd: dir })).exitCode).toBe(ExitCode.USAGE);
  });
});

describe('journal add --release-notes', () => {
  it('points an update at its section of docs/08_release_notes.md, and refuses a version without one', async () => {
    const ok = await run(['journal', 'add', '--kind', 'update', '--release-notes', '0.1.0', 'telegraf kept at 4.16.3']);
    expect(ok.exitCode).toBe(ExitCode.OK);
    const logDir = path.join(dir, 'logs', 'maintenance');
    const log = fs
      .readdirSync(logDir)
      .map((f) => fs.readFileSync(path.join(logDir, f), 'utf8'))
      .join('');
    expect(log).toMatch(/\[journal\] update: telegraf kept at 4\.16\.3 \(docs\/08_release_notes\.md#010\)/);
    const missing = await run(['journal', 'add', '--kind', 'update', '--release-notes', '9.9.9', 'x']);
    expect(missing.exitCode).toBe(ExitCode.NOT_FOUND);
    expect(missing.stderr).toMatch(/has no section for 9\.9\.9/);
  });
});

describe('botctl man', () => {
  it('prints botctl(1) that groff reads without a warning, with every command and option from the definitions', async () => {
    const res = await botctlInProcess(['man'], { cwd: dir });
    expect(res.exitCode).toBe(ExitCode.OK);
    const file = path.join(dir, 'botctl.1');
    fs.writeFileSync(file, res.stdout);
    execFileSync('groff', ['-man', '-Tutf8', '-ww', '-z', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Plain text: no bold, underline or overstrike sequences.
    const text = execFileSync('groff', ['-man', '-Tutf8', '-P-cbou', file], { encoding: 'utf8' });
    for (const s of ['botctl backup restore', '--new-db', 'botctl init tenant', 'botctl completion', '--quiet', 'EXIT STATUS', '14 REFUSED'])
      expect(text).toContain(s);
  });
});
