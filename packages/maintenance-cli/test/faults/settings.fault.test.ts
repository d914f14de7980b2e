import { execFileSync, execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ExitCode } from '@botctl/core';
import type { Tenant } from '@botctl/test-utils';
import { botctl, useCluster } from '../harness.js';

/** Settings that mean what the operator wrote (docs/reliability.md, "Settings"). */

const suite = useCluster('botctl-fault-settings-');

/** Replaces one line of the tenant's env file with raw text, exactly as written. */
function writeRaw(t: Tenant, key: string, rawLine: string): void {
  const lines = fs
    .readFileSync(t.envFile, 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith(`${key}=`));
  fs.writeFileSync(t.envFile, `${[...lines, rawLine].join('\n')}\n`);
}

describe('env files are read as Docker Compose and python-dotenv read them', () => {
  it('an unquoted # inside BACKUP_ENCRYPTION_PASSWORD is part of it: the age CLI opens the archive with the whole password', async () => {
    const t = await suite.tenant({ mode: 'passphrase', seed: false });
    writeRaw(t, 'BACKUP_ENCRYPTION_PASSWORD', 'BACKUP_ENCRYPTION_PASSWORD=TokoRahasiaKu#2024');
    const run = await botctl(t, ['backup', 'create', '--json']);
    expect(run.exitCode).toBe(ExitCode.OK);
    const name = (JSON.parse(run.stdout) as { name: string }).name;
    const out = path.join(t.dir, 'plain.tar.gz');
    // age reads a passphrase only from a terminal: script(1) gives it one.
    execSync(`script -qec 'age --decrypt -o "${out}" "${path.join(t.localDir, name)}"' /dev/null`, {
      input: 'TokoRahasiaKu#2024\n',
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    expect(execFileSync('tar', ['-tzf', out], { encoding: 'utf8' })).toMatch(/manifest\.json/);
  });

  it('reads CRLF line ends, a byte order mark, export lines, comments after whitespace and quoted values', async () => {
    const t = await suite.tenant({ seed: false });
    const body = fs
      .readFileSync(t.envFile, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('BOT_STORE_NAME=') && !l.startsWith('BACKUP_KEEP'));
    const text = `\ufeff${[
      ...body.map((l, i) => (i === 0 ? `export ${l}` : l)),
      "BOT_STORE_NAME='Toko #1 Makmur'   # the shop's name",
      'BACKUP_KEEP=9 # nine',
      'BACKUP_KEEP_DAILY="3"',
    ].join('\r\n')}\r\n`;
    fs.writeFileSync(t.envFile, text);
    const run = await botctl(t, ['config', 'check', '--json']);
    expect(run.exitCode).toBe(ExitCode.OK);
    const status = await botctl(t, ['backup', 'prune', '--dry-run', '--json']);
    expect(status.exitCode).toBe(ExitCode.OK);
    expect((JSON.parse(status.stdout) as { policy: { keep: number; daily: number } }).policy).toMatchObject({ keep: 9, daily: 3 });
    const list = await botctl(t, ['status', '--json']);
    expect(list.stdout).toContain('Toko #1 Makmur');
  });

  it('refuses a value Compose would expand ($) with the line number and the fix, never printing the value', async () => {
    const t = await suite.tenant({ mode: 'passphrase', seed: false });
    writeRaw(t, 'BACKUP_ENCRYPTION_PASSWORD', 'BACKUP_ENCRYPTION_PASSWORD=Rahasia$Toko2024');
    const run = await botctl(t, ['backup', 'create']);
    expect(run.exitCode).toBe(ExitCode.CONFIG);
    expect(run.stderr).toMatch(/line \d+: BACKUP_ENCRYPTION_PASSWORD contains "\$"/);
    expect(run.stderr).toMatch(/single quotes/);
    expect(run.stderr).not.toContain('Rahasia');
    writeRaw(t, 'BACKUP_ENCRYPTION_PASSWORD', "BACKUP_ENCRYPTION_PASSWORD='Rahasia$Toko2024'");
    expect((await botctl(t, ['config', 'check'])).exitCode).toBe(ExitCode.OK);
  });
});

describe('unknown settings', () => {
  it('warns on every command with the closest known name; config check lists them and exits 3', async () => {
    const t = await suite.tenant({ seed: false });
    writeRaw(t, 'BACKUP_KEPP', 'BACKUP_KEPP=1');
    writeRaw(t, 'BACKUP_KEEP_DAYLY', 'BACKUP_KEEP_DAYLY=30');
    const list = await botctl(t, ['backup', 'list']);
    expect(list.exitCode).toBe(ExitCode.OK);
    expect(list.stderr).toMatch(/unknown setting BACKUP_KEPP \(did you mean BACKUP_KEEP\?\)/);
    expect(list.stderr).toMatch(/unknown setting BACKUP_KEEP_DAYLY \(did you mean BACKUP_KEEP_DAILY\?\)/);
    const check = await botctl(t, ['config', 'check', '--json']);
    expect(check.exitCode).toBe(ExitCode.CONFIG);
    const body = JSON.parse(check.stdout) as { ok: boolean; warnings: string[] };
    expect(body.ok).toBe(false);
    expect(body.warnings).toHaveLength(2);
  });
});

describe('a key where a path belongs', () => {
  it('refuses an age identity pasted into BACKUP_AGE_IDENTITY_FILE and never echoes it', async () => {
    const t = await suite.tenant({ seed: false });
    const key = fs
      .readFileSync(t.identityFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('AGE-SECRET-KEY-'))!;
    writeRaw(t, 'BACKUP_AGE_IDENTITY_FILE', `BACKUP_AGE_IDENTITY_FILE=${key}`);
    for (const args of [
      ['backup', 'verify', '--latest', '--json'],
      ['backup', 'drill', '--json'],
      ['config', 'check', '--json'],
    ]) {
      const run = await botctl(t, args);
      expect(run.exitCode).toBe(ExitCode.CONFIG);
      expect(run.stdout + run.stderr).toMatch(/BACKUP_AGE_IDENTITY_FILE holds an age secret key, not a file path/);
      expect(run.stdout + run.stderr).not.toContain(key);
      expect(run.stdout + run.stderr).not.toContain(key.slice(15, 40));
    }
  });
});
