import { BotctlError, createSql, describeDbError, ExitCode, FieldCipher, migrate, pendingMigrations, requireSettings, seedDemo } from '@botctl/core';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { exportDatabase, importDatabase } from '@botctl/maintenance';
import type { Run } from './types.js';

export function registerDb(cmd: Command, run: Run): void {
  const db = cmd;

  db.command('migrate')
    .description('apply pending schema migrations (idempotent; the bot also runs this at start-up)')
    .option('--dry-run', 'list pending migrations and change nothing')
    .action(
      run<{ dryRun?: boolean }>(async (ctx, opts) => {
        ctx.alertSubject = 'Migrasi database';
        requireSettings(ctx.config, ['database']);
        const sql = createSql(ctx.config.databaseUrl!, { max: 1, applicationName: 'botctl db migrate' });
        try {
          if (opts.dryRun) {
            const pending = (await pendingMigrations(sql)).map((m) => m.name);
            ctx.emit({ ok: true, dry_run: true, pending }, () =>
              pending.length ? `Pending: ${pending.join(', ')}` : 'Nothing to apply: the schema is current.',
            );
            return;
          }
          const r = await migrate(sql);
          if (r.applied.length) ctx.log.info(`Migrasi database: ${r.applied.join(', ')} (versi ${r.current})`);
          ctx.emit({ ok: true, applied: r.applied, version: r.current }, () =>
            r.applied.length ? `Applied ${r.applied.join(', ')}; schema version ${r.current}.` : `Nothing to apply: schema version ${r.current}.`,
          );
        } catch (error) {
          if (error instanceof BotctlError) throw error;
          throw describeDbError(error, 'migration failed');
        } finally {
          await sql.end({ timeout: 5 });
        }
      }),
    );

  db.command('seed-demo')
    .description('load the sample shop (products, encrypted stock, buyers, orders) into an empty, migrated database')
    .option('--scale <n>', 'multiply buyers, orders and deposits', '1')
    .option('--stock <n>', 'stock items per product', '25')
    .action(
      run<{ scale: string; stock: string }>(async (ctx, opts) => {
        requireSettings(ctx.config, ['database']);
        const scale = Number(opts.scale);
        const stock = Number(opts.stock);
        if (!Number.isInteger(scale) || scale < 1 || scale > 10_000 || !Number.isInteger(stock) || stock < 0 || stock > 100_000) {
          throw new BotctlError('USAGE', ExitCode.USAGE, '--scale must be 1..10000 and --stock 0..100000');
        }
        const cipher = FieldCipher.fromSecret(ctx.config.dataEncryptionKey);
        const sql = createSql(ctx.config.databaseUrl!, { max: 1, applicationName: 'botctl db seed-demo' });
        try {
          await migrate(sql);
          const r = await seedDemo(sql, { cipher, scale, stockPerProduct: stock });
          const out = {
            products: r.products,
            users: r.users,
            stock_items: r.stockItems,
            orders: r.orders,
            deposits: r.deposits,
            snk_submissions: r.snkSubmissions,
          };
          ctx.emit(
            { ok: true, ...out },
            () => `Sample shop loaded: ${r.products} products, ${r.stockItems} stock items, ${r.users} buyers, ${r.orders} orders, ${r.deposits} deposits.`,
          );
        } catch (error) {
          if (error instanceof BotctlError) throw error;
          if ((error as Error).message.includes('already has products')) {
            throw new BotctlError('REFUSED', ExitCode.REFUSED, 'the database already has products; seed-demo only fills an empty shop', {
              hint: 'point DATABASE_URL at a new, empty database',
            });
          }
          throw describeDbError(error, 'seed-demo failed');
        } finally {
          await sql.end({ timeout: 5 });
        }
      }),
    );

  db.command('export')
    .description('export the shop data for a move to another server (one consistent snapshot; the bot may keep running)')
    .addOption(new Option('--format <format>', 'sql: pg_dump plain SQL; csv: one CSV per table').choices(['sql', 'csv']).makeOptionMandatory())
    .requiredOption('--out <dir>', 'a new or empty folder (the export is NOT encrypted: keep it private, delete it after the move)')
    .action(
      run<{ format: 'sql' | 'csv'; out: string }>(async (ctx, opts) => {
        requireSettings(ctx.config, ['database']);
        const out = path.resolve(ctx.io.cwd, opts.out);
        const m = await exportDatabase({ config: ctx.config, redactor: ctx.redactor, now: ctx.clock.now() }, { format: opts.format, outDir: out });
        const rows = m.tables.reduce((a, t) => a + t.rows, 0);
        ctx.log.info(`Export database (${m.kind}) ke ${out}: ${m.tables.length} tabel, ${rows} baris`);
        ctx.emit(
          { ok: true, out_dir: out, ...m },
          () => `Exported ${m.tables.length} tables, ${rows} rows (${m.kind}) to ${ctx.displayPath(out)}; manifest.json lists counts and SHA-256.`,
        );
      }),
    );

  db.command('import')
    .description('import a `db export` folder into an EMPTY database (DATABASE_URL), checked against its manifest')
    .argument('<dir>', 'the export folder')
    .action(
      run(async (ctx, _opts, args) => {
        requireSettings(ctx.config, ['database']);
        const dir = path.resolve(ctx.io.cwd, args[0]!);
        const r = await importDatabase({ config: ctx.config, redactor: ctx.redactor, url: ctx.config.databaseUrl! }, dir);
        ctx.log.info(`Import database (${r.kind}) dari ${dir} ke ${r.database}: ${r.tables.length} tabel, ${r.rows} baris, cocok dengan manifest`);
        ctx.emit({ ok: true, ...r }, () => `Imported ${r.tables.length} tables, ${r.rows} rows into "${r.database}"; every count matches the manifest.`);
      }),
    );
}
