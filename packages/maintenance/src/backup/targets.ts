import {
  BotctlError,
  type Config,
  ConfigError,
  ExitCode,
  createSql,
  describeDbError,
  isSafeDatabaseName,
  libpqEnv,
  parseDatabaseUrl,
  quoteIdent,
  redactDatabaseUrl,
  Secret,
  type Sql,
  UsageError,
  withDatabase,
} from '@botctl/core';

/** Where a restore or drill goes. */
export type TargetSpec = { kind: 'default' } | { kind: 'url'; value: string } | { kind: 'new'; name: string };

export interface ResolvedTarget {
  /** Full connection (password included): only for our own connections and child environments. */
  url: Secret;
  database: string;
  display: string;
  /** The database does not exist yet and will be created. */
  create: boolean;
}

/**
 * `--target-db` takes a database name (same server and user as DATABASE_URL) or a URL without a
 * password: a password on the command line would be visible to every user through `ps`. The
 * password then comes from PGPASSWORD, or from DATABASE_URL when host, port and user match.
 */
export function resolveTarget(config: Config, spec: TargetSpec, env: Record<string, string | undefined>): ResolvedTarget {
  const base = config.databaseUrl;
  if (!base) throw new ConfigError(['DATABASE_URL is not set (needed to know the PostgreSQL server)']);
  if (spec.kind === 'default') {
    const info = parseDatabaseUrl(base);
    return { url: base, database: info.database, display: redactDatabaseUrl(base), create: false };
  }
  if (spec.kind === 'new') {
    if (!isSafeDatabaseName(spec.name)) {
      throw new UsageError(`--new-db ${JSON.stringify(spec.name)} is not a plain database name`, { hint: 'use letters, digits, _ and -' });
    }
    const url = withDatabase(base, spec.name);
    return { url, database: spec.name, display: redactDatabaseUrl(url), create: true };
  }
  const value = spec.value;
  if (!/^postgres(ql)?:\/\//.test(value)) {
    if (!isSafeDatabaseName(value)) throw new UsageError(`--target-db ${JSON.stringify(value)} is neither a URL nor a plain database name`);
    const url = withDatabase(base, value);
    return { url, database: value, display: redactDatabaseUrl(url), create: false };
  }
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError('--target-db is not a valid URL');
  }
  if (u.password) {
    throw new UsageError('--target-db must not contain a password: command lines are visible to every user (ps)', {
      hint: 'leave the password out; botctl takes it from PGPASSWORD, or from DATABASE_URL for the same host, port and user',
    });
  }
  const baseInfo = parseDatabaseUrl(base);
  const port = u.port ? Number(u.port) : 5432;
  const user = decodeURIComponent(u.username) || baseInfo.user;
  if (!u.username) u.username = encodeURIComponent(user);
  const pw = env.PGPASSWORD ?? (u.hostname === baseInfo.host && port === baseInfo.port && user === baseInfo.user ? baseInfo.password?.reveal() : undefined);
  if (pw) u.password = encodeURIComponent(pw);
  const url = new Secret(u.toString());
  return { url, database: parseDatabaseUrl(url).database, display: redactDatabaseUrl(url), create: false };
}

/**
 * The drill's scratch database, as a target. With BACKUP_DRILL_ADMIN_URL it is made, restored,
 * checked and dropped by that role (on its server); without it, by DATABASE_URL's role.
 */
export function scratchTarget(config: Config, name: string, env: Record<string, string | undefined>): ResolvedTarget {
  const admin = config.backup.drillAdminUrl;
  if (!admin) return resolveTarget(config, { kind: 'new', name }, env);
  const url = withDatabase(admin, name);
  return { url, database: name, display: redactDatabaseUrl(url), create: true };
}

/**
 * A connection to the server's maintenance database (to create and drop databases): as
 * BACKUP_DRILL_ADMIN_URL's role when a database is to be created and that is set, else as the
 * target's own role.
 */
export function adminSql(target: ResolvedTarget, config: Config): Sql {
  const admin = target.create ? config.backup.drillAdminUrl : undefined;
  const base = admin ?? config.databaseUrl ?? target.url;
  const baseDb = parseDatabaseUrl(base).database;
  // Connect to that URL's own database unless that is the target itself.
  const db = baseDb === target.database ? 'postgres' : baseDb;
  return createSql(withDatabase(admin ?? target.url, db), { max: 1, applicationName: 'botctl admin' });
}

/** Whether the connected role may create databases (CREATEDB or superuser), and its name. */
export async function roleCanCreateDatabases(sql: Sql): Promise<{ role: string; can: boolean }> {
  const [r] = await sql<
    { role: string; can: boolean }[]
  >`SELECT current_user AS role, (rolcreatedb OR rolsuper) AS can FROM pg_roles WHERE rolname = current_user`;
  return { role: r?.role ?? '?', can: Boolean(r?.can) };
}

/** The one message for a role that may not create databases (drill, restore --new-db, preflight). */
export function cannotCreateDatabases(role: string, config: Config): BotctlError {
  const admin = Boolean(config.backup.drillAdminUrl);
  return new BotctlError(
    'CONFIG',
    ExitCode.CONFIG,
    `the role ${role} cannot create databases: grant CREATEDB or ${admin ? 'give BACKUP_DRILL_ADMIN_URL a role that can' : 'set BACKUP_DRILL_ADMIN_URL'} (backup drill and restore --new-db create one)`,
    {
      hint: `as a superuser: ALTER ROLE ${/^[a-z_][a-z0-9_]*$/.test(role) ? role : quoteIdent(role)} CREATEDB; or set BACKUP_DRILL_ADMIN_URL=postgresql://ADMIN@HOST:PORT/postgres in the env file (docs/configuration.md)`,
    },
  );
}

/**
 * CREATE DATABASE, as `sql`'s role; `owner` makes another role its owner (restore --new-db
 * through BACKUP_DRILL_ADMIN_URL: the shop's role then restores into its own database).
 */
export async function createDatabase(sql: Sql, name: string, config?: Config, opts: { owner?: string } = {}): Promise<void> {
  try {
    await sql.unsafe(`CREATE DATABASE ${quoteIdent(name)}${opts.owner ? ` OWNER ${quoteIdent(opts.owner)}` : ''}`);
  } catch (error) {
    if ((error as { code?: string }).code === '42501' && config) {
      const { role, can } = await roleCanCreateDatabases(sql).catch(() => ({ role: '?', can: false }));
      if (!can || !opts.owner) throw cannotCreateDatabases(role, config);
      throw new BotctlError('CONFIG', ExitCode.CONFIG, `the role ${role} (BACKUP_DRILL_ADMIN_URL) cannot create a database owned by ${opts.owner}`, {
        hint: `make it a member of that role (GRANT ${quoteIdent(opts.owner)} TO ${quoteIdent(role)}) or a superuser`,
      });
    }
    throw describeDbError(error, `cannot create database "${name}"`);
  }
}

/** The owner a database made for DATABASE_URL's role gets when BACKUP_DRILL_ADMIN_URL makes it. */
export function ownerForNewDatabase(config: Config, target: ResolvedTarget): string | undefined {
  if (!config.backup.drillAdminUrl || !target.create) return undefined;
  const who = parseDatabaseUrl(target.url).user;
  return who && who !== parseDatabaseUrl(config.backup.drillAdminUrl).user ? who : undefined;
}

/** Drops a database even with sessions left in it (the drill's scratch database). */
export async function dropDatabase(sql: Sql, name: string): Promise<void> {
  await sql.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

export function targetEnv(target: ResolvedTarget): Record<string, string> {
  return libpqEnv(parseDatabaseUrl(target.url));
}

/** A libpq conninfo naming only the database (host, user, password travel in the environment). */
export function dbnameConninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
