import { BotctlError, ExitCode, findPgTool, IntegrityError, type Redactor } from '@botctl/core';
import type { Readable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import { onceDrained } from '../util/async.js';

interface DumpSink {
  write(chunk: Buffer): Promise<void>;
  /** Closes pg_restore's input and waits for it; throws with its stderr when it failed. */
  end(): Promise<void>;
  abort(): void;
}

/** pg_restore turning the dump into SQL (`-f -`), to be run by psql in botctl's transaction. */
export interface DumpToSql extends DumpSink {
  /** The SQL script, as pg_restore writes it. */
  readonly sql: Readable;
}

export interface PgRestoreSinkOptions {
  args: string[];
  env?: Record<string, string>;
  binDir?: string | undefined;
  redactor?: Redactor | undefined;
  signal?: AbortSignal | undefined;
  /** Builds the error for a failed run from pg_restore's last stderr lines. */
  onFailure?: (stderr: string, exitCode: number | undefined) => Error;
}

/**
 * pg_restore reading a custom-format dump from its standard input, fed chunk by chunk with
 * backpressure: the dump never exists as a file.
 */
export function startPgRestore(options: PgRestoreSinkOptions & { stdout?: 'ignore' | 'pipe' }): DumpToSql {
  const bin = findPgTool('pg_restore', { binDir: options.binDir });
  const sub = execa(bin, options.args, {
    env: options.env ?? {},
    extendEnv: true,
    stdin: 'pipe',
    stdout: options.stdout ?? 'ignore',
    buffer: { stdout: false, stderr: true },
    maxBuffer: { stderr: 1024 * 1024 },
    reject: false,
    ...(options.signal ? { cancelSignal: options.signal } : {}),
    forceKillAfterDelay: 5000,
  }) as ResultPromise<{ reject: false }>;
  const stdin = sub.stdin!;
  let broken: Error | undefined;
  stdin.on('error', (e) => {
    broken = e;
  });

  const failure = async (): Promise<Error> => {
    const result = await sub;
    const stderr = String(result.stderr ?? '')
      .trim()
      .split('\n')
      .filter(Boolean)
      .slice(-4)
      .join(' | ');
    const clean = options.redactor ? options.redactor.redact(stderr) : stderr;
    return options.onFailure ? options.onFailure(clean, result.exitCode) : new IntegrityError(`pg_restore could not read the dump${clean ? `: ${clean}` : ''}`);
  };

  return {
    get sql(): Readable {
      if (!sub.stdout) throw new Error('pg_restore was started without stdout');
      return sub.stdout;
    },
    async write(chunk) {
      if (broken || stdin.destroyed) throw await failure();
      try {
        if (!stdin.write(chunk)) await onceDrained(stdin);
      } catch {
        throw await failure();
      }
    },
    async end() {
      if (!stdin.destroyed) stdin.end();
      const result = await sub;
      if (result.isCanceled) throw new BotctlError('CANCELED', ExitCode.FAILURE, 'pg_restore was stopped');
      if (result.exitCode !== 0 || result.signal) throw await failure();
    },
    abort() {
      sub.kill('SIGTERM');
    },
  };
}
