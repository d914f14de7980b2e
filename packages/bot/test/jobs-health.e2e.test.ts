import fs from 'node:fs';
import path from 'node:path';
import { createSql, readJobRecords, type Sql } from '@botctl/core';
import {
  type BotProcess,
  createTenant,
  type EphemeralCluster,
  FAKE_OWNER_TOKEN as OWNER_TOKEN,
  FAKE_SHOP_TOKEN as SHOP_TOKEN,
  type FakeBotApi,
  makeTempDir,
  parseJsonOutput,
  removeDir,
  runBotctl,
  startBotProcess,
  startEphemeralCluster,
  startFakeBotApi,
  type Tenant,
} from '@botctl/test-utils';

const OWNER = 9101;
let cluster: EphemeralCluster;
let work: string;
let api: FakeBotApi;
const bots: BotProcess[] = [];
const pools: Sql[] = [];

beforeAll(async () => {
  work = makeTempDir('botctl-jobs-');
  cluster = await startEphemeralCluster({ parentDir: work });
  api = await startFakeBotApi({ tokens: [SHOP_TOKEN, OWNER_TOKEN] });
});

afterEach(async () => {
  await Promise.all(bots.splice(0).map((b) => b.stop('SIGTERM')));
  await Promise.all(pools.splice(0).map((s) => s.end({ timeout: 5 })));
  api.reset();
});

afterAll(async () => {
  await api?.close();
  await cluster?.destroy();
  removeDir(work);
});

async function until<T>(what: string, f: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Only the checks this story is about: the others judge what a test tenant lacks on purpose.
const SKIP = 'disk,cpu,memory,log_size,backup_age,backup_offsite,backup_verify,backup_drill,maintenance_lock,backup_space';

async function tenant(extra: Record<string, string> = {}): Promise<{ t: Tenant; sql: Sql }> {
  const t = await createTenant({
    cluster,
    parentDir: work,
    extraEnv: {
      TELEGRAM_BOT_TOKEN: SHOP_TOKEN,
      OWNER_BOT_TOKEN: OWNER_TOKEN,
      TELEGRAM_OWNER_IDS: String(OWNER),
      TELEGRAM_API_ROOT: api.url,
      BOT_HTTP_PORT: '0',
      ENABLE_AUTO_HEALTHCHECK: 'false',
      HEALTH_SKIP_CHECKS: SKIP,
      ...extra,
    },
  });
  const sql = createSql(t.databaseUrl, { max: 2 });
  pools.push(sql);
  return { t, sql };
}

const stateDir = (t: Tenant) => path.join(t.dir, 'state');
const ownerAlerts = () => api.calls.filter((c) => c.token === OWNER_TOKEN && c.method === 'sendMessage').map((c) => String(c.params.text));

describe("the bot's jobs are seen by the health check", () => {
  it("a bot-only tenant: the monthly drill runs in the bot (ENABLE_AUTO_DRILL), recorded in logs/maintenance/ like botctl's", async () => {
    const { t } = await tenant({ ENABLE_AUTO_DRILL: 'true', BACKUP_DRILL_CRON: '*/3 * * * * *' });
    expect((await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create'], { cwd: t.dir })).exitCode).toBe(0);
    // Only the bot writes the audit trail from here on.
    fs.rmSync(path.join(t.logDir, 'maintenance'), { recursive: true, force: true });
    const bot = await startBotProcess({ envFile: t.envFile, cwd: t.dir });
    bots.push(bot);
    const rec = await until('a drill run', () => readJobRecords(stateDir(t))?.jobs.auto_drill, 30_000);
    expect(rec).toMatchObject({ consecutive_failures: 0 });
    const audit = fs.readFileSync(path.join(t.logDir, 'maintenance', fs.readdirSync(path.join(t.logDir, 'maintenance'))[0]!), 'utf8');
    expect(audit).toMatch(/\[INFO\] Uji restore \(drill\) OK: backup-\d{8}-\d{6}\.tar\.gz\.enc/);
    expect(ownerAlerts().some((m) => /✅ Uji restore \(drill\) lulus/.test(m))).toBe(true);
    const status = parseJsonOutput<{ checks: { id: string; mark: string; fact: string }[] }>(
      await runBotctl(['--env-file', t.envFile, 'status', '--json'], { cwd: t.dir }),
    );
    expect(status.checks.find((c) => c.id === 'recovery')).toMatchObject({ mark: 'ok' });
    expect(status.checks.find((c) => c.id === 'audit')).toMatchObject({ mark: 'ok' });
  });

  it('an SNK purge failing every run: warning, then critical and told to the owners once, no "Pulih" until it works again', async () => {
    const { t, sql } = await tenant({ SNK_PURGE_CRON: '* * * * * *' });
    // The job's table is gone (a bad migration, a manual mistake): every run fails.
    await sql`ALTER TABLE product_term_submissions RENAME TO product_term_submissions_gone`;
    const bot = await startBotProcess({ envFile: t.envFile, cwd: t.dir });
    bots.push(bot);
    const health = async () => {
      const run = await runBotctl(['--env-file', t.envFile, 'healthcheck', '--json'], { cwd: t.dir });
      const jobs = parseJsonOutput<{ checks: { id: string; status: string; fact: string }[] }>(run).checks.find((c) => c.id === 'jobs');
      return { exit: run.exitCode, jobs };
    };

    await until('a failed snk_purge run', () => (readJobRecords(stateDir(t))?.jobs.snk_purge?.consecutive_failures ?? 0) >= 1);
    const first = await health();
    expect(first.jobs?.status).toMatch(/warning|critical/);
    expect(first.jobs?.fact).toMatch(/snk_purge failed \d+ run\(s\) in a row \(never succeeded\): .*product_term_submissions/);
    await until('three failed runs in a row', () => (readJobRecords(stateDir(t))?.jobs.snk_purge?.consecutive_failures ?? 0) >= 3);
    const second = await health();
    expect(second).toMatchObject({ exit: 2, jobs: { status: 'critical' } });
    const third = await health();
    expect(third.exit).toBe(2);
    const told = ownerAlerts().filter((m) => /Job otomatis bot/.test(m));
    expect(told).toHaveLength(1);
    expect(told[0]).toMatch(/KRITIS[\s\S]*job snk_purge gagal \d+× berturut-turut/);
    expect(ownerAlerts().some((m) => /Pulih/.test(m))).toBe(false);

    // Repaired: the next run succeeds, the health check says so and the owners hear it is over.
    await sql`ALTER TABLE product_term_submissions_gone RENAME TO product_term_submissions`;
    await until('a successful snk_purge run', () => readJobRecords(stateDir(t))?.jobs.snk_purge?.consecutive_failures === 0);
    const healed = await health();
    expect(healed).toMatchObject({ exit: 0, jobs: { status: 'ok' } });
    expect(ownerAlerts().filter((m) => /✅ Pulih[\s\S]*Job otomatis bot/.test(m))).toHaveLength(1);
    const rec = readJobRecords(stateDir(t))!.jobs.snk_purge!;
    expect(rec.last_ok_at).toBeDefined();
    expect(rec.last_error).toMatch(/product_term_submissions/);
  });

  it('a log rotation that cannot run is a failed job, not a quiet success', async () => {
    // No encryption configured: logs cannot be archived; today the job "succeeded" with a warning.
    const { t } = await tenant({ LOG_ROTATE_CRON: '* * * * * *' });
    t.setEnv({ BACKUP_ENCRYPTION_PASSWORD: undefined, BACKUP_AGE_RECIPIENTS: undefined, BACKUP_AGE_IDENTITY_FILE: undefined });
    const bot = await startBotProcess({ envFile: t.envFile, cwd: t.dir });
    bots.push(bot);
    const rec = await until('a failed log_rotate run', () => readJobRecords(stateDir(t))?.jobs.log_rotate);
    expect(rec.consecutive_failures).toBeGreaterThanOrEqual(1);
    expect(rec.last_error).toMatch(/enkripsi backup belum diatur/);
    const run = await runBotctl(['--env-file', t.envFile, 'healthcheck', '--json'], { cwd: t.dir });
    const jobs = parseJsonOutput<{ checks: { id: string; status: string; fact: string }[] }>(run).checks.find((c) => c.id === 'jobs');
    expect(jobs?.fact).toMatch(/log_rotate failed/);
  });
});
