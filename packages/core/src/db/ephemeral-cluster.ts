import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { BotctlError, ExitCode } from '../errors.js';
import { Secret } from '../secret.js';
import { findPgTool } from './pg-tools.js';

/**
 * A throwaway PostgreSQL cluster in a temporary directory on a free loopback port, for
 * `botctl demo`, the tests and the benchmarks. Password authentication is on, so the code under
 * test has a real secret to keep out of argv and logs.
 *
 * initdb refuses to run as root; when we are root the cluster is created and run as the
 * unprivileged `postgres` user (created by Debian's postgresql package) through runuser.
 */
export interface EphemeralCluster {
  readonly rootDir: string;
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: Secret;
  /** Superuser URL for a database (default `postgres`). */
  url(database?: string): Secret;
  createDatabase(name: string): Promise<Secret>;
  /** Stops the server; the data directory stays (so a test can start it again). */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  /** Stops the server and removes everything. Safe to call twice. */
  destroy(): Promise<void>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

interface RunAs {
  uid: number;
  gid: number;
  prefix: string[];
}

function lookupUser(name: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    // no /etc/passwd: not a system where we can switch users
  }
  return undefined;
}

function runAsForCurrentUser(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const pg = lookupUser('postgres');
  if (!pg) {
    throw new BotctlError('NO_PG_USER', ExitCode.FAILURE, 'running as root and there is no unprivileged "postgres" user to run initdb', {
      hint: 'install PostgreSQL (apt-get install -y postgresql) or run as a normal user',
    });
  }
  // runuser lives in /usr/sbin, which a PATH without the sbin folders (cron, env -i) lacks.
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => fs.existsSync(p)) ?? 'runuser';
  return { ...pg, prefix: [runuser, '-u', 'postgres', '--'] };
}

export interface StartOptions {
  /** Parent of the temporary directory (default: the OS temp dir). */
  parentDir?: string;
  user?: string;
  /** Extra postgresql.conf lines. */
  settings?: Record<string, string | number>;
  /** Durability off: fine for throwaway data, much faster. Default true. */
  fast?: boolean;
}

export async function startEphemeralCluster(options: StartOptions = {}): Promise<EphemeralCluster> {
  const runAs = runAsForCurrentUser();
  const rootDir = fs.mkdtempSync(path.join(options.parentDir ?? os.tmpdir(), 'botctl-pg-'));
  const dataDir = path.join(rootDir, 'data');
  const user = options.user ?? 'botctl_admin';
  const password = new Secret(randomBytes(18).toString('base64url'));
  const pwfile = path.join(rootDir, 'pwfile');
  fs.writeFileSync(pwfile, `${password.reveal()}\n`, { mode: 0o600 });
  if (runAs) {
    fs.chmodSync(rootDir, 0o700);
    fs.chownSync(rootDir, runAs.uid, runAs.gid);
    fs.chownSync(pwfile, runAs.uid, runAs.gid);
  }
  const run = (file: string, args: string[]) =>
    execa(runAs ? runAs.prefix[0]! : file, runAs ? [...runAs.prefix.slice(1), file, ...args] : args, {
      env: { LC_ALL: 'C', LANG: 'C' },
      stdin: 'ignore',
    });

  const initdb = findPgTool('initdb');
  const pgCtl = findPgTool('pg_ctl');
  let port = 0;
  const logFile = path.join(rootDir, 'postgres.log');

  const cleanup = () => fs.rmSync(rootDir, { recursive: true, force: true });

  try {
    await run(initdb, ['-D', dataDir, '-U', user, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-sync']);
  } catch (error) {
    cleanup();
    throw new BotctlError(
      'INITDB_FAILED',
      ExitCode.FAILURE,
      `initdb failed: ${(error as { stderr?: string }).stderr?.trim() || (error as { shortMessage?: string }).shortMessage || String(error)}`,
      {
        hint: 'check that PostgreSQL server binaries are installed (apt-get install -y postgresql)',
      },
    );
  }
  fs.rmSync(pwfile, { force: true });

  const baseSettings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${rootDir}'`,
    max_connections: 50,
    shared_buffers: "'128MB'",
    log_min_messages: 'warning',
    ...(options.fast === false ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }),
    ...options.settings,
  };

  const writePort = (p: number) => {
    const conf = Object.entries({ ...baseSettings, port: p })
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n');
    fs.writeFileSync(path.join(dataDir, 'postgresql.auto.conf'), `# written by botctl ephemeral cluster\n${conf}\n`);
    if (runAs) fs.chownSync(path.join(dataDir, 'postgresql.auto.conf'), runAs.uid, runAs.gid);
  };

  const startServer = async () => {
    await run(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
  };

  let started = false;
  for (let attempt = 0; attempt < 5 && !started; attempt++) {
    port = await freePort();
    writePort(port);
    try {
      await startServer();
      started = true;
    } catch (error) {
      if (attempt === 4) {
        const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '';
        cleanup();
        throw new BotctlError('PG_START_FAILED', ExitCode.FAILURE, `could not start the throwaway PostgreSQL: ${log || String(error)}`);
      }
    }
  }

  const host = '127.0.0.1';
  const url = (database = 'postgres') =>
    new Secret(`postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password.reveal())}@${host}:${port}/${encodeURIComponent(database)}`);

  let destroyed = false;
  const stopServer = async () => {
    await run(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']).catch(() => undefined);
  };

  return {
    rootDir,
    dataDir,
    host,
    port,
    user,
    password,
    url,
    async createDatabase(name: string) {
      const psql = findPgTool('psql');
      await execa(psql, ['-v', 'ON_ERROR_STOP=1', '-q', '-c', `CREATE DATABASE "${name.replace(/"/g, '""')}"`], {
        env: { PGHOST: host, PGPORT: String(port), PGUSER: user, PGPASSWORD: password.reveal(), PGDATABASE: 'postgres' },
      });
      return url(name);
    },
    stopServer,
    startServer,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stopServer();
      cleanup();
    },
  };
}
