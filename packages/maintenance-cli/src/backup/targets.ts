import {
  type Config,
  ConfigError,
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

/** A connection to the server's maintenance database (to create and drop databases). */
export function adminSql(target: ResolvedTarget, config: Config): Sql {
  const base = config.databaseUrl ?? target.url;
  const baseDb = parseDatabaseUrl(base).database;
  // Connect to DATABASE_URL's own database unless that is the target itself.
  const db = baseDb === target.database ? 'postgres' : baseDb;
  return createSql(withDatabase(target.url, db), { max: 1, applicationName: 'botctl admin' });
}

export async function createDatabase(sql: Sql, name: string): Promise<void> {
  try {
    await sql.unsafe(`CREATE DATABASE ${quoteIdent(name)}`);
  } catch (error) {
    throw describeDbError(error, `cannot create database "${name}"`);
  }
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
