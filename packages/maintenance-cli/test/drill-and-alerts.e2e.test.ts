import fs from 'node:fs';
import path from 'node:path';
import { createSql, ExitCode, type Secret, type Sql } from '@botctl/core';
import { FAKE_OWNER_TOKEN, FAKE_SHOP_TOKEN, type FakeBotApi, fakeTelegramEnv, startFakeBotApi, type Tenant } from '@botctl/test-utils';
import { botctlInProcess, useCluster } from './harness.js';

/** Owner alerts that mean something, drills that judge the restore, and the CREATEDB they need. */

let api: FakeBotApi;

const suite = useCluster('botctl-drill-alerts-');

beforeAll(async () => {
  api = await startFakeBotApi({ tokens: [FAKE_SHOP_TOKEN, FAKE_OWNER_TOKEN] });
});
afterEach(() => api.reset());
afterAll(async () => {
  await api?.close();
});

const run = (t: Tenant, args: string[], env: Record<string, string> = {}) => botctlInProcess(['--env-file', t.envFile, ...args], { cwd: t.dir, env });
const ownerMessages = () => api.calls.filter((c) => c.token === FAKE_OWNER_TOKEN && c.method === 'sendMessage').map((c) => String(c.params.text));
const tenant = (opts: { seed?: boolean } = {}) => suite.tenant({ ...opts, extraEnv: fakeTelegramEnv(api, '7301') });

async function withSql<T>(url: Secret, f: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = createSql(url, { max: 1 });
  try {
    return await f(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

describe('owner alerts', () => {
  it("an operator's mistake at the terminal is told to the operator, not to the owners as GAGAL; in a scheduled run it is", async () => {
    const t = await tenant();
    expect((await run(t, ['--no-alert', 'backup', 'create'])).exitCode).toBe(ExitCode.OK);

    // A mistyped archive name.
    const typo = await run(t, ['backup', 'verify', 'backup-20990101-000000.tar.gz.enc']);
    expect(typo.exitCode).toBe(ExitCode.NOT_FOUND);
    expect(typo.stderr).toMatch(/not found/);
    // verify on a host that only has the public key (recipient mode): it cannot decrypt.
    t.setEnv({ BACKUP_AGE_IDENTITY_FILE: undefined });
    const noKey = await run(t, ['backup', 'verify', '--latest']);
    expect(noKey.exitCode).toBe(ExitCode.CONFIG);
    expect(noKey.stderr).toMatch(/BACKUP_AGE_IDENTITY_FILE/);
    expect(ownerMessages()).toEqual([]);

    // The same from cron or a timer: nobody reads that terminal, the owners are told.
    const scheduled = await run(t, ['--scheduled', 'backup', 'verify', '--latest']);
    expect(scheduled.exitCode).toBe(ExitCode.CONFIG);
    expect(ownerMessages()).toHaveLength(1);
    expect(ownerMessages()[0]).toMatch(/❌ Verifikasi backup GAGAL[\s\S]*BACKUP_AGE_IDENTITY_FILE/);
  });
});

describe('backup drill', () => {
  it("applies the shop's rules only to the shop's schema: another application's rules are not a failed restore", async () => {
    const t = await tenant({ seed: false });
    // Another application's tables with the same names, where a refunded order keeps its
    // completed payment: against the shop's rule, and fine for that application.
    await withSql(t.databaseUrl, async (sql) => {
      await sql`CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL)`;
      await sql`CREATE TABLE payments (id bigint PRIMARY KEY, order_id bigint REFERENCES orders, status text NOT NULL)`;
      await sql`INSERT INTO orders VALUES (1, 'refunded'), (2, 'paid')`;
      await sql`INSERT INTO payments VALUES (10, 1, 'completed'), (11, 2, 'completed')`;
    });
    expect((await run(t, ['--no-alert', 'backup', 'create'])).exitCode).toBe(ExitCode.OK);
    const drill = await run(t, ['backup', 'drill', '--json']);
    expect(drill.exitCode).toBe(ExitCode.OK);
    const out = JSON.parse(drill.stdout) as { ok: boolean; sanity: unknown[]; sanity_ok: boolean | null; sanity_skipped: string };
    expect(out).toMatchObject({ ok: true, sanity: [], sanity_ok: null });
    expect(out.sanity_skipped).toMatch(/no schema_migrations table: not the shop bot's schema/);
    expect(ownerMessages().join('\n')).not.toMatch(/GAGAL/);
  });

  it("reports a broken shop rule on the shop's own schema apart from a good restore: exit 0, no GAGAL, the owners told to look", async () => {
    const t = await tenant();
    await withSql(t.databaseUrl, async (sql) => {
      await sql`UPDATE orders SET status = 'expired' WHERE id = (SELECT order_id FROM payments WHERE status = 'completed' ORDER BY id LIMIT 1)`;
    });
    expect((await run(t, ['--no-alert', 'backup', 'create'])).exitCode).toBe(ExitCode.OK);
    const drill = await run(t, ['backup', 'drill', '--json']);
    expect(drill.exitCode).toBe(ExitCode.OK);
    const out = JSON.parse(drill.stdout) as { ok: boolean; sanity: { name: string; ok: boolean; found: number }[]; sanity_ok: boolean | null };
    expect(out.ok).toBe(true);
    expect(out.sanity_ok).toBe(false);
    expect(out.sanity.find((c) => !c.ok)).toMatchObject({ name: 'completed payments belong to paid orders', found: 1 });
    const told = ownerMessages();
    expect(told).toHaveLength(1);
    expect(told[0]).toMatch(/✅ Uji restore \(drill\) lulus[\s\S]*⚠️ Data toko perlu dicek: completed payments belong to paid orders \(1 baris\)/);
    expect(told[0]).not.toMatch(/GAGAL/);
    const text = await run(t, ['backup', 'drill', '--no-alert']);
    expect(text.stdout).toMatch(/✓ Drill passed[\s\S]*shop rule ⚠ completed payments belong to paid orders \(1 rows break it\)/);
  });

  it('needs a role that may create databases: says so in drill, restore --new-db (--dry-run too) and preflight; BACKUP_DRILL_ADMIN_URL lends one', async () => {
    const role = `shop_nc_${process.pid}`;
    const db = `${role}_db`;
    await withSql(suite.cluster.url(), async (sql) => {
      await sql.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD 'pw-nc'`);
      await sql.unsafe(`CREATE DATABASE ${db} OWNER ${role}`);
    });
    const t = await tenant({ seed: false });
    const url = `postgresql://${role}:pw-nc@${suite.cluster.host}:${suite.cluster.port}/${db}`;
    t.setEnv({ DATABASE_URL: url });
    expect((await run(t, ['db', 'migrate'])).exitCode).toBe(ExitCode.OK);
    expect((await run(t, ['--no-alert', 'backup', 'create'])).exitCode).toBe(ExitCode.OK);

    const said = new RegExp(`the role ${role} cannot create databases: grant CREATEDB or set BACKUP_DRILL_ADMIN_URL`);
    const drill = await run(t, ['--no-alert', 'backup', 'drill']);
    expect(drill.exitCode).toBe(ExitCode.CONFIG);
    expect(drill.stderr).toMatch(said);
    expect(drill.stderr).toMatch(new RegExp(`hint: as a superuser: ALTER ROLE ${role} CREATEDB`));
    const dry = await run(t, ['--no-alert', 'backup', 'restore', '--latest', '--new-db', `${role}_copy`, '--dry-run']);
    expect(dry.exitCode).toBe(ExitCode.CONFIG);
    expect(dry.stderr).toMatch(said);
    const pre = JSON.parse((await run(t, ['preflight', '--json'])).stdout) as { checks: { id: string; mark: string; fact: string }[] };
    expect(pre.checks.find((c) => c.id === 'drill')).toMatchObject({ mark: 'fail' });
    expect(pre.checks.find((c) => c.id === 'drill')!.fact).toMatch(said);
    expect(fs.readdirSync(path.join(t.dir, 'backups', 'local')).filter((f) => f.startsWith('pre-restore'))).toEqual([]);

    // A role that may: the drill runs as it; restore --new-db makes the database for the shop's role.
    t.setEnv({ BACKUP_DRILL_ADMIN_URL: suite.cluster.url().reveal() });
    expect((await run(t, ['--no-alert', 'backup', 'drill'])).exitCode).toBe(ExitCode.OK);
    const pre2 = JSON.parse((await run(t, ['preflight', '--json'])).stdout) as { checks: { id: string; mark: string; fact: string }[] };
    expect(pre2.checks.find((c) => c.id === 'drill')).toMatchObject({ mark: 'ok' });
    expect(pre2.checks.find((c) => c.id === 'drill')!.fact).toMatch(/\(BACKUP_DRILL_ADMIN_URL\) may create databases/);
    expect(JSON.stringify(pre2)).not.toContain(suite.cluster.password.reveal());
    const copy = await run(t, ['--no-alert', 'backup', 'restore', '--latest', '--new-db', `${role}_copy`]);
    expect(copy.exitCode).toBe(ExitCode.OK);
    const owner = await withSql(
      suite.cluster.url(),
      async (sql) => (await sql<{ o: string }[]>`SELECT pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname = ${`${role}_copy`}`)[0]?.o,
    );
    expect(owner).toBe(role);
  });
});
