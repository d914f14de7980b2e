import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, ExitCode } from '../errors.js';
import { loadConfig, requireSettings } from './load.js';
import { tenantBaseDir } from './layout.js';
import { parseConfig } from './schema.js';

const base = { baseDir: '/srv/shop' };

describe('parseConfig', () => {
  it('applies the plan defaults and resolves paths against the tenant folder', () => {
    const r = parseConfig({}, base);
    if (!r.ok) throw new Error(r.problems.join('; '));
    const c = r.config;
    expect(c.timezone).toBe('Asia/Jakarta');
    expect(c.snkRetentionDays).toBe(30);
    expect(c.backup.localDir).toBe('/srv/shop/backups/local');
    expect(c.backup.offsiteDir).toBe('/srv/shop/backups/offsite');
    expect(c.backup.time).toBe('00:00');
    expect(c.backup.automaticOffsite).toBe(true);
    expect(c.backup.enableAuto).toBe(false);
    expect(c.health).toEqual({
      enableAuto: true,
      intervalMinutes: 5,
      cpuThreshold: 80,
      memoryThreshold: 80,
      diskThreshold: 85,
      logUsageThresholdMb: 512,
      dbTimeoutMs: 5000,
      telegramTimeoutMs: 10_000,
      heartbeatStaleMs: 180_000,
      backupWarnHours: 26,
      backupCritHours: 50,
      verifyMaxDays: 8,
      drillMaxDays: 31,
      lockMaxMinutes: 180,
      jobWarnFailures: 1,
      jobCritFailures: 3,
      skipChecks: [],
      alertAfter: 2,
      remindHours: 4,
      quietHours: undefined,
    });
    expect(c.stateDir).toBe('/srv/shop/state');
    expect(c.alerts.timeoutMs).toBe(60_000);
    expect(c.logPath).toBe('/srv/shop/logs');
    expect(Object.isFrozen(c.backup)).toBe(true);
  });

  it('reports every problem at once, naming each setting', () => {
    const r = parseConfig(
      {
        DATABASE_URL: 'mysql://nope',
        BOT_TIMEZONE: 'Mars/Olympus',
        HEALTH_DISK_THRESHOLD: '150',
        TELEGRAM_OWNER_IDS: '123,abc',
        ENABLE_AUTO_BACKUP: 'maybe',
        BACKUP_TIME: '25:00',
        BACKUP_AGE_RECIPIENTS: 'not-a-key',
      },
      base,
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.problems.join('\n');
    for (const name of [
      'DATABASE_URL',
      'BOT_TIMEZONE',
      'HEALTH_DISK_THRESHOLD',
      'TELEGRAM_OWNER_IDS',
      'ENABLE_AUTO_BACKUP',
      'BACKUP_TIME',
      'BACKUP_AGE_RECIPIENTS',
    ]) {
      expect(text).toContain(name);
    }
    expect(r.problems).toHaveLength(7);
  });

  it('never puts a secret value in a problem message', () => {
    const r = parseConfig({ TELEGRAM_BOT_TOKEN: 'sup3r-s3cret-value', BACKUP_ENCRYPTION_PASSWORD: 'short' }, base);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.join(' ')).not.toContain('sup3r-s3cret-value');
    expect(r.problems.join(' ')).not.toContain('short ');
    expect(r.problems.some((p) => p.startsWith('BACKUP_ENCRYPTION_PASSWORD'))).toBe(true);
  });

  it('keeps secrets out of every printed form of the config', () => {
    const r = parseConfig({ DATABASE_URL: 'postgresql://u:pw-xyz-123@h/db', BACKUP_ENCRYPTION_PASSWORD: 'a-long-passphrase-here' }, base);
    if (!r.ok) throw new Error('unexpected');
    const printed = [JSON.stringify(r.config), inspect(r.config, { depth: 10 }), `${r.config.databaseUrl}`].join('\n');
    expect(printed).not.toContain('pw-xyz-123');
    expect(printed).not.toContain('a-long-passphrase-here');
    expect(r.config.databaseUrl?.reveal()).toContain('pw-xyz-123');
  });

  it('parses owner ids and booleans in the usual spellings', () => {
    const r = parseConfig({ TELEGRAM_OWNER_IDS: ' 111, 222 ', ENABLE_AUTO_BACKUP: 'YES', BACKUP_AUTOMATIC_OFFSITE: '0', LOG_LEVEL: 'warning' }, base);
    if (!r.ok) throw new Error(r.problems.join());
    expect(r.config.telegram.ownerIds).toEqual([111, 222]);
    expect(r.config.backup.enableAuto).toBe(true);
    expect(r.config.backup.automaticOffsite).toBe(false);
    expect(r.config.logLevel).toBe('WARN');
  });

  it('parses health alerting settings and refuses inconsistent ones', () => {
    const r = parseConfig({ HEALTH_QUIET_HOURS: '22:00-06:30', HEALTH_SKIP_CHECKS: 'cpu, telegram', BOT_STATE_DIR: 'run/state' }, base);
    if (!r.ok) throw new Error(r.problems.join());
    expect(r.config.health.quietHours).toEqual({ from: 22 * 60, to: 6 * 60 + 30 });
    expect(r.config.health.skipChecks).toEqual(['cpu', 'telegram']);
    expect(r.config.stateDir).toBe('/srv/shop/run/state');
    const bad = parseConfig({ HEALTH_QUIET_HOURS: '22-6', HEALTH_ALERT_AFTER: '0' }, base);
    expect(bad.ok ? [] : bad.problems).toEqual([
      'HEALTH_ALERT_AFTER must be at least 1',
      'HEALTH_QUIET_HOURS must be HH:MM-HH:MM in BOT_TIMEZONE (e.g. 22:00-06:00)',
    ]);
    const order = parseConfig({ HEALTH_BACKUP_WARN_HOURS: '48', HEALTH_BACKUP_CRIT_HOURS: '30' }, base);
    expect(order.ok ? [] : order.problems).toEqual(['HEALTH_BACKUP_CRIT_HOURS must be greater than HEALTH_BACKUP_WARN_HOURS']);
  });
});

describe('offsite remote settings (BACKUP_OFFSITE_REMOTE)', () => {
  const problems = (env: Record<string, string>) => {
    const r = parseConfig(env, base);
    return r.ok ? [] : r.problems;
  };

  it('takes an rclone remote, with the mount guard off by default', () => {
    const r = parseConfig({ BACKUP_OFFSITE_REMOTE: 'b2:my-bucket/shop1' }, base);
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.config.backup.offsiteRemote).toBe('b2:my-bucket/shop1');
    expect(r.config.backup.offsiteRequireMount).toBe(false);
    for (const ok of ['nas:', 'nas:/srv/backups', ':sftp,host=nas.lan,user=backup:shops/1', ':sftp,key_file=/root/.ssh/id_ed25519:x']) {
      expect(problems({ BACKUP_OFFSITE_REMOTE: ok })).toEqual([]);
    }
  });

  it('refuses a folder path or a connection string carrying a secret, without printing it', () => {
    expect(problems({ BACKUP_OFFSITE_REMOTE: '/mnt/nas' })).toEqual([
      'BACKUP_OFFSITE_REMOTE must be an rclone remote, <remote>:<path> (e.g. b2:my-bucket/shop1); for a mounted folder use BACKUP_OFFSITE_DIR',
    ]);
    expect(problems({ BACKUP_OFFSITE_REMOTE: 'no-colon' })).toHaveLength(1);
    for (const bad of [':sftp,host=nas,pass=s3cr3tpass:x', ':s3,access_key_id=AKIAX,secret_access_key=abcdsecret:bucket', ':b2,account=1,key=k3yk3yk3y:b']) {
      const p = problems({ BACKUP_OFFSITE_REMOTE: bad });
      expect(p).toEqual([expect.stringMatching(/^BACKUP_OFFSITE_REMOTE must not contain a password, key or token/)]);
      expect(p.join()).not.toMatch(/s3cr3tpass|abcdsecret|k3yk3yk3y/);
    }
  });

  it('hands every RCLONE_* variable to rclone and scrubs the secret ones from output', () => {
    const env = {
      BACKUP_OFFSITE_REMOTE: 'nas:shop',
      RCLONE_CONFIG_NAS_TYPE: 'sftp',
      RCLONE_CONFIG_NAS_PASS: 'obscured-pass-value',
      RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: 'the-secret-key',
      RCLONE_CONFIG_PASS: 'config-file-password',
      RCLONE_CONFIG_NAS_KEY_FILE: '/root/.ssh/id_backup',
      OTHER: 'x',
    };
    const { config, redactor } = loadConfig({ cwd: '/', env });
    expect(config.backup.rcloneEnv).toEqual({
      RCLONE_CONFIG_NAS_TYPE: 'sftp',
      RCLONE_CONFIG_NAS_PASS: 'obscured-pass-value',
      RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: 'the-secret-key',
      RCLONE_CONFIG_PASS: 'config-file-password',
      RCLONE_CONFIG_NAS_KEY_FILE: '/root/.ssh/id_backup',
    });
    const text = redactor.redact('pass obscured-pass-value key the-secret-key conf config-file-password file /root/.ssh/id_backup type sftp');
    expect(text).toBe('pass **redacted** key **redacted** conf **redacted** file /root/.ssh/id_backup type sftp');
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lets a --env-file win over the environment and resolves paths from its folder', () => {
    const tenant = path.join(dir, 'shop1');
    fs.mkdirSync(tenant);
    fs.writeFileSync(path.join(tenant, 'shop.env'), 'BOT_STORE_NAME=Shop One\nBACKUP_LOCAL_DIR=bk\n');
    const { config } = loadConfig({ envFile: 'shop1/shop.env', cwd: dir, env: { BOT_STORE_NAME: 'from shell' } });
    expect(config.storeName).toBe('Shop One');
    expect(config.backup.localDir).toBe(path.join(tenant, 'bk'));
    expect(config.envFile).toBe(path.join(tenant, 'shop.env'));
  });

  it('reads ./.env under the environment (dotenv convention)', () => {
    fs.writeFileSync(path.join(dir, '.env'), 'BOT_STORE_NAME=From dotenv\nBOT_TIMEZONE=UTC\n');
    const { config } = loadConfig({ cwd: dir, env: { BOT_STORE_NAME: 'From env' } });
    expect(config.storeName).toBe('From env');
    expect(config.timezone).toBe('UTC');
  });

  it('fails with a config error naming a missing --env-file', () => {
    expect(() => loadConfig({ envFile: 'nope.env', cwd: dir, env: {} })).toThrow(/cannot read env file .*nope\.env: no such file/);
  });

  it('requireSettings lists every missing requirement with exit code 3', () => {
    const { config } = loadConfig({ cwd: dir, env: {} });
    try {
      requireSettings(config, ['database', 'encryption']);
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const e = error as ConfigError;
      expect(e.exitCode).toBe(ExitCode.CONFIG);
      expect(e.problems).toHaveLength(2);
      expect(e.message).toMatch(/DATABASE_URL/);
      expect(e.message).toMatch(/BACKUP_AGE_RECIPIENTS/);
    }
  });
});

describe('an installed tenant (install.sh layout)', () => {
  it('resolves relative paths of /etc/botctl/tenants/NAME.env against /var/lib/botctl/NAME, even when the file is missing', () => {
    expect(tenantBaseDir('/etc/botctl/tenants/toko1.env', {})).toBe('/var/lib/botctl/toko1');
    expect(tenantBaseDir('/etc/botctl/tenants/../tenants/toko1.env', {})).toBe('/var/lib/botctl/toko1');
    expect(tenantBaseDir('/x/etc/tenants/toko1.env', { BOTCTL_ETC_DIR: '/x/etc', BOTCTL_VAR_DIR: '/x/var' })).toBe('/x/var/toko1');
    // Anywhere else, and names that are not tenant names: the file's own folder, as always.
    expect(tenantBaseDir('/srv/toko1/.env', {})).toBe('/srv/toko1');
    expect(tenantBaseDir('/etc/botctl/tenants/Toko 1.env', {})).toBe('/etc/botctl/tenants');
    expect(tenantBaseDir('/etc/botctl/tenants/toko1.conf', {})).toBe('/etc/botctl/tenants');
    expect(tenantBaseDir('/etc/botctl/toko1.env', {})).toBe('/etc/botctl');
  });

  it('loadConfig puts its backups, logs and state under the data folder', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'botctl-layout-'));
    try {
      const env = { BOTCTL_ETC_DIR: path.join(root, 'etc'), BOTCTL_VAR_DIR: path.join(root, 'var') };
      fs.mkdirSync(path.join(root, 'etc', 'tenants'), { recursive: true });
      const file = path.join(root, 'etc', 'tenants', 'toko1.env');
      fs.writeFileSync(file, 'BOT_STORE_NAME=toko1\n');
      const { config } = loadConfig({ envFile: file, env });
      expect(config.baseDir).toBe(path.join(root, 'var', 'toko1'));
      expect(config.stateDir).toBe(path.join(root, 'var', 'toko1', 'state'));
      expect(config.backup.localDir.startsWith(path.join(root, 'var', 'toko1'))).toBe(true);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
