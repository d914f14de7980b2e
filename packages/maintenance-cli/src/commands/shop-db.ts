import { BotctlError, createSql, describeDbError, ExitCode, pendingMigrations, requireSettings, type Sql } from '@botctl/core';
import type { CliContext } from '../cli/context.js';

/**
 * Runs `fn` with a connection to the shop's database (DATABASE_URL), closed afterwards; a database
 * error becomes one line naming `name`. `currentSchema`: refuse (exit 14) while migrations are
 * pending, for commands that use the newest columns.
 */
export async function withShopDb<T>(ctx: CliContext, name: string, fn: (sql: Sql) => Promise<T>, opts: { currentSchema?: boolean } = {}): Promise<T> {
  requireSettings(ctx.config, ['database']);
  const sql = createSql(ctx.config.databaseUrl!, { max: 2, applicationName: `botctl ${name}` });
  try {
    if (opts.currentSchema) {
      const pending = await pendingMigrations(sql);
      if (pending.length) {
        throw new BotctlError('SCHEMA_BEHIND', ExitCode.REFUSED, `the shop database is missing migrations ${pending.map((m) => m.name).join(', ')}`, {
          hint: 'apply them with `botctl db migrate` (the bot also does at start-up)',
        });
      }
    }
    return await fn(sql);
  } catch (error) {
    if (error instanceof BotctlError) throw error;
    throw describeDbError(error, `${name} failed`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
