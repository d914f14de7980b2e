import fs from 'node:fs';
import path from 'node:path';
import { createSql, FieldCipher, Secret, STOCK_SECRET_CONTEXT } from '@botctl/core';
import { botctl, useCluster } from './harness.js';

// botctl catalog import/export and stock add/list against a real PostgreSQL.

const suite = useCluster('botctl-catalog-');

/** An empty shop at the current schema. */
async function shop() {
  const t = await suite.tenant({ seed: false });
  expect((await botctl(t, ['db', 'migrate'])).exitCode).toBe(0);
  return t;
}

const CSV = [
  'code,name,price,description,category,terms,active',
  'NFX1,Netflix 1 Bulan,35000,"Akun premium, 1 profil",Streaming,"Jangan ganti password.\nKirim bukti login.",true',
  'SPT1,Spotify 1 Bulan,20000,Akun individu,Musik,,ya',
  'OLD1,Produk Lama,10000,,Lainnya,,false',
  '',
].join('\n');

describe('botctl catalog', () => {
  it('imports a CSV (dry run first), idempotent on the code; export gives a file that imports as no change', async () => {
    const t = await suite.tenant({ seed: false });
    const file = path.join(t.dir, 'katalog.csv');
    fs.writeFileSync(file, CSV);
    // A database the bot has not migrated yet: refused, with the command that fixes it.
    const behind = await botctl(t, ['catalog', 'import', file]);
    expect(behind.exitCode).toBe(14);
    expect(behind.stderr).toMatch(
      /^botctl: error: the shop database is missing migrations 0001_shop_schema, .*0005_catalog_admin[^\n]*\nhint: apply them with `botctl db migrate`/,
    );
    expect((await botctl(t, ['db', 'migrate'])).exitCode).toBe(0);

    const dry = await botctl(t, ['--json', 'catalog', 'import', file, '--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dry_run: true, created: 3, updated: 0, unchanged: 0 });
    const sql = createSql(t.databaseUrl, { max: 1 });
    try {
      expect((await sql`SELECT count(*)::int AS n FROM products`)[0]!.n).toBe(0);

      const first = await botctl(t, ['catalog', 'import', file]);
      expect(first.exitCode).toBe(0);
      expect(first.stdout).toMatch(/^\+ NFX1 {2}Netflix 1 Bulan {2}Rp35000 {2}\(SNK\)$/m);
      expect(first.stdout).toMatch(/3 created, 0 updated, 0 unchanged\.$/m);
      const [nfx] = await sql<{ description: string; category: string; content: string; is_active: boolean }[]>`
        SELECT p.description, p.category, t.content, p.is_active FROM products p JOIN product_terms t ON t.product_id = p.id WHERE p.code = 'NFX1'`;
      expect(nfx).toEqual({
        description: 'Akun premium, 1 profil',
        category: 'Streaming',
        content: 'Jangan ganti password.\nKirim bukti login.',
        is_active: true,
      });
      expect((await sql`SELECT is_active FROM products WHERE code = 'OLD1'`)[0]!.is_active).toBe(false);

      // Again: nothing changes. A changed price and removed SNK: one update, named.
      expect(JSON.parse((await botctl(t, ['--json', 'catalog', 'import', file])).stdout)).toMatchObject({ created: 0, updated: 0, unchanged: 3 });
      fs.writeFileSync(file, CSV.replace('35000', '39000').replace('"Jangan ganti password.\nKirim bukti login."', ''));
      const changed = await botctl(t, ['catalog', 'import', file]);
      expect(changed.stdout).toMatch(/^~ NFX1 {2}price, terms$/m);
      expect((await sql`SELECT count(*)::int AS n FROM product_terms`)[0]!.n).toBe(0);

      // Export → import: no change, in CSV and in JSON.
      for (const out of ['export.csv', 'export.json']) {
        const exported = await botctl(t, ['catalog', 'export', '--out', out]);
        expect(exported.exitCode).toBe(0);
        const back = await botctl(t, ['--json', 'catalog', 'import', path.join(t.dir, out)]);
        expect(JSON.parse(back.stdout)).toMatchObject({ created: 0, updated: 0, unchanged: 3 });
      }
      const json = JSON.parse(fs.readFileSync(path.join(t.dir, 'export.json'), 'utf8')) as { code: string; price: number; active: boolean }[];
      expect(json.map((p) => [p.code, p.price, p.active])).toEqual([
        ['NFX1', 39000, true],
        ['SPT1', 20000, true],
        ['OLD1', 10000, false],
      ]);
      const stdout = await botctl(t, ['catalog', 'export']);
      expect(stdout.stdout.split('\n')[0]).toBe('code,name,price,description,category,terms,active');
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('reports every bad row with its line number and imports nothing', async () => {
    const t = await shop();
    const file = path.join(t.dir, 'bad.csv');
    fs.writeFileSync(
      file,
      [
        'code,name,price,active,colour',
        'OK1,Bagus,1000,true,',
        'BAD 1,Spasi,1000,true,',
        'OK2,,1000,true,',
        'OK3,Harga,"Rp15.000",true,',
        'OK1,Lagi,1000,maybe,',
        '',
      ].join('\n'),
    );
    const r = await botctl(t, ['catalog', 'import', file]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      `✗ ${file} line 1: unknown column "colour" (columns: code, name, price, description, category, terms, active)`,
      `✗ ${file} line 3: code "BAD 1" must be letters, digits, - and _ (at most 32)`,
      `✗ ${file} line 4: name is empty`,
      `✗ ${file} line 5: price "Rp15.000" must be a whole number of rupiah above 0 (15000, no dots or "Rp")`,
      `✗ ${file} line 6: active "maybe" must be true or false`,
      `✗ ${file} line 6: code "OK1" is already on line 2`,
    ]);
    expect(r.stderr).toMatch(/^botctl: error: 6 problem\(s\) in .*bad\.csv: nothing was imported\nhint: /);
    const sql = createSql(t.databaseUrl, { max: 1 });
    try {
      expect((await sql`SELECT count(*)::int AS n FROM products`)[0]!.n).toBe(0);
    } finally {
      await sql.end({ timeout: 5 });
    }
    const missing = await botctl(t, ['catalog', 'import', 'nope.csv']);
    expect(missing.exitCode).toBe(12);
    expect(missing.stderr).toMatch(/^botctl: error: cannot read nope\.csv: no such file\nhint: /);
  });
});

describe('botctl stock', () => {
  it('adds items encrypted as delivery reads them, skips repeats and stocked ones with counts, lists counts, reveals only when asked', async () => {
    const t = await shop();
    fs.writeFileSync(path.join(t.dir, 'k.csv'), 'code,name,price\nVCR,Voucher Game,10000\n');
    expect((await botctl(t, ['catalog', 'import', 'k.csv'])).exitCode).toBe(0);
    const items = ['user1@mail.test:Rahasia#1', 'user2@mail.test:pass word 2', 'https://example.test/redeem?c=ABC&x=1'];
    fs.writeFileSync(path.join(t.dir, 'stok.txt'), `${items[0]}\r\n${items[1]}\n\n${items[0]}\n${items[2]}\n`);
    const add = await botctl(t, ['--json', 'stock', 'add', 'VCR', 'stok.txt']);
    expect(add.exitCode).toBe(0);
    expect(JSON.parse(add.stdout)).toEqual({ ok: true, code: 'VCR', added: 3, duplicates_in_file: 1, already_stocked: 0, available: 3 });
    for (const i of items) expect(add.stdout).not.toContain(i);

    // The same file again: everything already stocked.
    const again = await botctl(t, ['stock', 'add', 'VCR', 'stok.txt']);
    expect(again.stdout).toBe('VCR: 0 added (skipped: 3 already stocked, 1 repeated in the file); 3 available now.\n');

    const sql = createSql(t.databaseUrl, { max: 1 });
    try {
      // As delivery reads them: the field cipher under the stock column's context, exact lines.
      const cipher = FieldCipher.fromSecret(new Secret(t.dataKey));
      const rows = await sql<{ secret_enc: string }[]>`SELECT secret_enc FROM product_stock_items ORDER BY id`;
      expect(rows.map((r) => cipher.decryptText(r.secret_enc, STOCK_SECRET_CONTEXT))).toEqual(items);
      for (const r of rows) for (const i of items) expect(r.secret_enc).not.toContain(i);
    } finally {
      await sql.end({ timeout: 5 });
    }

    const list = await botctl(t, ['--json', 'stock', 'list', 'VCR']);
    const listed = JSON.parse(list.stdout) as { products: unknown[]; items: { secret?: string }[] };
    expect(listed.products).toEqual([{ code: 'VCR', name: 'Voucher Game', active: true, available: 3, reserved: 0, sold: 0 }]);
    expect(listed.items.every((i) => i.secret === undefined)).toBe(true);
    for (const i of items) expect(list.stdout).not.toContain(i);
    const revealed = await botctl(t, ['--json', 'stock', 'list', 'VCR', '--reveal']);
    expect((JSON.parse(revealed.stdout) as { items: { secret: string }[] }).items.map((i) => i.secret)).toEqual(items);
    // The secrets never reach the maintenance log.
    const logDir = path.join(t.dir, 'logs', 'maintenance');
    const log = fs
      .readdirSync(logDir)
      .map((f) => fs.readFileSync(path.join(logDir, f), 'utf8'))
      .join('');
    expect(log).toMatch(/\[stock\] add VCR: 3 added, 0 already stocked, 1 repeated in the file/);
    for (const i of items) expect(log).not.toContain(i);

    const unknown = await botctl(t, ['stock', 'add', 'NOPE', 'stok.txt']);
    expect(unknown.exitCode).toBe(12);
    expect(unknown.stderr).toMatch(/^botctl: error: no product with code "NOPE"\nhint: /);
    const reveal = await botctl(t, ['stock', 'list', '--reveal']);
    expect(reveal.exitCode).toBe(2);
  });
});
