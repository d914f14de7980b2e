import { type ChildProcess, spawn } from 'node:child_process';
import { PassThrough, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BotctlError, ExitCode, partialName, Redactor } from '@botctl/core';
import { HashTap } from '../util/hashing.js';
import { assertObjectName, type PutOptions, type PutResult, type SpaceInfo, type Storage, StorageError, type StoredObject } from './storage.js';

/** The oldest rclone we test with (Debian 12's 1.60.1); `lsjson --stat` and `about --json` are older. */
const RCLONE_MIN_VERSION: readonly [number, number] = [1, 60];

/**
 * rclone's behaviour when the user did not choose: no password prompt (cron has no terminal),
 * errors only on stderr, and connection timeouts and retries short enough that a dead server fails
 * the run in seconds, not minutes. Any RCLONE_* the user sets wins.
 */
const RCLONE_DEFAULTS: Record<string, string> = {
  RCLONE_ASK_PASSWORD: 'false',
  RCLONE_LOG_LEVEL: 'ERROR',
  RCLONE_STATS: '0',
  RCLONE_CONTIMEOUT: '30s',
  RCLONE_TIMEOUT: '2m',
  RCLONE_RETRIES: '2',
  RCLONE_LOW_LEVEL_RETRIES: '3',
};

export interface RcloneStorageOptions {
  /** `<remote>:<path>`, e.g. `b2:bucket/shop1`. */
  remote: string;
  /** The earlier layout's folder read alongside this one (see Storage.legacy). */
  legacy?: RcloneStorage | undefined;
  /** BACKUP_OFFSITE_REMOTE as configured, for messages about the setting (a sub-folder keeps its parent's). */
  setting?: string;
  /** RCLONE_* settings for rclone (its config, remotes defined in the environment, passwords). */
  env?: Readonly<Record<string, string>>;
  /** The rclone executable; `rclone` from PATH by default. */
  bin?: string;
  /** Scrubs secrets from rclone's messages. */
  redactor?: Redactor;
}

interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** rclone's stderr, reduced to what went wrong: without timestamps and log-level noise. */
function rcloneMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\s+/, '').trim())
    .filter(Boolean);
  const failed = lines.filter((l) => /^Failed to /.test(l)).pop();
  const picked = failed ?? lines.filter((l) => /^(ERROR|CRITICAL)\b/.test(l)).pop() ?? lines.pop() ?? 'no message';
  return picked.replace(/^(ERROR|CRITICAL|NOTICE)\s*:\s*/, '');
}

/** rclone missing or too old: a setup problem (exit 3), reported before anything is sent. */
function rcloneUnusable(message: string): BotctlError {
  return new BotctlError('CONFIG', ExitCode.CONFIG, message, {
    hint: 'install rclone 1.60 or newer (Debian/Ubuntu: apt-get install rclone), or use BACKUP_OFFSITE_DIR with a mounted folder instead',
  });
}

const versionChecks = new Map<string, Promise<string>>();

/**
 * An rclone remote as a Storage: S3, B2, R2, Google Drive, SFTP, WebDAV... whatever rclone
 * speaks. Every operation is one `rclone` process; credentials reach it only through the
 * environment (RCLONE_CONFIG, RCLONE_CONFIG_<NAME>_*), never through its arguments.
 *
 * `put` streams into `rclone rcat` under a temporary name, checks the stored size, then moves it
 * to the final name (a server-side rename where the backend has one; rclone copies and deletes
 * where it has not). The caller reads the object back and compares hashes before writing the
 * sidecar (backup/offsite.ts), so a backend without rename is still checked before it counts.
 */
export class RcloneStorage implements Storage {
  readonly kind = 'offsite' as const;
  readonly remote: string;
  readonly #env: Record<string, string>;
  readonly #bin: string;
  readonly #redactor: Redactor;

  readonly legacy: RcloneStorage | undefined;
  readonly #setting: string;

  constructor(options: RcloneStorageOptions) {
    this.remote = options.remote;
    this.legacy = options.legacy;
    this.#setting = options.setting ?? options.remote;
    this.#env = { ...RCLONE_DEFAULTS, ...(options.env ?? {}) };
    this.#bin = options.bin ?? 'rclone';
    this.#redactor = options.redactor ?? new Redactor();
  }

  get description(): string {
    return this.remote;
  }

  /** A folder below this one on the same remote (`logs` for the log archives). */
  /** A folder below this one; `legacy` as for LocalDirStorage.sub. */
  sub(dir: string, legacy: RcloneStorage | undefined = this.legacy?.sub(dir)): RcloneStorage {
    assertObjectName(dir);
    return new RcloneStorage({ remote: this.#path(dir), env: this.#env, bin: this.#bin, redactor: this.#redactor, legacy, setting: this.#setting });
  }

  #path(name: string): string {
    assertObjectName(name);
    return `${this.remote}${this.remote.endsWith(':') || this.remote.endsWith('/') ? '' : '/'}${name}`;
  }

  #spawn(args: string[], stdin: 'ignore' | 'pipe'): ChildProcess {
    const child = spawn(this.#bin, args, {
      env: { ...process.env, ...this.#env },
      stdio: [stdin, 'pipe', 'pipe'],
    });
    return child;
  }

  #failure(what: string, stderr: string, code: number | null): Error {
    const msg = this.#redactor.redact(rcloneMessage(stderr));
    return new Error(`rclone ${what} on ${this.remote} failed${code !== null ? ` (exit ${code})` : ''}: ${msg}`);
  }

  /** The rclone executable is there and new enough; checked once per process. */
  async ready(): Promise<string> {
    let check = versionChecks.get(this.#bin);
    if (!check) {
      check = this.#run(['version'], { skipReady: true }).then((r) => {
        const out = r.stdout.toString('utf8');
        const m = /rclone v(\d+)\.(\d+)\.(\d+)/.exec(out);
        if (r.code !== 0 || !m)
          throw rcloneUnusable(`cannot tell the rclone version (\`${this.#bin} version\` said: ${out.split('\n')[0] || r.stderr.trim()})`);
        const [maj, min] = [Number(m[1]), Number(m[2])];
        if (maj < RCLONE_MIN_VERSION[0] || (maj === RCLONE_MIN_VERSION[0] && min < RCLONE_MIN_VERSION[1])) {
          throw rcloneUnusable(`rclone v${m[1]}.${m[2]}.${m[3]} is too old for BACKUP_OFFSITE_REMOTE: v${RCLONE_MIN_VERSION.join('.')} or newer is needed`);
        }
        return `${m[1]}.${m[2]}.${m[3]}`;
      });
      versionChecks.set(this.#bin, check);
      check.catch(() => versionChecks.delete(this.#bin));
    }
    return check;
  }

  async #run(args: string[], opts: { skipReady?: boolean; signal?: AbortSignal | undefined } = {}): Promise<RunResult> {
    if (!opts.skipReady) await this.ready();
    return new Promise<RunResult>((resolve, reject) => {
      const child = this.#spawn(args, 'ignore');
      const out: Buffer[] = [];
      let err = '';
      child.stdout!.on('data', (c: Buffer) => out.push(c));
      child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
      const onAbort = () => child.kill('SIGTERM');
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (error: NodeJS.ErrnoException) => {
        opts.signal?.removeEventListener('abort', onAbort);
        reject(this.#spawnError(error));
      });
      child.on('close', (code) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (opts.signal?.aborted) reject(opts.signal.reason);
        else resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err });
      });
    });
  }

  #spawnError(error: NodeJS.ErrnoException): Error {
    if (error.code === 'ENOENT') {
      return rcloneUnusable(`rclone is not installed (or not on PATH), and BACKUP_OFFSITE_REMOTE=${this.#setting} needs it`);
    }
    return error;
  }

  async list(): Promise<StoredObject[]> {
    const r = await this.#run(['lsjson', '--files-only', '--no-mimetype', this.remote]);
    if (r.code === 3) return []; // the folder does not exist yet: nothing there
    if (r.code !== 0) throw this.#failure('lsjson', r.stderr, r.code);
    const items = JSON.parse(r.stdout.toString('utf8') || '[]') as { Name: string; Size: number; ModTime: string; IsDir: boolean }[];
    return items.filter((i) => !i.IsDir).map((i) => ({ name: i.Name, size: i.Size, mtime: new Date(i.ModTime) }));
  }

  /** The folders directly below this one (a WAL archive's folder per timeline and log). */
  async folders(): Promise<string[]> {
    const r = await this.#run(['lsjson', '--dirs-only', '--no-mimetype', this.remote]);
    if (r.code === 3) return [];
    if (r.code !== 0) throw this.#failure('lsjson', r.stderr, r.code);
    return (JSON.parse(r.stdout.toString('utf8') || '[]') as { Name: string }[]).map((i) => i.Name);
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    const r = await this.#run(['lsjson', '--stat', '--no-mimetype', this.#path(name)]);
    if (r.code === 3 || r.code === 4) return undefined;
    if (r.code !== 0) throw this.#failure('lsjson --stat', r.stderr, r.code);
    const i = JSON.parse(r.stdout.toString('utf8')) as { Name: string; Size: number; ModTime: string; IsDir: boolean };
    return i.IsDir ? undefined : { name, size: i.Size, mtime: new Date(i.ModTime) };
  }

  /**
   * Streams the object from `rclone cat`. The stream ends only after rclone exited 0; if rclone
   * fails part-way, the stream errors instead of ending early and looking complete.
   */
  async read(name: string): Promise<Readable> {
    if (!(await this.stat(name))) throw new StorageError('NOT_FOUND', `${name} not found in ${this.remote}`);
    const child = this.#spawn(['cat', this.#path(name)], 'ignore');
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.stdout!.pipe(out, { end: false });
    child.on('error', (error: NodeJS.ErrnoException) => out.destroy(this.#spawnError(error)));
    child.on('close', (code, sig) => {
      if (out.destroyed) return;
      if (code === 0) out.end();
      else out.destroy(this.#failure('cat', err, code ?? (sig ? -1 : null)));
    });
    // The reader gave up (or failed): stop downloading.
    out.on('close', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    });
    return out;
  }

  /** Streams `source` into `rclone rcat <name>.partial-*`; the stored size is checked before the move. */
  async #upload(tmp: string, source: Readable, options: PutOptions): Promise<PutResult> {
    await this.ready();
    const child = this.#spawn(['rcat', this.#path(tmp)], 'pipe');
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error: this.#spawnError(error) }));
      child.on('close', (code) => resolve({ code }));
    });
    const stdin = child.stdin!;
    stdin.on('error', () => undefined); // EPIPE when rclone died: its exit status says why
    // Killing rclone before its stdin closes: a closed stdin would read as "end of data" and
    // rclone would store the truncated stream (under the temporary name, but still).
    const sink = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _enc, cb) {
        if (stdin.destroyed) return cb(new Error('rclone stopped reading'));
        if (stdin.write(chunk)) return cb();
        const onDrain = () => {
          stdin.off('close', onClose);
          cb();
        };
        const onClose = () => {
          stdin.off('drain', onDrain);
          cb(new Error('rclone stopped reading'));
        };
        stdin.once('drain', onDrain);
        stdin.once('close', onClose);
      },
      final(cb) {
        stdin.end(cb);
      },
      destroy(error, cb) {
        if (error) {
          child.kill('SIGKILL');
          stdin.destroy();
        }
        cb(error);
      },
    });
    const tap = new HashTap(options.onProgress);
    let pipeError: unknown;
    await pipeline(source, tap, sink, options.signal ? { signal: options.signal } : {}).catch((error: unknown) => {
      pipeError = error;
      child.kill('SIGKILL');
    });
    const done = await exited;
    if (pipeError !== undefined || done.code !== 0) {
      await this.#bestEffortRemove(tmp);
      if (done.error) throw done.error;
      // rclone exited on its own (server gone, write refused): its message says more than EPIPE.
      if (done.code !== null && done.code !== 0) throw this.#failure('rcat', err, done.code);
      // We stopped it: the source failed or the run was aborted.
      throw pipeError ?? this.#failure('rcat', err, done.code);
    }
    const stored = await this.stat(tmp);
    if (stored?.size !== tap.bytes) {
      await this.#bestEffortRemove(tmp);
      throw new Error(`upload to ${this.remote} stored ${stored ? `${stored.size} bytes` : 'nothing'} for ${tmp}, ${tap.bytes} were sent`);
    }
    return { size: tap.bytes, sha256: tap.digest() };
  }

  async #bestEffortRemove(name: string): Promise<void> {
    await this.#run(['deletefile', this.#path(name)], { skipReady: true }).catch(() => undefined);
  }

  async #moveto(from: string, to: string): Promise<void> {
    const r = await this.#run(['moveto', '--ignore-times', this.#path(from), this.#path(to)]);
    if (r.code !== 0) throw this.#failure('moveto', r.stderr, r.code);
  }

  async put(name: string, source: Readable, options: PutOptions = {}): Promise<PutResult> {
    assertObjectName(name);
    if (await this.stat(name)) {
      source.destroy();
      throw new StorageError('ALREADY_EXISTS', `${name} already exists in ${this.remote}`);
    }
    const tmp = partialName(name);
    const result = await this.#upload(tmp, source, options);
    try {
      if (await this.stat(name)) throw new StorageError('ALREADY_EXISTS', `${name} already exists in ${this.remote}`);
      await this.#moveto(tmp, name);
    } catch (error) {
      await this.#bestEffortRemove(tmp);
      throw error;
    }
    return result;
  }

  async writeSmall(name: string, data: string | Uint8Array): Promise<void> {
    assertObjectName(name);
    const tmp = partialName(name);
    const src = new PassThrough();
    src.end(Buffer.from(data));
    await this.#upload(tmp, src, {});
    try {
      await this.#moveto(tmp, name);
    } catch (error) {
      await this.#bestEffortRemove(tmp);
      throw error;
    }
  }

  async readSmall(name: string): Promise<Buffer | undefined> {
    // One process per sidecar (listing many backups reads many): `cat` of a missing object
    // exits 3 (rclone looks for a folder of that name) or 4.
    const r = await this.#run(['cat', this.#path(name)]);
    if (r.code === 3 || r.code === 4) return undefined;
    if (r.code !== 0) throw this.#failure('cat', r.stderr, r.code);
    return r.stdout;
  }

  async rename(from: string, to: string): Promise<void> {
    assertObjectName(to);
    if (!(await this.stat(from))) throw new StorageError('NOT_FOUND', `${from} not found in ${this.remote}`);
    await this.#moveto(from, to);
  }

  async remove(name: string): Promise<void> {
    const r = await this.#run(['deletefile', this.#path(name)]);
    if (r.code === 0) return;
    // A missing object is fine; anything else (no connection, no permission) is not.
    if ((await this.stat(name)) === undefined) return;
    throw this.#failure('deletefile', r.stderr, r.code);
  }

  /** Free space as the backend reports it (`rclone about`); undefined where it does not tell. */
  async space(): Promise<SpaceInfo | undefined> {
    const r = await this.#run(['about', '--json', this.remote]);
    if (r.code !== 0) return undefined;
    const j = JSON.parse(r.stdout.toString('utf8') || '{}') as { total?: number; used?: number; free?: number };
    if (j.free === undefined && j.total === undefined) return undefined;
    return { free: j.free, total: j.total, used: j.used };
  }
}
