import fs from 'node:fs';
import path from 'node:path';
import { createSql, listUserTables, type Secret, tableChecksum } from '@botctl/core';
import { runBotctl, type Tenant } from '@botctl/test-utils';
import { useCluster } from './harness.js';

let t: Tenant;

const suite = useCluster('botctl-migrate-');

beforeAll(async () => {
  t = await suite.tenant({ scale: 3 });
});

/** Every table's row count and content checksum (order-independent). */
async function snapshot(url: Secret): Promise<Record<string, string>> {
  const sql = createSql(url, { max: 1 });
  try {
    const out: Record<string, string> = {};
    for (const tb of await listUserTables(sql)) {
      if (tb.table === 'schema_migrations') continue;
      out[`${tb.schema}.${tb.table}`] = await tableChecksum(sql, tb);
    }
    return out;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

describe('db export / db import (migration to a new server)', () => {
  for (const format of ['sql', 'csv'] as const) {
    it(`round-trips the shop through ${format}: the import equals the source, table by table`, async () => {
      const out = path.join(suite.work, `export-${format}`);
      const exp = await runBotctl(['--env-file', t.envFile, '--json', 'db', 'export', '--format', format, '--out', out], { cwd: t.dir });
      expect(exp.stderr).toBe('');
      expect(exp.exitCode).toBe(0);
      const m = JSON.parse(exp.stdout);
      expect(m.tables.find((x: { table: string }) => x.table === 'orders').rows).toBeGreaterThan(0);
      expect(fs.readdirSync(out)).toEqual(format === 'sql' ? ['dump.sql', 'manifest.json'] : expect.arrayContaining(['manifest.json', 'public.orders.csv']));
      if (format === 'csv') expect(fs.readFileSync(path.join(out, 'public.products.csv'), 'utf8').split('\n')[0]).toMatch(/^id,/);

      // The new server: an empty database.
      const newUrl = await suite.cluster.createDatabase(`moved_${format}`);
      const newEnv = path.join(suite.work, `new-${format}.env`);
      fs.writeFileSync(newEnv, `DATABASE_URL=${newUrl.reveal()}\n`, { mode: 0o600 });
      const imp = await runBotctl(['--env-file', newEnv, '--json', 'db', 'import', out], { cwd: suite.work });
      expect(imp.stderr).toBe('');
      expect(imp.exitCode).toBe(0);
      expect(JSON.parse(imp.stdout).tables.every((x: { expected: number; imported: number }) => x.expected === x.imported)).toBe(true);
      expect(await snapshot(newUrl)).toEqual(await snapshot(t.databaseUrl));
    });
  }

  it('imports only into an empty database, and refuses a tampered or unfinished export', async () => {
    const out = path.join(suite.work, 'export-refuse');
    expect((await runBotctl(['--env-file', t.envFile, 'db', 'export', '--format', 'csv', '--out', out], { cwd: t.dir })).exitCode).toBe(0);
    // Into the source itself (not empty): refused, nothing touched.
    const before = await snapshot(t.databaseUrl);
    const busy = await runBotctl(['--env-file', t.envFile, 'db', 'import', out], { cwd: t.dir });
    expect(busy.exitCode).toBe(14);
    expect(busy.stderr).toMatch(/is not empty .*import only goes into an empty database/);
    expect(await snapshot(t.databaseUrl)).toEqual(before);
    // Exporting into a non-empty folder is refused too.
    expect((await runBotctl(['--env-file', t.envFile, 'db', 'export', '--format', 'csv', '--out', out], { cwd: t.dir })).exitCode).toBe(14);

    const fresh = await suite.cluster.createDatabase('moved_tampered');
    const envFile = path.join(suite.work, 'fresh.env');
    fs.writeFileSync(envFile, `DATABASE_URL=${fresh.reveal()}\n`);
    fs.appendFileSync(path.join(out, 'public.orders.csv'), '999999,broken\n');
    const tampered = await runBotctl(['--env-file', envFile, 'db', 'import', out], { cwd: suite.work });
    expect(tampered.exitCode).toBe(8);
    expect(tampered.stderr).toMatch(/public\.orders\.csv .* differs from the manifest/);
    fs.rmSync(path.join(out, 'manifest.json'));
    const unfinished = await runBotctl(['--env-file', envFile, 'db', 'import', out], { cwd: suite.work });
    expect(unfinished.exitCode).toBe(8);
    expect(unfinished.stderr).toMatch(/no readable manifest\.json/);
  });
});
