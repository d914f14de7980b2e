import fs from 'node:fs';
import path from 'node:path';
import { writeHeartbeat } from '@botctl/core';
import {
  FAKE_OWNER_TOKEN,
  FAKE_SHOP_TOKEN,
  type FakeBotApi,
  runBotctl,
  startFakeBotApi,
  type Tenant,
  writeFakePgDump,
  fakeTelegramEnv,
} from '@botctl/test-utils';
import { useCluster } from './harness.js';

let api: FakeBotApi;
let t: Tenant;

const suite = useCluster('botctl-preflight-');

beforeAll(async () => {
  api = await startFakeBotApi({ tokens: [FAKE_SHOP_TOKEN, FAKE_OWNER_TOKEN] });
  t = await suite.tenant({
    extraEnv: {
      ...fakeTelegramEnv(api, '7100'),
      PAKASIR_PROJECT_SLUG: 'toko',
      PAKASIR_API_KEY: 'pakasir-key-for-tests',
      HEALTH_SKIP_CHECKS: 'cpu,memory,disk,backup_drill',
    },
  });
});

afterAll(async () => {
  await api?.close();
});

const beat = () =>
  writeHeartbeat(path.join(t.dir, 'state'), { service: 'bot', version: '1', started_at: new Date().toISOString(), at: new Date().toISOString() });

async function preflight(): Promise<{ exitCode: number; marks: Record<string, string>; facts: Record<string, string> }> {
  const r = await runBotctl(['--env-file', t.envFile, '--json', 'preflight'], { cwd: t.dir });
  const j = JSON.parse(r.stdout) as { checks: { id: string; mark: string; fact: string }[] };
  return {
    exitCode: r.exitCode,
    marks: Object.fromEntries(j.checks.map((c) => [c.id, c.mark])),
    facts: Object.fromEntries(j.checks.map((c) => [c.id, c.fact])),
  };
}

/** Runs preflight with one prerequisite taken away, then puts it back. */
async function without(change: Record<string, string | undefined>, prepare?: () => void): Promise<Awaited<ReturnType<typeof preflight>>> {
  const saved = t.env();
  prepare?.();
  t.setEnv(change);
  try {
    return await preflight();
  } finally {
    t.setEnv(Object.fromEntries(Object.keys(change).map((k) => [k, saved[k]])));
  }
}

describe('botctl preflight', () => {
  it('fails on each missing prerequisite, and passes once everything is there', async () => {
    // Nothing done yet: no backup, no bot.
    const fresh = await preflight();
    expect(fresh.exitCode).toBe(1);
    expect(fresh.marks).toMatchObject({
      config: 'ok',
      database: 'ok',
      pg_dump: 'ok',
      directories: 'ok',
      backup: 'fail',
      offsite: 'ok',
      alert: 'ok',
      health: 'fail',
    });

    expect((await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite'], { cwd: t.dir })).exitCode).toBe(0);
    expect((await preflight()).marks.backup).toBe('fail'); // made, not yet verified
    expect((await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'verify', '--latest'], { cwd: t.dir })).exitCode).toBe(0);
    await beat();
    const ready = await preflight();
    expect(ready.marks).toEqual({
      config: 'ok',
      database: 'ok',
      pg_dump: 'ok',
      compression: 'ok',
      drill: 'ok',
      directories: 'ok',
      backup: 'ok',
      offsite: 'ok',
      alert: 'ok',
      health: 'ok',
    });
    expect(ready.exitCode).toBe(0);
    expect(api.calls.some((c) => c.token === FAKE_OWNER_TOKEN && /Preflight .* tes alert sebelum go-live/.test(String(c.params.text)))).toBe(true);

    // One prerequisite at a time.
    const noKey = await without({ DATA_ENCRYPTION_KEY: undefined, PAKASIR_API_KEY: undefined });
    expect(noKey.marks.config).toBe('fail');
    expect(noKey.facts.config).toMatch(/DATA_ENCRYPTION_KEY, PAKASIR_PROJECT_SLUG \/ PAKASIR_API_KEY/);
    expect(noKey.exitCode).toBe(1);

    const url = t.env().DATABASE_URL!;
    const down = await without({ DATABASE_URL: url.replace(/:(\d+)\//, ':1/') });
    expect(down.marks).toMatchObject({ database: 'fail', pg_dump: 'fail' });
    expect(down.facts.database).not.toContain(url);

    const emptyDb = await suite.cluster.createDatabase('preflight_empty');
    const unmigrated = await without({ DATABASE_URL: emptyDb.reveal() });
    expect(unmigrated.marks.database).toBe('fail');
    expect(unmigrated.facts.database).toMatch(/migration\(s\) pending: 0001_shop_schema/);

    const oldBin = path.join(suite.work, 'old-pg');
    fs.mkdirSync(oldBin);
    writeFakePgDump(oldBin, { kind: 'old-version', version: '11.22' });
    const oldDump = await without({ PG_BIN_DIR: oldBin });
    expect(oldDump.marks.pg_dump).toBe('fail');
    expect(oldDump.facts.pg_dump).toMatch(/is 11\.22, server is 1\d/);

    fs.writeFileSync(path.join(t.dir, 'not-a-dir'), 'x');
    const unwritable = await without({ BOT_STATE_DIR: 'not-a-dir/state' });
    expect(unwritable.marks.directories).toBe('fail');
    expect(unwritable.facts.directories).toMatch(/^BOT_STATE_DIR /);

    const noOffsite = await without({ BACKUP_OFFSITE_DIR: 'not-a-dir/offsite' });
    expect(noOffsite.marks.offsite).toBe('fail');

    api.forChat(7100, { status: 403 });
    const blocked = await preflight();
    api.forChat(7100, undefined);
    expect(blocked.marks.alert).toBe('fail');
    expect(blocked.facts.alert).toMatch(/7100 \(the owner has not pressed \/start/);

    const badOwnerBot = await without({ OWNER_BOT_TOKEN: '7099999999:AAHnotAKnownTokenForTests_ddddddddd' });
    expect(badOwnerBot.marks.alert).toBe('fail');
    expect(badOwnerBot.facts.alert).toMatch(/7100 \(.*OWNER_BOT_TOKEN/);

    fs.rmSync(path.join(t.dir, 'state', 'heartbeat-bot.json'));
    const noBot = await preflight();
    expect(noBot.marks.health).toBe('fail');
    expect(noBot.facts.health).toMatch(/bot_process: no heartbeat/);
  });
});
