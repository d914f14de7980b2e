import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HEALTH_CHECK_IDS, writeHeartbeat } from '@botctl/core';
import {
  FAKE_OWNER_TOKEN as OWNER_TOKEN,
  FAKE_SHOP_TOKEN as SHOP_TOKEN,
  type FakeBotApi,
  pathWith,
  writeFakeBin,
  runBotctl,
  startFakeBotApi,
  type Tenant,
  maintenanceLog,
  BOTCTL_MAIN,
} from '@botctl/test-utils';
import { execa } from 'execa';
import { useCluster } from './harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let api: FakeBotApi;

const suite = useCluster('botctl-wiring-');

beforeAll(async () => {
  api = await startFakeBotApi();
});

afterAll(async () => {
  await api?.close();
});

/** Runs a script the way cron does: a bare environment, no terminal. */
const script = (name: string, args: string[], env: Record<string, string> = {}) =>
  execa('bash', [path.join(ROOT, 'scripts', name), ...args], {
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', BOTCTL_LOCK_DIR: suite.work, ...env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 120_000,
  });

/** Holds the script's flock on the tenant's lock file, like a run still going. */
async function holdLock(kind: 'backup' | 'health', envFile: string): Promise<() => void> {
  const hash = execFileSync('bash', ['-c', `printf '%s' "$(realpath "$1")" | sha256sum | cut -c1-16`, '_', envFile], { encoding: 'utf8' }).trim();
  // Its own process group, so that the sleep holding the lock dies with flock.
  const child = spawn('flock', ['-n', path.join(suite.work, `botctl-${kind}-${hash}.lock`), 'sleep', '60'], { stdio: 'ignore', detached: true });
  await new Promise((r) => setTimeout(r, 300));
  return () => process.kill(-child.pid!, 'SIGKILL');
}

const tenantEnv = () => ({
  TELEGRAM_BOT_TOKEN: SHOP_TOKEN,
  OWNER_BOT_TOKEN: OWNER_TOKEN,
  TELEGRAM_OWNER_IDS: '7001',
  TELEGRAM_API_ROOT: api.url,
  HEALTH_SKIP_CHECKS: 'cpu,backup_verify,backup_drill',
  HEALTH_MEMORY_THRESHOLD: '99',
  HEALTH_DISK_THRESHOLD: '99',
});

describe('shell scripts', () => {
  it('are clean under shellcheck', () => {
    const scripts = ['', 'lib'].flatMap((d) =>
      fs
        .readdirSync(path.join(ROOT, 'scripts', d))
        .filter((f) => f.endsWith('.sh'))
        .map((f) => path.join(ROOT, 'scripts', d, f)),
    );
    expect(scripts.map((s) => path.relative(path.join(ROOT, 'scripts'), s)).sort()).toEqual([
      'cron_backup.sh',
      'cron_healthcheck.sh',
      'install.sh',
      'lib/tenant.sh',
      'rolling_restart.sh',
      'setup.sh',
      'systemd_on_failure.sh',
    ]);
    for (const s of [...scripts, path.join(ROOT, '.ci', 'run')]) {
      expect(execFileSync('bash', ['-n', s], { encoding: 'utf8' })).toBe('');
      expect(() => execFileSync('shellcheck', ['-x', s], { encoding: 'utf8' })).not.toThrow();
    }
  });
});

describe('scripts under pipefail', () => {
  it('never pipe a command into head (the command dies of SIGPIPE and the script exits 141 without a word)', () => {
    const scripts = ['', 'lib'].flatMap((d) =>
      fs
        .readdirSync(path.join(ROOT, 'scripts', d))
        .filter((f) => f.endsWith('.sh'))
        .map((f) => path.join(ROOT, 'scripts', d, f)),
    );
    const offenders = scripts.flatMap((s) =>
      fs
        .readFileSync(s, 'utf8')
        .split('\n')
        .map((l, i) => ({ l, i }))
        .filter(({ l }) => /\|\s*head\b/.test(l) && !l.trim().startsWith('#'))
        .map(({ i }) => `${path.relative(ROOT, s)}:${i + 1}`),
    );
    expect(offenders).toEqual([]);
  });
});

describe('cron_backup.sh', () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await suite.tenant({ extraEnv: { ...tenantEnv(), BACKUP_KEEP: '1', BACKUP_KEEP_DAILY: '0', BACKUP_KEEP_WEEKLY: '0', BACKUP_KEEP_MONTHLY: '0' } });
  });

  it('creates a backup, copies it offsite, prunes both with the configured policy, and logs it', async () => {
    // Two older backups that the policy (keep 1) removes, local and offsite.
    for (let i = 0; i < 2; i++)
      expect((await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite'], { cwd: t.dir })).exitCode).toBe(0);
    const verify = await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'verify', '--latest'], { cwd: t.dir });
    expect(verify.exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    // A daily log file well past LOG_RETENTION_DAYS (90), and today's.
    const old = new Date(Date.now() - 200 * 86_400_000).toISOString().slice(0, 10);
    fs.writeFileSync(path.join(t.logDir, 'bot-order', `${old}.log`), `[${old} 10:00:00] [INFO] old line\n`);
    api.reset();
    const run = await script('cron_backup.sh', [t.envFile]);
    expect(run.exitCode).toBe(0);
    // Silent on success: cron mails nothing.
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('');
    const archives = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tar.gz.enc'));
    // Newest kept by the policy; the newest verified one is never removed.
    expect(archives(t.localDir)).toHaveLength(2);
    expect(archives(t.offsiteStoreDir)).toHaveLength(2);
    const log = maintenanceLog(t);
    expect(log).toMatch(/\[INFO\] Backup database selesai: /);
    expect(log).toMatch(/\[INFO\] Prune/);
    // The logs were rotated too: the old file is in its month's archive, here and offsite.
    expect(fs.existsSync(path.join(t.logDir, 'bot-order', `${old}.log`))).toBe(false);
    const monthArchive = `logs-${old.slice(0, 7)}.tar.gz.enc`;
    expect(fs.existsSync(path.join(t.dir, 'backups', 'logs', monthArchive))).toBe(true);
    expect(fs.existsSync(path.join(t.offsiteStoreDir, 'logs', monthArchive))).toBe(true);
    expect(log).toMatch(/\[INFO\] \[logs\] Rotasi log /);
    // The owner heard about both steps, silently.
    const texts = api.callsTo('sendMessage').map((c) => String(c.params.text));
    expect(texts).toEqual([
      expect.stringContaining('✅ Backup otomatis selesai'),
      expect.stringMatching(/✅ Prune backup selesai: lokal 1 dihapus, 2 disimpan; offsite 1 dihapus, 2 disimpan; .* dibebaskan$/),
    ]);
  });

  it('honours BACKUP_AUTOMATIC_OFFSITE=false: no offsite copy, no offsite prune, still silent', async () => {
    const local = await suite.tenant({ seed: false, extraEnv: { ...tenantEnv(), BACKUP_AUTOMATIC_OFFSITE: 'false' } });
    const run = await script('cron_backup.sh', [local.envFile]);
    expect(run.exitCode).toBe(0);
    expect(run.stderr + run.stdout).toBe('');
    expect(fs.readdirSync(local.localDir).filter((f) => f.endsWith('.tar.gz.enc'))).toHaveLength(1);
    expect(fs.existsSync(local.offsiteStoreDir)).toBe(false);
  });

  it('a second run while one is going exits 4 (LOCKED) at once', async () => {
    const release = await holdLock('backup', t.envFile);
    try {
      const run = await script('cron_backup.sh', [t.envFile]);
      expect(run.exitCode).toBe(4);
      expect(run.stderr).toContain('is already running');
    } finally {
      release();
    }
  });

  it("passes botctl's exit code through and skips the prune when the backup fails", async () => {
    const before = fs.readdirSync(t.localDir).length;
    const url = t.env().DATABASE_URL!;
    t.setEnv({ DATABASE_URL: url.replace(/:(\d+)\//, ':1/') });
    try {
      const run = await script('cron_backup.sh', [t.envFile]);
      expect(run.exitCode).toBe(6);
      expect(run.stderr).toMatch(/^botctl: error: cannot connect to database/m);
      expect(fs.readdirSync(t.localDir).length).toBe(before);
    } finally {
      t.setEnv({ DATABASE_URL: url });
    }
    expect((await script('cron_backup.sh', ['/nonexistent/.env'])).exitCode).toBe(3);
  });
});

describe('cron_healthcheck.sh', () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await suite.tenant({ extraEnv: tenantEnv() });
    expect((await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite'], { cwd: t.dir })).exitCode).toBe(0);
  });
  const beat = (ageMs: number) =>
    writeHeartbeat(path.join(t.dir, 'state'), {
      service: 'bot',
      version: 't',
      started_at: new Date(Date.now() - 3_600_000).toISOString(),
      at: new Date(Date.now() - ageMs).toISOString(),
    });

  it('is silent and exits 0 when all is well; prints the problem and exits 2 when the bot is down; writes the textfile', async () => {
    await beat(0);
    api.reset();
    const textfile = path.join(t.dir, 'metrics');
    const ok = await script('cron_healthcheck.sh', [t.envFile, '--textfile', textfile]);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('');
    expect(ok.exitCode).toBe(0);
    expect(fs.readdirSync(textfile)).toEqual([expect.stringMatching(/^botctl_toko_test_\d+\.prom$/)]);

    await beat(30 * 60_000);
    const down = await script('cron_healthcheck.sh', [t.envFile]);
    expect(down.exitCode).toBe(2);
    expect(down.stdout.split('\n')[0]).toMatch(/^CRITICAL - bot_process: down: last heartbeat 30 min/);
    expect(api.callsTo('sendMessage').map((c) => String(c.params.text))).toEqual([expect.stringContaining('🔴 Proses bot')]);
    const log = maintenanceLog(t);
    expect(log).toMatch(/\[ERROR\] Health-check: CRITICAL - bot_process: .*alert problem terkirim ke owner/);
    await beat(0);
  });

  it('exits 3 (UNKNOWN) when a previous run still holds the lock, or the env file is unreadable or invalid', async () => {
    const release = await holdLock('health', t.envFile);
    try {
      expect((await script('cron_healthcheck.sh', [t.envFile])).exitCode).toBe(3);
    } finally {
      release();
    }
    expect((await script('cron_healthcheck.sh', ['/nonexistent/.env'])).exitCode).toBe(3);
    const bad = path.join(t.dir, 'bad.env');
    fs.writeFileSync(bad, 'HEALTH_DISK_THRESHOLD=lots\n');
    const invalid = await script('cron_healthcheck.sh', [bad]);
    expect(invalid.exitCode).toBe(3);
    expect(invalid.stderr).toContain('HEALTH_DISK_THRESHOLD must be a whole number');
  });
});

describe('systemd units', () => {
  it('pass systemd-analyze verify (paths pointed at this checkout)', () => {
    const dir = path.join(suite.work, 'units');
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(path.join(ROOT, 'deploy', 'systemd'))) {
      fs.writeFileSync(path.join(dir, f), fs.readFileSync(path.join(ROOT, 'deploy', 'systemd', f), 'utf8').replaceAll('/opt/botctl', ROOT.replace(/\/$/, '')));
    }
    const instances: [string, string][] = [];
    for (const kind of ['backup', 'healthcheck', 'verify', 'drill']) {
      for (const ext of ['service', 'timer']) instances.push([`botctl-${kind}@toko1.${ext}`, `botctl-${kind}@.${ext}`]);
    }
    instances.push(['botctl-failure@botctl-backup@toko1.service.service', 'botctl-failure@.service']);
    instances.push(['botctl-bot@toko1.service', 'botctl-bot@.service']);
    for (const [inst, tpl] of instances) fs.symlinkSync(tpl, path.join(dir, inst));
    let out = '';
    try {
      out = execFileSync('systemd-analyze', ['verify', '--man=no', ...instances.map(([i]) => path.join(dir, i))], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SYSTEMD_LOG_LEVEL: 'notice' },
      });
    } catch (error) {
      throw new Error(`systemd-analyze verify failed:\n${(error as { stderr?: string }).stderr}`);
    }
    expect(out).toBe('');
    // Every timer survives downtime and every service that can fail tells the owners.
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('@.timer'))) expect(fs.readFileSync(path.join(dir, f), 'utf8')).toContain('Persistent=true');
    for (const kind of ['backup', 'verify', 'drill', 'bot']) {
      expect(fs.readFileSync(path.join(dir, `botctl-${kind}@.service`), 'utf8')).toContain('OnFailure=botctl-failure@%n.service');
    }
    // The installed layout (install.sh): settings in /etc/botctl/tenants, data in /var/lib/botctl.
    for (const f of fs.readdirSync(path.join(ROOT, 'deploy', 'systemd')).filter((x) => x.endsWith('.service'))) {
      const text = fs.readFileSync(path.join(ROOT, 'deploy', 'systemd', f), 'utf8');
      expect([f, text.includes('/srv/botctl/%i')]).toEqual([f, false]);
      if (/--env-file|cron_/.test(text)) expect([f, text]).toEqual([f, expect.stringContaining('/etc/botctl/tenants/%i.env')]);
      expect([f, text]).toEqual([f, expect.stringMatching(/^ReadWritePaths=\/var\/lib\/botctl /m)]);
    }
    // The shop bot is kept running and never given up on.
    const bot = fs.readFileSync(path.join(dir, 'botctl-bot@.service'), 'utf8');
    expect(bot).toMatch(/^Restart=always$/m);
    expect(bot).toMatch(/^StartLimitIntervalSec=0$/m);
  });

  it('are hardened: systemd-analyze security scores every service 4.0 or lower (8.7 before)', () => {
    const dir = path.join(suite.work, 'units-security');
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(path.join(ROOT, 'deploy', 'systemd')).filter((x) => x.endsWith('@.service'))) {
      const inst = path.join(dir, f.replace('@.', '@toko1.'));
      fs.copyFileSync(path.join(ROOT, 'deploy', 'systemd', f), inst);
      const out = execFileSync('systemd-analyze', ['security', '--offline=true', '--no-pager', inst], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(out)?.[1]);
      expect([f, score]).toEqual([f, expect.any(Number)]);
      expect(score).toBeLessThanOrEqual(4.0);
    }
    // The failure hook reads the failed unit's journal as the botctl user.
    expect(fs.readFileSync(path.join(ROOT, 'deploy/systemd/botctl-failure@.service'), 'utf8')).toMatch(/^SupplementaryGroups=systemd-journal$/m);
  });

  it("the OnFailure hook tells the tenant's owners which unit failed", async () => {
    const t = await suite.tenant({ extraEnv: tenantEnv() });
    api.reset();
    const tenant = path.basename(t.dir);
    const run = await script('systemd_on_failure.sh', [`botctl-backup@${tenant}.service`], { BOTCTL_TENANTS_DIR: path.dirname(t.dir) });
    expect(run.exitCode).toBe(0);
    expect(api.callsTo('sendMessage').map((c) => String(c.params.text))).toEqual([
      expect.stringMatching(new RegExp(`^\\[${t.env().BOT_STORE_NAME}\\] ❌ Tugas terjadwal botctl-backup@${tenant}\\.service GAGAL di `)),
    ]);
  });
});

describe('rolling_restart.sh', () => {
  it("restarts tenants one at a time, waits for each bot's heartbeat, records it, and stops at the first that does not come back", async () => {
    const root = path.join(suite.work, 'rolling');
    const names = ['toko1', 'toko2', 'toko3'];
    for (const n of names) {
      fs.mkdirSync(path.join(root, n, 'state'), { recursive: true });
      fs.writeFileSync(path.join(root, n, 'compose.yml'), 'services: {}\n');
      fs.writeFileSync(path.join(root, n, '.env'), `BOT_STORE_NAME=${n}\n`);
    }
    const bin = path.join(suite.work, 'fake-docker');
    const calls = path.join(suite.work, 'docker-calls.txt');
    // `up -d` "starts" the bot: it writes a heartbeat, unless the tenant has a BROKEN marker.
    writeFakeBin(
      bin,
      'docker',
      `echo "$*" >> "${calls}"
dir=$(dirname "$3")
if [ "$4" = "up" ] && [ ! -e "$dir/BROKEN" ]; then (sleep 1; echo '{}' > "$dir/state/heartbeat-bot.json") & fi
exit 0`,
    );
    const env = { PATH: pathWith(bin), BOTCTL_TENANTS_DIR: root, RESTART_TIMEOUT: '5' };
    const ok = await script('rolling_restart.sh', [], env);
    expect(ok.stderr).toBe('');
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toMatch(/All 3 tenant\(s\) restarted\./);
    const lines = fs.readFileSync(calls, 'utf8').trim().split('\n');
    expect(lines).toEqual(
      names.flatMap((n) => [`compose -f ${root}/${n}/compose.yml pull --quiet`, `compose -f ${root}/${n}/compose.yml up -d --remove-orphans`]),
    );
    const journal = fs
      .readdirSync(path.join(root, 'toko2', 'logs', 'maintenance'))
      .map((f) => fs.readFileSync(path.join(root, 'toko2', 'logs', 'maintenance', f), 'utf8'))
      .join('');
    expect(journal).toMatch(/\[INFO\] \[journal\] update: rolling restart: toko2 restarted on the new image/);

    fs.rmSync(calls);
    fs.writeFileSync(path.join(root, 'toko2', 'BROKEN'), '');
    const stopped = await script('rolling_restart.sh', ['--no-pull', ...names.map((n) => path.join(root, n))], { ...env, RESTART_TIMEOUT: '3' });
    expect(stopped.exitCode).toBe(1);
    expect(stopped.stderr).toMatch(/toko2 did not come back within 3s .* stopping here/);
    expect(fs.readFileSync(calls, 'utf8')).not.toMatch(/toko3/);
    expect(fs.readFileSync(calls, 'utf8')).not.toMatch(/pull/);

    expect((await script('rolling_restart.sh', [], { PATH: process.env.PATH! })).exitCode).toBe(2);
  });
});

describe('Dockerfile (static: no Docker daemon on the test machine)', () => {
  it('copies only paths the build makes, runs the built bot as a non-root user, and keeps tenant data out of the context', () => {
    const docker = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    // Every `COPY --from=build /app/X` names something a `pnpm build` produces in the checkout.
    const fromBuild = [...docker.matchAll(/^COPY --from=build \/app\/(\S+) /gm)].map((m) => m[1]!);
    expect(fromBuild.length).toBeGreaterThan(8);
    for (const p of fromBuild) expect(fs.existsSync(path.join(ROOT, p))).toBe(true);
    for (const p of [...docker.matchAll(/^COPY (?!--)(\S+)/gm)].flatMap((m) => m[1]!.split(' '))) expect(fs.existsSync(path.join(ROOT, p))).toBe(true);
    expect(docker).toMatch(/^USER node$/m);
    expect(docker).toMatch(/^CMD \["node", "--", "\/app\/packages\/bot\/dist\/main\.js", "--env-file", "\/srv\/tenant\/\.env"\]$/m);
    expect(fs.existsSync(path.join(ROOT, 'packages/bot/dist/main.js'))).toBe(true);
    expect(docker).toContain(`npm install -g pnpm@${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).packageManager.split('@')[1]}`);
    const ignore = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['**/.env', '**/*.env', '**/logs/', '**/backups/', '**/state/', '**/node_modules/']) expect(ignore).toContain(p);
    const compose = fs.readFileSync(path.join(ROOT, 'deploy/compose/compose.yml'), 'utf8');
    expect(compose).toMatch(/- "127\.0\.0\.1:\$\{HOST_PORT:-8080\}:8080"/);
    expect(compose).not.toMatch(/^\s+- "(0\.0\.0\.0:)?\d+:\d+"/m);
  });
});

describe('the README’s commands, as written', () => {
  it('`pnpm bot -- --env-file FILE` reaches the bot with its --env-file (pnpm 10 passes the `--` on)', async () => {
    const missing = path.join(suite.work, 'no-such-tenant.env');
    const r = await execa('pnpm', ['--silent', 'bot', '--', '--env-file', missing], { cwd: ROOT, reject: false, env: { ...process.env, NO_COLOR: '1' } });
    expect(String(r.stderr)).not.toMatch(/Unexpected argument/);
    expect(String(r.stderr)).toContain(missing);
    expect(r.exitCode).toBe(3);
  }, 120_000);
});

describe('the Grafana dashboard (deploy/grafana)', () => {
  it('queries only metrics the textfile writes, each a valid PromQL expression for the real promtool', async () => {
    const dash = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy/grafana/botctl.dashboard.json'), 'utf8')) as {
      uid: string;
      panels: { title: string; targets: { expr: string }[] }[];
      templating: { list: { name: string }[] };
    };
    expect(dash.templating.list.map((v) => v.name)).toEqual(['datasource', 'store']);
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(10);
    const textfile = fs.readFileSync(path.join(ROOT, 'packages/maintenance/src/health/textfile.ts'), 'utf8');
    for (const e of exprs) for (const [m] of e.matchAll(/\bbotctl_[a-z_]+\b/g)) expect([e, textfile.includes(`'${m}'`)]).toEqual([e, true]);
    // Every query as a recording rule: promtool parses each (Grafana's $store is a regex there).
    const rules = `groups:\n  - name: dashboard\n    rules:\n${exprs.map((e, i) => `      - record: dashboard:q${i}\n        expr: ${JSON.stringify(e.replaceAll('$store', '.*'))}\n`).join('')}`;
    const file = path.join(suite.work, 'dashboard.rules.yml');
    fs.writeFileSync(file, rules);
    const check = await execa('promtool', ['check', 'rules', file], { reject: false });
    expect([check.exitCode, check.stderr]).toEqual([0, '']);
  });
});

describe('Prometheus alerting rules (deploy/prometheus)', () => {
  const dir = path.join(ROOT, 'deploy', 'prometheus');
  it('pass the real promtool: check rules, and the rule tests fire what they should when they should', async () => {
    const check = await execa('promtool', ['check', 'rules', 'botctl.rules.yml'], { cwd: dir, reject: false });
    expect(check.exitCode).toBe(0);
    const test = await execa('promtool', ['test', 'rules', 'botctl.rules.test.yml'], { cwd: dir, reject: false });
    expect(`${test.stdout}${test.stderr}`).toMatch(/SUCCESS/);
    expect(test.exitCode).toBe(0);
  });

  it('use only metrics the textfile writes and check ids the health check has', () => {
    const rules = fs.readFileSync(path.join(dir, 'botctl.rules.yml'), 'utf8');
    const textfile = fs.readFileSync(path.join(ROOT, 'packages/maintenance/src/health/textfile.ts'), 'utf8');
    const metrics = new Set([...rules.matchAll(/\b(botctl_[a-z_]+)\b/g)].map((m) => m[1]!));
    expect(metrics.size).toBeGreaterThan(4);
    for (const m of metrics) expect(textfile).toContain(`'${m}'`);
    for (const [, ids] of rules.matchAll(/check=~?"([^"]+)"/g)) {
      for (const id of ids!.split('|')) expect(HEALTH_CHECK_IDS as readonly string[]).toContain(id);
    }
  });
});

describe('the systemd journal', () => {
  /** Runs a command with stderr into a file that JOURNAL_STREAM names, as systemd sets it up. */
  function underJournal(cmd: string, args: string[], env: Record<string, string> = {}): string {
    const file = path.join(suite.work, `journal-${Math.random().toString(16).slice(2)}`);
    const fd = fs.openSync(file, 'w');
    try {
      const st = fs.fstatSync(fd);
      // The file itself is the child's stderr (a pipe would have another inode), as the journal stream is.
      spawnSync(cmd, args, {
        cwd: suite.work,
        stdio: ['ignore', 'ignore', fd],
        env: {
          PATH: process.env.PATH!,
          HOME: process.env.HOME ?? '/tmp',
          LANG: 'C.UTF-8',
          BOTCTL_LOCK_DIR: suite.work,
          JOURNAL_STREAM: `${st.dev}:${st.ino}`,
          ...env,
        },
        timeout: 120_000,
      });
    } finally {
      fs.closeSync(fd);
    }
    return fs.readFileSync(file, 'utf8');
  }

  it('botctl prints its errors at priority 3 and warnings at 4 when stderr is the journal, and plain lines when it is not', async () => {
    const t = await suite.tenant();
    t.setEnv({ DATABASE_URL: 'postgresql://shop@127.0.0.1:1/shop' });
    const out = underJournal(process.execPath, ['--', BOTCTL_MAIN, '--env-file', t.envFile, '--no-alert', 'backup', 'create']);
    expect(out).toMatch(/^<3>botctl: error: .*\n<3>hint: /m);
    expect(out.split('\n').filter((l) => /^(botctl: error|hint|warning):/.test(l))).toEqual([]);
    t.setEnv({ BOGUS_SETTING: '1' });
    const typo = underJournal(process.execPath, ['--', BOTCTL_MAIN, '--env-file', t.envFile, '--no-alert', 'backup', 'list']);
    expect(typo).toMatch(/^<4>warning: .*unknown setting BOGUS_SETTING/m);
    // JOURNAL_STREAM inherited, but stderr a pipe (a script capturing it): plain lines, and the command runs.
    const piped = spawnSync(process.execPath, ['--', BOTCTL_MAIN, '--env-file', t.envFile, '--no-alert', 'backup', 'create'], {
      cwd: suite.work,
      encoding: 'utf8',
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', JOURNAL_STREAM: '1:1' },
      timeout: 120_000,
    });
    expect(piped.stderr).toMatch(/^botctl: error: /m);
    expect(piped.stderr).not.toContain('<3>');
    expect(piped.stderr).not.toMatch(/unexpected error/);
  });

  it('cron_backup.sh prints a failed step at priority 3 under systemd', async () => {
    const t = await suite.tenant();
    t.setEnv({ DATABASE_URL: 'postgresql://shop@127.0.0.1:1/shop' });
    const out = underJournal('bash', [path.join(ROOT, 'scripts', 'cron_backup.sh'), t.envFile]);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^<3>cron_backup: botctl backup create --scheduled failed \(exit \d+\):$/);
    expect(lines.every((l) => l.startsWith('<3>'))).toBe(true);
  });
});
