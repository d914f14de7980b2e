import { lowerPriority } from '../util/priority.js';
import {
  BotctlError,
  countRows,
  createSql,
  DatabaseError,
  describeDbError,
  ExitCode,
  findPgTool,
  libpqEnv,
  listUserTables,
  parseDatabaseUrl,
  type PgVersion,
  pgVersionFromNum,
  type Redactor,
  type Secret,
  type Sql,
  tableChecksum,
  toolVersion,
  VersionMismatchError,
} from '@botctl/core';
import { execa, type ResultPromise } from 'execa';
import { DEFAULT_PART_SIZE, type TableCount } from '../archive/format.js';
import { type BlockPipe, openBlockPipe } from '../util/pipe-reader.js';

/** A running dump: pg_dump's output plus facts about the snapshot it reads. */
export interface DumpSession {
  readonly database: string;
  readonly serverVersion: PgVersion;
  readonly pgDumpVersion: PgVersion;
  readonly snapshot: string;
  /** Row count of every table, read in the same snapshot as the dump. */
  readonly tableCounts: Promise<TableCount[]>;
  /** pg_dump's custom-format output. Iteration throws when pg_dump fails. */
  readonly output: AsyncIterable<Buffer>;
  /** A buffer `output` yielded is no longer referenced (written out): it may be reused. */
  release?(block: Buffer): void;
  /** Ends the snapshot transaction and closes connections. Always call it. */
  close(): Promise<void>;
}

export interface Dumper {
  /** `compressLevel`: pg_dump's -Z for this dump, over the option of the same name. */
  start(signal?: AbortSignal, opts?: { compressLevel?: number | undefined }): Promise<DumpSession>;
}

export interface PgDumperOptions {
  databaseUrl: Secret;
  redactor?: Redactor;
  binDir?: string | undefined;
  /** Fail when pg_dump waits longer than this for a table lock. */
  lockWaitTimeoutSeconds?: number;
  /** Tables up to this size also get a content checksum in the manifest (for the drill). */
  checksumMaxBytes?: number;
  /** pg_dump's own compression (-Z): 0 when the archive compresses (zstd); undefined: its default. */
  compressLevel?: number | undefined;
  /** BACKUP_NICE: pg_dump's CPU (and so IO) priority; 0 leaves it as botctl's. */
  nice?: number;
  /** The size of the blocks `output` yields (a full block at a time while pg_dump keeps up). */
  blockSize?: number;
}

/**
 * Row count of every user table and, for tables up to `checksumMaxBytes`, a checksum of their
 * ordered contents, all read in the caller's transaction (the dump's snapshot).
 */
async function snapshotTables(sql: Pick<Sql, 'unsafe'>, checksumMaxBytes: number): Promise<TableCount[]> {
  const out: TableCount[] = [];
  for (const t of await listUserTables(sql)) {
    const rows = await countRows(sql, t);
    const entry: TableCount = { schema: t.schema, table: t.table, rows };
    if (t.bytes <= checksumMaxBytes) entry.checksum = await tableChecksum(sql, t);
    out.push(entry);
  }
  return out;
}

/**
 * Dumps with `pg_dump --format=custom --snapshot=<id>`, where the snapshot is exported by a
 * REPEATABLE READ transaction we hold open for the whole dump; the row counts recorded in the
 * manifest are read in that same transaction, so they describe exactly the dumped data.
 * The connection travels in the environment (PGPASSWORD, ...), never in pg_dump's argv.
 */
export class PgDumper implements Dumper {
  readonly #opts: PgDumperOptions;

  constructor(options: PgDumperOptions) {
    this.#opts = options;
  }

  async start(signal?: AbortSignal, startOpts: { compressLevel?: number | undefined } = {}): Promise<DumpSession> {
    const info = parseDatabaseUrl(this.#opts.databaseUrl);
    const pgDump = findPgTool('pg_dump', { binDir: this.#opts.binDir });
    // Asked while we connect: both are on the path to pg_dump's start.
    const pgDumpVersionP = toolVersion(pgDump);
    pgDumpVersionP.catch(() => undefined);

    // The snapshot session can be lost while pg_dump runs (PostgreSQL restarted, the session
    // terminated): a query sent on it afterwards would wait for ever, so every wait on it races
    // against its loss. pg_dump has imported the snapshot by then and goes on by itself.
    let lostReject: (e: Error) => void = () => undefined;
    let lost = false;
    const lostSession = new Promise<never>((_, reject) => (lostReject = reject));
    lostSession.catch(() => undefined);
    const sql = createSql(this.#opts.databaseUrl, {
      max: 1,
      applicationName: 'botctl backup',
      onClose: () => {
        lost = true;
        lostReject(
          new DatabaseError(`the database session of the backup of "${info.database}" was lost (PostgreSQL restarted, or the session was ended)`, {
            hint: 'check the server log; nothing was kept from this run',
          }),
        );
      },
    });
    let reserved: Awaited<ReturnType<Sql['reserve']>> | undefined;
    const closeAll = async () => {
      try {
        if (reserved && !lost) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([reserved.unsafe('ROLLBACK'), lostSession, new Promise((r) => (timer = setTimeout(r, 5000)))]).catch(() => undefined);
          clearTimeout(timer);
          reserved.release();
        }
      } finally {
        await sql.end({ timeout: 5 }).catch(() => undefined);
      }
    };

    let serverVersion: PgVersion;
    let pgDumpVersion: PgVersion;
    let snapshot: string;
    // Every step of the set-up races the session's loss too: a connection the server closes
    // meanwhile can leave postgres.js's promise pending for ever (a restore's safety copy hung so).
    const onSession = <T>(p: Promise<T>): Promise<T> => Promise.race([p, lostSession]);
    try {
      reserved = await onSession(sql.reserve());
      const session = reserved;
      pgDumpVersion = await pgDumpVersionP;
      const [v] = await onSession(session.unsafe<{ server_version_num: string }[]>('SHOW server_version_num'));
      serverVersion = pgVersionFromNum(Number(v?.server_version_num));
      if (pgDumpVersion.major < serverVersion.major) {
        throw new VersionMismatchError(`pg_dump ${pgDumpVersion.text} is older than the server (PostgreSQL ${serverVersion.text}) and cannot dump it`, {
          hint: `install the PostgreSQL ${serverVersion.major} client tools (apt-get install postgresql-client-${serverVersion.major}) or set PG_BIN_DIR`,
        });
      }
      // A short idle_in_transaction_session_timeout (a common production setting) would end the
      // snapshot's transaction while pg_dump still starts; the snapshot session needs neither it
      // nor a statement timeout.
      await onSession(session.unsafe('SET idle_in_transaction_session_timeout = 0; SET statement_timeout = 0'));
      await onSession(session.unsafe('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'));
      const [s] = await onSession(session.unsafe<{ id: string }[]>('SELECT pg_export_snapshot() AS id'));
      snapshot = s!.id;
    } catch (error) {
      await closeAll();
      if (error instanceof BotctlError) throw error;
      throw describeDbError(error, `cannot connect to database "${info.database}"`);
    }

    // Started before pg_dump; runs alongside it in the same snapshot.
    const tableCounts = Promise.race([snapshotTables(reserved, this.#opts.checksumMaxBytes ?? 16 * 1024 * 1024), lostSession]).catch((error: unknown) => {
      if (error instanceof BotctlError) throw error;
      throw describeDbError(error, 'counting table rows failed');
    });
    tableCounts.catch(() => undefined);

    const args = ['--format=custom', `--snapshot=${snapshot}`, '--no-password'];
    if (this.#opts.lockWaitTimeoutSeconds) args.push(`--lock-wait-timeout=${this.#opts.lockWaitTimeoutSeconds * 1000}`);
    const compressLevel = 'compressLevel' in startOpts ? startOpts.compressLevel : this.#opts.compressLevel;
    if (compressLevel !== undefined) args.push(`--compress=${compressLevel}`);
    // pg_dump writes a few KiB at a time; read into whole blocks (see openBlockPipe).
    // Without mkfifo (never seen on a Linux host, but cheap to survive): pg_dump's stdout stream.
    const pipe: BlockPipe | undefined = await openBlockPipe({ blockSize: this.#opts.blockSize ?? DEFAULT_PART_SIZE }).catch(() => undefined);
    const subprocess: ResultPromise<{ reject: false }> = execa(pgDump, args, {
      env: { ...libpqEnv(info), PGAPPNAME: 'botctl pg_dump' },
      extendEnv: true,
      stdin: 'ignore',
      // A file descriptor of ours (execa's types list only 3-9; it takes any).
      stdout: pipe ? (pipe.writeFd as 3) : 'pipe',
      buffer: { stdout: false, stderr: true },
      maxBuffer: { stderr: 256 * 1024 },
      reject: false,
      ...(signal ? { cancelSignal: signal } : {}),
      forceKillAfterDelay: 5000,
    }) as ResultPromise<{ reject: false }>;
    // pg_dump holds its own copy now; ours would keep the pipe open after pg_dump exits.
    pipe?.closeWriteEnd();
    lowerPriority(subprocess.pid, this.#opts.nice ?? 0);

    const redactor = this.#opts.redactor;
    /**
     * Stops pg_dump if it still runs and closes our end of its stdout, so that anything still
     * holding the pipe (a wrapper's children) gets SIGPIPE instead of blocking forever.
     */
    const stop = () => {
      if (subprocess.exitCode === null && !subprocess.killed) subprocess.kill('SIGTERM');
      if (subprocess.exitCode !== 0 || subprocess.killed) {
        pipe?.destroy();
        subprocess.stdout?.destroy();
      }
    };
    async function* output(): AsyncGenerator<Buffer> {
      let drained = false;
      try {
        for await (const block of pipe ? pipe.blocks : (subprocess.stdout as AsyncIterable<Buffer>)) yield block;
        drained = true;
      } finally {
        // An error, or the consumer stopping early (return()): pg_dump must not outlive us.
        if (!drained) stop();
      }
      const result = await subprocess;
      if (result.isCanceled) {
        throw signal?.reason instanceof Error ? signal.reason : new BotctlError('CANCELED', ExitCode.FAILURE, 'pg_dump was stopped');
      }
      if (result.exitCode !== 0 || result.signal) {
        const stderr = String(result.stderr ?? '')
          .trim()
          .split('\n')
          .filter(Boolean)
          .slice(-3)
          .join(' | ');
        const clean = redactor ? redactor.redact(stderr) : stderr;
        throw new DatabaseError(
          `pg_dump failed (${result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode}`})${clean ? `: ${clean}` : ''}`,
          { hint: 'check the database and the PostgreSQL client tools; nothing was kept from this run' },
        );
      }
    }

    return {
      database: info.database,
      serverVersion,
      pgDumpVersion,
      snapshot,
      tableCounts,
      output: output(),
      release: (block: Buffer) => pipe?.release(block),
      async close() {
        stop();
        pipe?.destroy();
        subprocess.stdout?.destroy();
        await subprocess;
        await closeAll();
      },
    };
  }
}
