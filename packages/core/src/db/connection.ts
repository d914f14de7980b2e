import postgres from 'postgres';
import { ConfigError, DatabaseError } from '../errors.js';
import { Secret } from '../secret.js';

export interface ConnectionInfo {
  host: string;
  port: number;
  user: string;
  password: Secret | undefined;
  database: string;
  /** Query parameters (sslmode, ...) passed on to libpq. */
  params: Record<string, string>;
}

const LIBPQ_PARAM_ENV: Record<string, string> = {
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
};

export function parseDatabaseUrl(url: Secret | string): ConnectionInfo {
  const raw = url instanceof Secret ? url.reveal() : url;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(['DATABASE_URL must be a postgres:// or postgresql:// URL']);
  }
  const params: Record<string, string> = {};
  for (const [k, v] of u.searchParams) params[k] = v;
  // postgres://user@/db?host=/var/run/postgresql is the libpq way to name a socket directory.
  const host = params.host ?? (decodeURIComponent(u.hostname) || 'localhost');
  delete params.host;
  return {
    host,
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || 'postgres',
    password: u.password ? new Secret(decodeURIComponent(u.password)) : undefined,
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres',
    params,
  };
}

/** The URL for display: no password, ever. */
export function redactDatabaseUrl(url: Secret | string): string {
  const raw = url instanceof Secret ? url.reveal() : url;
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid DATABASE_URL>';
  }
}

/**
 * Environment for libpq tools (pg_dump, pg_restore, psql): the connection travels here and
 * never on the command line, where `ps` would show it to every user on the host.
 */
export function libpqEnv(info: ConnectionInfo, overrides: { database?: string } = {}): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: info.host,
    PGPORT: String(info.port),
    PGUSER: info.user,
    PGDATABASE: overrides.database ?? info.database,
    PGAPPNAME: 'botctl',
  };
  if (info.password) env.PGPASSWORD = info.password.reveal();
  for (const [k, v] of Object.entries(info.params)) {
    const name = LIBPQ_PARAM_ENV[k];
    if (name) env[name] = v;
  }
  if (!env.PGCONNECT_TIMEOUT) env.PGCONNECT_TIMEOUT = '10';
  return env;
}

/** A new URL for another database on the same server (same credentials). */
export function withDatabase(url: Secret, database: string): Secret {
  const u = new URL(url.reveal());
  u.pathname = `/${encodeURIComponent(database)}`;
  return new Secret(u.toString());
}

export type Sql = postgres.Sql;

export interface SqlOptions {
  max?: number;
  connectTimeoutSeconds?: number;
  idleTimeoutSeconds?: number;
  applicationName?: string;
  /** Called when a connection of the pool closes (the server went away, the session was terminated). */
  onClose?: () => void;
}

/** A postgres.js pool that is quiet (no NOTICE on the console) and fails fast. */
export function createSql(url: Secret, options: SqlOptions = {}): Sql {
  const info = parseDatabaseUrl(url);
  const ssl = info.params.sslmode;
  return postgres({
    host: info.host,
    port: info.port,
    user: info.user,
    password: info.password?.reveal(),
    database: info.database,
    max: options.max ?? 4,
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    idle_timeout: options.idleTimeoutSeconds ?? 30,
    onnotice: () => {},
    ssl: ssl === undefined || ssl === 'disable' ? false : ssl === 'require' || ssl === 'prefer' ? 'prefer' : (ssl as 'verify-full'),
    connection: { application_name: options.applicationName ?? 'botctl' },
    ...(options.onClose ? { onclose: options.onClose } : {}),
    debug: false,
  });
}

/**
 * Database errors worded for a person, without the URL or password: the server's own message
 * (which never includes the password) and what to check.
 */
export function describeDbError(error: unknown, what: string): DatabaseError {
  const e = error as { code?: string; message?: string; errno?: string };
  const code = e?.code ?? e?.errno;
  let hint = 'check DATABASE_URL and that PostgreSQL is running';
  if (code === 'ECONNREFUSED') hint = 'PostgreSQL is not accepting connections at DATABASE_URL: is it running?';
  else if (code === '28P01' || code === '28000') hint = 'the user or password in DATABASE_URL is wrong';
  else if (code === '3D000') hint = 'the database named in DATABASE_URL does not exist';
  else if (code === 'CONNECT_TIMEOUT' || code === 'ETIMEDOUT') hint = 'the database did not answer in time: network or host down?';
  const message = e?.message ? String(e.message) : String(error);
  return new DatabaseError(`${what}: ${message}`, { hint, cause: error });
}
