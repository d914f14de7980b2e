import fs from 'node:fs';
import path from 'node:path';
import {
  addStock,
  applyCatalog,
  BotctlError,
  type CatalogChange,
  ConfigError,
  ExitCode,
  exportCatalog,
  FieldCipher,
  listStockItems,
  NotFoundError,
  planCatalog,
  type Sql,
  stockCounts,
  stockLines,
  UsageError,
  writeFileAtomic,
} from '@botctl/core';
import { type CatalogFormat, catalogFormatOf, readCatalog, writeCatalog } from '@botctl/maintenance';
import { Option, type Command } from 'commander';
import type { CliContext } from '../cli/context.js';
import { withShopDb } from './shop-db.js';
import type { Run } from './types.js';

/** The shop database at the current schema (the catalog's columns are in the newest migrations). */
const withCatalogDb = <T>(ctx: CliContext, name: string, fn: (sql: Sql) => Promise<T>) => withShopDb(ctx, name, fn, { currentSchema: true });

function readInput(ctx: CliContext, file: string): string {
  try {
    return file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(path.resolve(ctx.io.cwd, file), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new NotFoundError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? (error as Error).message)}`, {
      hint: 'give the path of the file (or - for standard input)',
    });
  }
}

const formatOption = () => new Option('--format <format>', 'csv or json (default: from the file name; csv otherwise)').choices(['csv', 'json']);

function describeChange(c: CatalogChange): string {
  const e = c.entry;
  if (c.action === 'create') return `+ ${e.code}  ${e.name}  Rp${e.price}${e.active ? '' : '  (inactive)'}${e.terms ? '  (SNK)' : ''}`;
  if (c.action === 'update') return `~ ${e.code}  ${c.fields.join(', ')}`;
  return `= ${e.code}`;
}

/**
 * `botctl catalog import|export` and `botctl stock add|list`: the owner stocks the shop from the
 * host. The bot reads products and stock live, so a change is seen at once.
 */
export function registerCatalog(cmd: Command, run: Run): void {
  cmd
    .command('import')
    .argument('<file>', 'CSV (header: code,name,price,description,category,terms,active) or JSON; - for standard input')
    .description('create or update products from a file, matched on the code; all of it or nothing (products not in it are left alone)')
    .addOption(formatOption())
    .option('--dry-run', 'show what would change and change nothing')
    .action(
      run<{ format?: CatalogFormat; dryRun?: boolean }>(async (ctx, opts, args) => {
        const file = args[0]!;
        const format = opts.format ?? (file === '-' ? 'csv' : catalogFormatOf(file));
        const read = readCatalog(readInput(ctx, file), format);
        if (read.problems.length) {
          const lines = read.problems.map((p) => `${file} line ${p.line}: ${p.message}`);
          ctx.emit({ ok: false, problems: read.problems }, () => lines.map((l) => `${ctx.style.red('✗')} ${l}`).join('\n'));
          throw new BotctlError('CATALOG_INVALID', ExitCode.USAGE, `${read.problems.length} problem(s) in ${file}: nothing was imported`, {
            hint: 'fix the lines above and import again; docs/catalog.md describes the columns',
          });
        }
        await withCatalogDb(ctx, 'catalog import', async (sql) => {
          const changes = opts.dryRun ? await planCatalog(sql, read.entries) : await applyCatalog(sql, read.entries);
          const count = (a: CatalogChange['action']) => changes.filter((c) => c.action === a).length;
          const summary = `${count('create')} created, ${count('update')} updated, ${count('unchanged')} unchanged`;
          if (!opts.dryRun) ctx.log.info(`[catalog] import ${path.basename(file)}: ${summary}`);
          ctx.emit(
            {
              ok: true,
              dry_run: opts.dryRun === true,
              created: count('create'),
              updated: count('update'),
              unchanged: count('unchanged'),
              changes: changes.map((c) => ({ code: c.entry.code, action: c.action, ...(c.action === 'update' ? { fields: c.fields } : {}) })),
            },
            () =>
              [...changes.filter((c) => c.action !== 'unchanged').map(describeChange), `${opts.dryRun ? 'Would be: ' : ''}${summary}.`]
                .filter(Boolean)
                .join('\n'),
          );
        });
      }),
    );

  cmd
    .command('export')
    .description('write every product (inactive ones too) as CSV or JSON; importing the file again changes nothing')
    .option('--out <file>', 'write to this file (default: standard output)')
    .addOption(formatOption())
    .action(
      run<{ out?: string; format?: CatalogFormat }>(async (ctx, opts) => {
        const format = opts.format ?? (opts.out ? catalogFormatOf(opts.out) : 'csv');
        await withCatalogDb(ctx, 'catalog export', async (sql) => {
          const text = writeCatalog(await exportCatalog(sql), format);
          if (!opts.out) {
            ctx.io.stdout.write(text);
            return;
          }
          const out = path.resolve(ctx.io.cwd, opts.out);
          await writeFileAtomic(out, text, 0o640);
          ctx.emit({ ok: true, file: out, format }, () => `Wrote ${ctx.displayPath(out)}.`);
        });
      }),
    );
}

export function registerStock(cmd: Command, run: Run): void {
  cmd
    .command('add')
    .argument('<code>', 'the product code')
    .argument('<file>', 'one stock item per line (an account, a voucher code, a link); - for standard input')
    .description('add stock items, encrypted with DATA_ENCRYPTION_KEY as delivery reads them; lines already stocked or repeated are skipped and counted')
    .action(
      run(async (ctx, _opts, args) => {
        const [code, file] = args as [string, string];
        const lines = stockLines(readInput(ctx, file));
        if (lines.length === 0) throw new UsageError(`${file} holds no stock items`, { hint: 'one item per line; blank lines are skipped' });
        const cipher = FieldCipher.fromSecret(ctx.config.dataEncryptionKey);
        await withCatalogDb(ctx, 'stock add', async (sql) => {
          const r = await addStock(sql, cipher, code, lines);
          ctx.log.info(`[stock] add ${code}: ${r.added} added, ${r.already_stocked} already stocked, ${r.duplicates_in_file} repeated in the file`);
          ctx.emit({ ok: true, ...r }, () => {
            const skipped = [
              r.already_stocked ? `${r.already_stocked} already stocked` : '',
              r.duplicates_in_file ? `${r.duplicates_in_file} repeated in the file` : '',
            ].filter(Boolean);
            return `${code}: ${r.added} added${skipped.length ? ` (skipped: ${skipped.join(', ')})` : ''}; ${r.available} available now.`;
          });
        });
      }),
    );

  cmd
    .command('list')
    .argument('[code]', 'one product (default: counts for every product)')
    .option('--reveal', "also print each item's secret (for the product given)")
    .description('stock counts per product (available, reserved, sold); the items of one product, their secrets only with --reveal')
    .action(
      run<{ reveal?: boolean }>(async (ctx, opts, args) => {
        const code = args[0];
        if (opts.reveal && !code) throw new UsageError('--reveal needs a product code', { hint: 'botctl stock list CODE --reveal' });
        let cipher: FieldCipher | undefined;
        if (opts.reveal) {
          if (!ctx.config.dataEncryptionKey) throw new ConfigError(['DATA_ENCRYPTION_KEY is not set: the secrets cannot be decrypted']);
          cipher = FieldCipher.fromSecret(ctx.config.dataEncryptionKey);
        }
        await withCatalogDb(ctx, 'stock list', async (sql) => {
          const counts = await stockCounts(sql, code);
          const items = code ? await listStockItems(sql, cipher, code, { reveal: opts.reveal === true }) : undefined;
          if (opts.reveal) ctx.log.info(`[stock] list ${code} --reveal: ${items?.length ?? 0} secret(s) shown`);
          ctx.emit({ ok: true, products: counts, ...(items ? { items } : {}) }, () => {
            const table = counts.map(
              (c) =>
                `${c.code.padEnd(16)} ${String(c.available).padStart(6)} available ${String(c.reserved).padStart(5)} reserved ${String(c.sold).padStart(6)} sold  ${c.name}${c.active ? '' : ' (inactive)'}`,
            );
            const shown = opts.reveal && items ? items.map((i) => `${i.id.padStart(6)} ${i.status.padEnd(9)} ${i.secret ?? ''}`) : [];
            return [...table, ...shown].join('\n') || 'No products.';
          });
        });
      }),
    );
}
