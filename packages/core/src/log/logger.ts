import fs from 'node:fs';
import path from 'node:path';
import type { LogLevel } from '../config/schema.js';
import { type Redactor, redactPatterns } from '../secret.js';
import { type Clock, systemClock, zonedDate, zonedDateTime } from '../time.js';

export type { LogLevel };

const ORDER: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40 };

/** `[2025-11-15 02:00:00] [INFO] Backup database selesai: ...` (the plan's format), in `timeZone`. */
export function formatLogLine(date: Date, level: LogLevel, message: string, timeZone: string): string {
  const oneLine = message.replace(/\r?\n/g, ' | ');
  return `[${zonedDateTime(date, timeZone)}] [${level}] ${oneLine}`;
}

export const LOG_LINE = /^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] \[(DEBUG|INFO|WARN|ERROR)\] (.*)$/;

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  log(level: LogLevel, message: string): void;
}

export interface LogSink {
  write(line: string, date: Date): void;
}

/**
 * One file per day per service: `<dir>/YYYY-MM-DD.log`, the day taken in `timeZone`, so a
 * long-running process switches files at local midnight. Each line is one O_APPEND write, which
 * keeps lines whole when several processes (bot, cron botctl) log to the same file.
 */
export class DailyFileSink implements LogSink {
  readonly dir: string;
  readonly #timeZone: string;
  #madeDir = false;

  constructor(dir: string, timeZone: string) {
    this.dir = dir;
    this.#timeZone = timeZone;
  }

  fileFor(date: Date): string {
    return path.join(this.dir, `${zonedDate(date, this.#timeZone)}.log`);
  }

  write(line: string, date: Date): void {
    if (!this.#madeDir) {
      fs.mkdirSync(this.dir, { recursive: true });
      this.#madeDir = true;
    }
    fs.appendFileSync(this.fileFor(date), `${line}\n`);
  }
}

const JOURNAL_PRIORITY: Record<string, string> = { DEBUG: '<7>', INFO: '<6>', WARN: '<4>', ERROR: '<3>' };

export class StreamSink implements LogSink {
  readonly #stream: NodeJS.WritableStream;
  readonly #journal: boolean;
  /** `journal`: the stream is the systemd journal; each line gets its level's priority prefix. */
  constructor(stream: NodeJS.WritableStream, opts: { journal?: boolean } = {}) {
    this.#stream = stream;
    this.#journal = opts.journal === true;
  }
  write(line: string): void {
    const pri = this.#journal ? (JOURNAL_PRIORITY[LOG_LINE.exec(line)?.[2] ?? ''] ?? '') : '';
    this.#stream.write(`${pri}${line}\n`);
  }
}

/**
 * True when file descriptor `fd` is the systemd journal stream (JOURNAL_STREAM names its
 * device:inode), as under a systemd service whose output goes to the journal.
 */
export function isJournalStream(fd: number, env: Record<string, string | undefined> = process.env): boolean {
  const named = env.JOURNAL_STREAM;
  if (!named) return false;
  try {
    const st = fs.fstatSync(fd);
    return named === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

export interface LoggerOptions {
  timeZone: string;
  level?: LogLevel;
  clock?: Clock;
  redactor?: Redactor;
  sinks: LogSink[];
  /** Called when a sink throws: logging must never take the program down. */
  onSinkError?: (error: unknown) => void;
}

export function createLogger(options: LoggerOptions): Logger {
  const min = ORDER[options.level ?? 'INFO'];
  const clock = options.clock ?? systemClock;
  const scrub = (m: string) => (options.redactor ? options.redactor.redact(m) : redactPatterns(m));
  const log = (level: LogLevel, message: string) => {
    if (ORDER[level] < min) return;
    const now = clock.now();
    const line = formatLogLine(now, level, scrub(message), options.timeZone);
    for (const sink of options.sinks) {
      try {
        sink.write(line, now);
      } catch (error) {
        options.onSinkError?.(error);
      }
    }
  };
  return {
    log,
    debug: (m) => log('DEBUG', m),
    info: (m) => log('INFO', m),
    warn: (m) => log('WARN', m),
    error: (m) => log('ERROR', m),
  };
}

/** One logger writing to several: the bot's maintenance lines go to its log and to logs/maintenance/. */
export function teeLogger(...loggers: Logger[]): Logger {
  const log = (level: LogLevel, m: string) => {
    for (const l of loggers) l.log(level, m);
  };
  return { log, debug: (m) => log('DEBUG', m), info: (m) => log('INFO', m), warn: (m) => log('WARN', m), error: (m) => log('ERROR', m) };
}

export const silentLogger: Logger = {
  log: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/** Where each service writes its daily files, under BOT_LOG_PATH. */
export function serviceLogDir(logPath: string, service: 'maintenance' | 'bot-order' | string): string {
  return path.join(logPath, service);
}
