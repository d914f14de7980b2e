import { types } from 'node:util';
/**
 * Exit codes botctl documents in docs/exit-codes.md. Scripts may rely on every value here;
 * any code not listed means failure. `botctl healthcheck` uses the Nagios convention instead
 * (see HealthExitCode).
 */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  CONFIG: 3,
  LOCKED: 4,
  PARTIAL: 5,
  DATABASE: 6,
  VERSION_MISMATCH: 7,
  INTEGRITY: 8,
  WRONG_KEY: 9,
  INCOMPLETE: 10,
  NOT_A_BACKUP: 11,
  NOT_FOUND: 12,
  NO_SPACE: 13,
  REFUSED: 14,
  ALERT_FAILED: 15,
  INTERRUPTED: 130,
  TERMINATED: 143,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface BotctlErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Extra machine-readable facts for --json output. Never put secrets here. */
  details?: Record<string, unknown>;
}

/**
 * Base of every error botctl reports on purpose. `code` is stable (for --json), `exitCode` is
 * what the process exits with, `hint` tells the user what to do next. Only main.ts turns these
 * into an exit status.
 */
export class BotctlError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, exitCode: number, message: string, options: BotctlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.details = options.details;
  }
}

export class UsageError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('USAGE', ExitCode.USAGE, message, options);
  }
}

export class ConfigError extends BotctlError {
  readonly problems: string[];
  constructor(problems: string[], options?: BotctlErrorOptions) {
    const message =
      problems.length === 1 ? `invalid configuration: ${problems[0]}` : `invalid configuration (${problems.length} problems): ${problems.join('; ')}`;
    super('CONFIG', ExitCode.CONFIG, message, {
      hint: 'fix the settings in the environment, .env or --env-file (see docs/configuration.md)',
      ...options,
    });
    this.problems = problems;
  }
}

export class LockedError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('LOCKED', ExitCode.LOCKED, message, options);
  }
}

export class PartialError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('PARTIAL', ExitCode.PARTIAL, message, options);
  }
}

export class DatabaseError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('DATABASE', ExitCode.DATABASE, message, options);
  }
}

export class VersionMismatchError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('VERSION_MISMATCH', ExitCode.VERSION_MISMATCH, message, options);
  }
}

export class IntegrityError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('INTEGRITY', ExitCode.INTEGRITY, message, options);
  }
}

export class WrongKeyError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('WRONG_KEY', ExitCode.WRONG_KEY, message, options);
  }
}

export class IncompleteBackupError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('INCOMPLETE', ExitCode.INCOMPLETE, message, options);
  }
}

export class NotABackupError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('NOT_A_BACKUP', ExitCode.NOT_A_BACKUP, message, options);
  }
}

export class NotFoundError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('NOT_FOUND', ExitCode.NOT_FOUND, message, options);
  }
}

export class NoSpaceError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('NO_SPACE', ExitCode.NO_SPACE, message, options);
  }
}

export class RefusedError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('REFUSED', ExitCode.REFUSED, message, options);
  }
}

export class AlertDeliveryError extends BotctlError {
  constructor(message: string, options?: BotctlErrorOptions) {
    super('ALERT_FAILED', ExitCode.ALERT_FAILED, message, options);
  }
}

export class InterruptedError extends BotctlError {
  readonly signal: 'SIGINT' | 'SIGTERM';
  constructor(signal: 'SIGINT' | 'SIGTERM', options?: BotctlErrorOptions) {
    super('INTERRUPTED', signal === 'SIGINT' ? ExitCode.INTERRUPTED : ExitCode.TERMINATED, `interrupted by ${signal}; nothing was left half-written`, options);
    this.signal = signal;
  }
}

export function isBotctlError(error: unknown): error is BotctlError {
  return error instanceof BotctlError;
}

/**
 * The error itself when it is one, else an Error saying what was thrown. Not `instanceof Error`:
 * an error from another realm (Node's own, seen from a vm context such as Jest's) is no instance of
 * this realm's Error, and wrapping it would lose its code (ENOSPC) and so its meaning.
 */
export function asError(e: unknown): Error {
  return types.isNativeError(e) ? e : new Error(String(e));
}

/** Node's system errors carry a string code (ENOENT, ENOSPC, ...). */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Maps low-level I/O failures that users can act on to typed errors; returns others unchanged. */
export function classifyIoError(error: unknown, what: string): unknown {
  if (isBotctlError(error)) return error;
  const code = errnoCode(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new NoSpaceError(`no space left while writing ${what}`, {
      cause: error,
      hint: 'free disk space (botctl backup prune) or move BACKUP_LOCAL_DIR to a larger filesystem',
    });
  }
  if (code === 'EROFS') {
    return new BotctlError('READ_ONLY', ExitCode.FAILURE, `cannot change ${what}: it is on a read-only filesystem`, {
      cause: error,
      hint: 'the disk was remounted read-only (errors on the device?) or mounted so on purpose: check `dmesg` and the mount',
    });
  }
  if (code === 'EFBIG') {
    return new NoSpaceError(`${what} would exceed the largest file size allowed (EFBIG)`, { cause: error, hint: 'check `ulimit -f` and the filesystem' });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new BotctlError('PERMISSION', ExitCode.FAILURE, `permission denied while writing ${what}`, {
      cause: error,
      hint: 'check the owner and mode of the directory, or run botctl as the tenant user',
    });
  }
  return error;
}
