import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  BotctlError,
  createSql,
  DatabaseError,
  ExitCode,
  findPgTool,
  IntegrityError,
  LockedError,
  quoteIdent,
  quoteLiteral,
  type Redactor,
  type TableRef,
} from '@botctl/core';
import { execa, type ResultPromise } from 'execa';
import type { TableCount } from '../archive/format.js';
import { dbnameConninfo, type ResolvedTarget, targetEnv } from './targets.js';

/** Someone whose lock the restore waits for. */
interface LockHolder {
  pid: number;
  application: string;
  user: string;
  state: string;
}

export interface LockWait {
  relation: string | null;
  holders: LockHolder[];
}

export interface RestoreSessionOptions {
  target: ResolvedTarget;
  binDir?: string | undefined;
  redactor?: Redactor | undefined;
  signal?: AbortSignal | undefined;
  /** How long one lock may be waited for (BACKUP_RESTORE_LOCK_TIMEOUT_SECONDS, --lock-timeout). */
  lockTimeoutSeconds: number;
  /** Told when the restore starts waiting for a lock, and who holds it. */
  onWait?: (wait: LockWait) => void;
}

/** Drops everything of the database's own (not extensions, not the system), for a restore that ends equal to the backup. */
const DROP_ALL_SQL = String.raw`DO $botctl$
DECLARE r record;
BEGIN
  FOR r IN SELECT n.nspname FROM pg_namespace n
           WHERE n.nspname NOT IN ('public', 'pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.rel);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS fn, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.fn);
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS ty, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('c', 'd', 'e', 'r') AND t.typcategory <> 'A'
             AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.ty);
  END LOOP;
END $botctl$;`;

/**
 * The check run in the restore's own transaction before it commits: every table has the rows
 * (and, where the manifest has one, the content checksum) recorded in the same snapshot as the
 * dump, and no other table is there. A mismatch raises and nothing is committed.
 */
function checkSql(tables: TableCount[]): string {
  const q = (t: TableRef) => `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`;
  const lit = (t: TableRef) => quoteLiteral(`${t.schema}.${t.table}`);
  const lines = tables.map((t) => {
    let s = `  SELECT count(*) INTO n FROM ${q(t)};\n  IF n <> ${t.rows} THEN bad := bad || format('restored table %s has %s rows, the backup recorded %s', ${lit(t)}, n, ${t.rows}); END IF;`;
    if (t.checksum) {
      s += `\n  SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) INTO c FROM ${q(t)} x;\n  IF n = ${t.rows} AND c <> ${quoteLiteral(t.checksum)} THEN bad := bad || format('restored table %s differs from the backup (content checksum)', ${lit(t)}); END IF;`;
    }
    return s;
  });
  const known = tables.length ? tables.map((t) => `(${quoteLiteral(t.schema)}, ${quoteLiteral(t.table)})`).join(', ') : `(NULL, NULL)`;
  return `DO $botctl$
DECLARE bad text[] := '{}'; n bigint; c text; extra text;
BEGIN
${lines.join('\n')}
  SELECT string_agg(format('%s.%s', ns.nspname, cl.relname), ', ' ORDER BY 1) INTO extra
    FROM pg_catalog.pg_class cl JOIN pg_catalog.pg_namespace ns ON ns.oid = cl.relnamespace
   WHERE cl.relkind IN ('r', 'p') AND ns.nspname NOT IN ('pg_catalog', 'information_schema')
     AND ns.nspname NOT LIKE 'pg\\_toast%' AND ns.nspname NOT LIKE 'pg\\_temp%'
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = cl.oid AND d.deptype = 'e')
     AND (ns.nspname, cl.relname) NOT IN (VALUES ${known});
  IF extra IS NOT NULL THEN bad := bad || format('the restored database has tables the backup does not: %s', extra); END IF;
  IF pg_catalog.array_length(bad, 1) > 0 THEN RAISE EXCEPTION 'botctl-check: %', pg_catalog.array_to_string(bad, '; '); END IF;
END $botctl$;`;
}

/** The outcome once the session ended: committed, rolled back, or (the connection died at COMMIT) unknown. */
export type SessionOutcome = 'committed' | 'rolled-back' | 'unknown';

/**
 * One restore as one transaction in one `psql` session, which botctl drives statement by
 * statement: BEGIN; lock the target's tables (writes wait from here on: the safety copy taken
 * meanwhile holds everything committed before); drop everything of the database's own; the
 * SQL from `pg_restore -f -`; the check against the manifest; COMMIT. psql gets the COMMIT only
 * from botctl, as the very last thing: if botctl dies (even kill -9), psql reads the end of its
 * input without one and PostgreSQL rolls everything back; if PostgreSQL restarts, the
 * transaction is gone. The database ends equal to the backup, or as it was.
 */
export class RestoreSession {
  readonly #opts: RestoreSessionOptions;
  readonly #app: string;
  readonly #proc: ResultPromise<{ reject: false }>;
  readonly #exited: Promise<{ code: number | undefined; stderr: string; canceled: boolean }>;
  #stdout = '';
  #mark = 0;
  #waiters: { mark: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  #done = false;
  #xid: string | undefined;
  #commitSent = false;
  #committed = false;
  #lastWait: LockWait | undefined;

  private constructor(opts: RestoreSessionOptions) {
    this.#opts = opts;
    this.#app = `botctl restore ${randomBytes(4).toString('hex')}`;
    const psql = findPgTool('psql', { binDir: opts.binDir });
    this.#proc = execa(psql, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', `--dbname=${dbnameConninfo(opts.target.database)}`], {
      env: { ...targetEnv(opts.target), PGAPPNAME: this.#app },
      extendEnv: true,
      stdin: 'pipe',
      stdout: 'pipe',
      buffer: { stdout: false, stderr: true },
      maxBuffer: { stderr: 1024 * 1024 },
      reject: false,
      ...(opts.signal ? { cancelSignal: opts.signal } : {}),
      forceKillAfterDelay: 5000,
    }) as ResultPromise<{ reject: false }>;
    this.#proc.stdin!.on('error', () => undefined);
    this.#proc.stdout!.setEncoding('utf8');
    this.#proc.stdout!.on('data', (chunk: string) => this.#onOutput(chunk));
    this.#exited = this.#proc.then((r) => {
      this.#done = true;
      const stderr = String(r.stderr ?? '');
      const result = { code: r.exitCode, stderr, canceled: r.isCanceled };
      const err = this.#failure(result);
      for (const w of this.#waiters.splice(0)) w.reject(err);
      return result;
    });
  }

  /** Starts psql and opens the transaction. */
  static async begin(opts: RestoreSessionOptions): Promise<RestoreSession> {
    const s = new RestoreSession(opts);
    // Query results go nowhere; \echo markers come to us on stdout.
    s.#write(`\\set VERBOSITY terse\n\\o /dev/null\nBEGIN;\nSET LOCAL lock_timeout = '${Math.round(opts.lockTimeoutSeconds * 1000)}ms';\n`);
    await s.#sync();
    return s;
  }

  get application(): string {
    return this.#app;
  }

  #write(text: string): void {
    if (this.#done) return;
    this.#proc.stdin!.write(text);
  }

  #onOutput(chunk: string): void {
    this.#stdout += chunk;
    for (let nl = this.#stdout.indexOf('\n'); nl >= 0; nl = this.#stdout.indexOf('\n')) {
      const line = this.#stdout.slice(0, nl);
      this.#stdout = this.#stdout.slice(nl + 1);
      if (line.startsWith('botctl:xid:')) this.#xid = line.slice('botctl:xid:'.length).trim();
      if (line === 'botctl:committed') this.#committed = true;
      const i = this.#waiters.findIndex((w) => w.mark === line);
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve();
    }
  }

  /** Waits until psql has run everything written so far (or fails with its error). */
  async #sync(): Promise<void> {
    const mark = `botctl:mark:${++this.#mark}`;
    const p = new Promise<void>((resolve, reject) => this.#waiters.push({ mark, resolve, reject }));
    if (this.#done) throw this.#failure(await this.#exited);
    this.#write(`\\echo ${mark}\n`);
    await p;
  }

  #failure(r: { code: number | undefined; stderr: string; canceled: boolean }): BotctlError {
    const redact = (s: string) => (this.#opts.redactor ? this.#opts.redactor.redact(s) : s);
    const errors = r.stderr
      .split('\n')
      .map((l) => l.replace(/^psql:[^:]*:\d+: /, '').trim())
      .filter((l) => /^(ERROR|FATAL|PANIC):/.test(l) || /server closed the connection|connection to server/.test(l));
    const last = redact(errors.at(-1) ?? r.stderr.trim().split('\n').filter(Boolean).at(-1) ?? `psql exited with code ${r.code}`);
    const db = this.#opts.target.database;
    if (r.canceled) return new BotctlError('CANCELED', ExitCode.FAILURE, `the restore into "${db}" was stopped; the database was left as it was`);
    const check = /botctl-check: (.*)$/.exec(last);
    if (check) {
      return new IntegrityError(`${check[1]}; nothing was committed: "${db}" was left as it was`, {
        hint: 'the backup does not restore to what its manifest recorded: use another backup, and check this one with `botctl backup verify`',
      });
    }
    if (/lock timeout/.test(last)) {
      const w = this.#lastWait;
      const who = w?.holders.length ? w.holders.map((h) => `pid ${h.pid} (${h.application || h.user}, ${h.state})`).join(', ') : 'another session';
      return new LockedError(
        `gave up after ${this.#opts.lockTimeoutSeconds} s waiting for a lock${w?.relation ? ` on ${w.relation}` : ''} held by ${who}; nothing was changed: "${db}" was left as it was`,
        {
          hint: 'the bot (or another session) holds it: stop the bot first (systemctl stop / docker compose stop), or end that session, or wait longer with --lock-timeout SECONDS (BACKUP_RESTORE_LOCK_TIMEOUT_SECONDS)',
        },
      );
    }
    if (/server closed the connection|connection to server|terminating connection|FATAL/.test(last)) {
      return new DatabaseError(`the connection to PostgreSQL was lost during the restore (${last}); nothing was committed: "${db}" was left as it was`, {
        hint: 'check that PostgreSQL is up, then run the restore again',
      });
    }
    return new DatabaseError(`the restore into "${db}" failed: ${last}; nothing was committed: "${db}" was left as it was`, {
      hint: 'see the PostgreSQL error above; the database is unchanged',
    });
  }

  /** Runs SQL in the transaction and waits for it. */
  async exec(sql: string): Promise<void> {
    this.#write(`${sql}\n`);
    await this.#sync();
  }

  /**
   * Locks tables in the transaction, reporting who holds a lock it has to wait for (up to the
   * lock timeout). EXCLUSIVE first (readers go on, writers wait), ACCESS EXCLUSIVE before dropping.
   */
  async lock(tables: TableRef[], mode: 'EXCLUSIVE' | 'ACCESS EXCLUSIVE'): Promise<void> {
    if (tables.length === 0) return;
    const list = tables.map((t) => `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`).join(', ');
    const watch = this.#watchLocks();
    try {
      await this.exec(`LOCK TABLE ${list} IN ${mode} MODE;`);
    } finally {
      watch.stop();
    }
  }

  #watchLocks(): { stop: () => void } {
    const sql = createSql(this.#opts.target.url, { max: 1, applicationName: 'botctl restore watch', idleTimeoutSeconds: 2 });
    let stopped = false;
    let seen = '';
    const poll = async () => {
      if (stopped) return;
      try {
        const [row] = await sql.unsafe<{ rel: string | null; holders: LockHolder[] | null }[]>(
          `SELECT (SELECT l.relation::regclass::text FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted LIMIT 1) AS rel,
                  (SELECT json_agg(json_build_object('pid', b.pid, 'application', b.application_name, 'user', b.usename, 'state', coalesce(b.state, '')))
                     FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(a.pid))) AS holders
             FROM pg_stat_activity a WHERE a.application_name = $1 AND a.wait_event_type = 'Lock'`,
          [this.#app],
        );
        if (row && !stopped) {
          const wait: LockWait = { relation: row.rel, holders: row.holders ?? [] };
          this.#lastWait = wait;
          const key = JSON.stringify(wait);
          if (key !== seen) {
            seen = key;
            this.#opts.onWait?.(wait);
          }
        }
      } catch {
        // a watch that cannot look is no reason to fail the restore
      }
      if (!stopped) timer = setTimeout(poll, 300);
    };
    let timer: NodeJS.Timeout | undefined = setTimeout(poll, 200);
    return {
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        void sql.end({ timeout: 1 }).catch(() => undefined);
      },
    };
  }

  /** Drops everything of the database's own, in the transaction. */
  dropEverything(): Promise<void> {
    return this.exec(DROP_ALL_SQL);
  }

  /** Feeds SQL (pg_restore's output) into the transaction; resolves when it has all been handed to psql. */
  async feed(script: Readable): Promise<void> {
    const stdin = this.#proc.stdin!;
    await new Promise<void>((resolve, reject) => {
      script.on('error', reject);
      script.on('end', resolve);
      this.#exited.then(
        () => reject(new Error('psql ended')),
        () => undefined,
      );
      script.pipe(stdin, { end: false });
    }).finally(() => script.unpipe(stdin));
    if (this.#done) throw this.#failure(await this.#exited);
  }

  /** The check against the manifest, then COMMIT as the last statement psql ever gets. */
  async checkAndCommit(tables: TableCount[]): Promise<void> {
    await this.exec(checkSql(tables));
    this.#write('SELECT pg_catalog.txid_current() AS botctl_xid \\gset\n\\echo botctl:xid: :botctl_xid\n');
    await this.#sync();
    this.#commitSent = true;
    this.#write('COMMIT;\n\\echo botctl:committed\n');
    this.#proc.stdin!.end();
    const r = await this.#exited;
    if (!this.#committed || r.code !== 0) {
      const outcome = await this.outcome();
      if (outcome === 'committed') return;
      const e = this.#failure(r);
      if (outcome === 'unknown') {
        throw new DatabaseError(
          `the connection was lost at COMMIT: whether "${this.#opts.target.database}" holds the restored backup or its previous state cannot be told yet (${e.message})`,
          {
            hint: `run \`botctl backup restore --dry-run\` or look at the database; transaction ${this.#xid ?? '?'}`,
          },
        );
      }
      throw e;
    }
  }

  /** Ends the session without committing: PostgreSQL rolls the transaction back. */
  async abort(): Promise<void> {
    if (!this.#done) {
      this.#proc.stdin!.destroy();
      this.#proc.kill('SIGTERM');
    }
    await this.#exited.catch(() => undefined);
  }

  /** What became of the transaction: asked of PostgreSQL when the COMMIT's answer was lost. */
  async outcome(): Promise<SessionOutcome> {
    if (this.#committed) return 'committed';
    if (!this.#commitSent || !this.#xid) return 'rolled-back';
    for (let i = 0; i < 10; i++) {
      const sql = createSql(this.#opts.target.url, { max: 1, connectTimeoutSeconds: 3, idleTimeoutSeconds: 1 });
      try {
        const [row] = await sql.unsafe<{ s: string | null }[]>(`SELECT txid_status(${Number(this.#xid)}) AS s`);
        if (row?.s === 'committed') return 'committed';
        if (row?.s === 'aborted' || row?.s === null) return 'rolled-back';
      } catch {
        // PostgreSQL may be restarting: ask again
      } finally {
        await sql.end({ timeout: 1 }).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    return 'unknown';
  }
}
