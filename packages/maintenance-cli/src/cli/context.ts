import path from 'node:path';
import {
  type AlertDelivery,
  type Clock,
  type Config,
  createLogger,
  DailyFileSink,
  type LoadedConfig,
  loadConfig,
  type Logger,
  type OwnerAlerter,
  type Secret,
  sendOwnerAlert,
  Redactor,
  redactPatterns,
  type RawEnv,
  serviceLogDir,
  systemClock,
} from '@botctl/core';
import { Chalk, type ChalkInstance } from 'chalk';
import {
  type ArchiveDecryption,
  type ArchiveEncryption,
  createServices,
  type HealthDeps,
  type HeldLock,
  type LocalDirStorage,
  type OffsiteStorage,
  type PgDumper,
  type Reporter,
  type Services,
  silentReporter,
} from '@botctl/maintenance';
import { TextReporter } from '../reporter/text-reporter.js';

export interface GlobalOptions {
  envFile?: string | undefined;
  /** Every --env-file given (status reads several tenants). */
  envFiles?: string[];
  json?: boolean;
  color?: boolean;
  /** False with --no-alert: owners are not told about this run. */
  alert?: boolean;
  /** --scheduled: nobody is at a terminal (cron, a timer, the cron scripts). */
  scheduled?: boolean;
  /** --quiet: errors only (no result text, progress or warnings on the terminal). */
  quiet?: boolean;
}

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: RawEnv;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM with an InterruptedError as reason. */
  signal: AbortSignal;
  /** The clock every command reads (tests set one). */
  clock?: Clock;
  /**
   * True when stderr is the systemd journal (JOURNAL_STREAM names it): errors are then printed
   * with the `<3>` priority prefix and warnings with `<4>`, which the journal reads as levels.
   */
  journal?: () => boolean;
}

/**
 * Everything a command needs, built from the global options: configuration (loaded once, on
 * first use), output, reporter, clock, logs, storages. Commands stay thin: they turn flags into
 * options and call the library with what this gives them.
 */
export class CliContext {
  readonly io: Io;
  readonly options: GlobalOptions;
  readonly clock: Clock;
  readonly style: ChalkInstance;
  readonly tty: boolean;
  exitCode = 0;
  /** Set by `healthcheck`: failures exit 3 (UNKNOWN) in the Nagios convention, not botctl's codes. */
  nagios = false;
  #loaded: LoadedConfig | undefined;
  #journal: boolean | undefined;
  #log: Logger | undefined;

  constructor(options: GlobalOptions, io: Io, clock: Clock = io.clock ?? systemClock) {
    this.options = options;
    this.io = io;
    this.clock = clock;
    const noColor = options.color === false || io.env.NO_COLOR !== undefined || io.env.TERM === 'dumb';
    this.tty = Boolean(io.stderr.isTTY) && io.env.TERM !== 'dumb';
    this.style = new Chalk({ level: noColor || !io.stdout.isTTY ? 0 : 1 });
  }

  /**
   * Replaces the settings mid-command (`recover`: the .env comes back from the backup). Everything
   * built from the old settings (log, alerter, keys) is built again on next use.
   */
  useConfig(loaded: LoadedConfig): void {
    this.#loaded = loaded;
    this.#log = undefined;
    this.#alerter = undefined;
  }

  get json(): boolean {
    return Boolean(this.options.json);
  }

  get loaded(): LoadedConfig {
    if (!this.#loaded) {
      this.#loaded = loadConfig({ envFile: this.options.envFile, cwd: this.io.cwd, env: this.io.env });
      // Every command says it: a misspelt setting silently falling back to its default is how
      // backups end up kept for a day instead of a month.
      for (const w of this.#loaded.warnings) this.warn(w);
    }
    return this.#loaded;
  }

  get config(): Config {
    return this.loaded.config;
  }

  /** Scrubs secrets from text; works even when the configuration could not be loaded. */
  get redactor(): Redactor {
    try {
      return this.loaded.redactor;
    } catch {
      return new Redactor();
    }
  }

  get quiet(): boolean {
    return Boolean(this.options.quiet);
  }

  get reporter(): Reporter {
    if (this.json || this.quiet) return silentReporter;
    const errStyle = new Chalk({ level: this.style.level > 0 && this.io.stderr.isTTY ? 1 : 0 });
    return new TextReporter(this.io.stderr, errStyle, this.tty, this.#priority('<4>'));
  }

  /** `logs/maintenance/YYYY-MM-DD.log`: every maintenance action, in the plan's format. */
  get log(): Logger {
    if (!this.#log) {
      const c = this.config;
      const sink = new DailyFileSink(serviceLogDir(c.logPath, 'maintenance'), c.timezone);
      let warned = false;
      this.#log = createLogger({
        timeZone: c.timezone,
        level: c.logLevel,
        clock: this.clock,
        redactor: this.loaded.redactor,
        sinks: [sink],
        onSinkError: (error) => {
          if (warned) return;
          warned = true;
          this.io.stderr.write(`${this.#priority('<4>')}warning: cannot write the maintenance log in ${sink.dir}: ${(error as Error).message}\n`);
        },
      });
    }
    return this.#log;
  }

  #services: Services | undefined;
  /** The composition root for this run's configuration (rebuilt when `recover` reloads it). */
  get services(): Services {
    if (this.#services?.config !== this.config) {
      this.#services = createServices(this.config, { redactor: this.redactor, log: this.log, clock: this.clock, warn: (m) => this.warn(m) });
    }
    return this.#services;
  }

  get local(): LocalDirStorage {
    return this.services.local;
  }

  /** BACKUP_OFFSITE_REMOTE (rclone) when set, else the BACKUP_OFFSITE_DIR folder. */
  get offsite(): OffsiteStorage | undefined {
    return this.services.offsite;
  }

  lock = (command: string): HeldLock => this.services.lock(command);

  dumper = (databaseUrl?: Secret): PgDumper => this.services.dumper(databaseUrl);

  encryption = (): ArchiveEncryption => this.services.encryption();

  /** The health checks' inputs for this run (interrupted with it). */
  healthInputs = (): HealthDeps => this.services.healthInputs(this.io.signal);

  decryption = (): Promise<ArchiveDecryption> => this.services.decryption();

  /**
   * What the backup library (verify, restore, drill, prune) takes from the command line, built
   * in one place so the commands only add what is particular to them.
   */
  backupDeps() {
    return {
      config: this.config,
      local: this.local,
      offsite: this.offsite,
      reporter: this.reporter,
      log: this.log,
      clock: this.clock,
      lock: this.lock,
      decryption: this.decryption,
      redactor: this.redactor,
      signal: this.io.signal,
      pgBinDir: this.config.pgBinDir,
      env: this.io.env,
      dumperFor: this.dumper,
    };
  }

  /** A path for people: relative to the tenant folder when inside it. */
  displayPath(p: string): string {
    const rel = path.relative(this.config.baseDir, p);
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
  }

  /** True once `emit` printed the result: a failure after it adds no second JSON object. */
  resultEmitted = false;

  /** Prints the command's result: one JSON object with --json, else the rendered text. */
  emit(result: object, render: () => string): void {
    this.resultEmitted = true;
    if (this.json) this.io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else if (!this.quiet) {
      const text = render();
      if (text) this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  /**
   * Set by commands that report to the owners (backup create/verify/prune/restore/drill): what
   * the run is, in the owners' language. A failure after this is sent loud; `successAlert`, when
   * the command sets it at the end, is sent silent.
   */
  alertSubject: string | undefined;
  successAlert: string | undefined;
  /** The success alert is worth a sound (a drill that found broken shop rules). */
  successAlertLoud = false;
  /** A scheduled run (cron, timer): its interruption is an incident too. */
  scheduled = false;

  get alertsEnabled(): boolean {
    return this.options.alert !== false;
  }

  #alerter: OwnerAlerter | undefined;
  get alerter(): OwnerAlerter {
    // Once the run was interrupted, the alert about it still goes out (within its own budget).
    const signal = this.io.signal.aborted ? undefined : this.io.signal;
    if (this.#alerter && this.#alerterSignal !== signal) this.#alerter = undefined;
    this.#alerterSignal = signal;
    this.#alerter ??= this.services.alerter(signal);
    return this.#alerter;
  }
  #alerterSignal: AbortSignal | undefined;

  /** Scrubs secrets (configured values and URL passwords) from text meant for people. */
  scrub(text: string): string {
    return redactPatterns(this.redactor.redact(text));
  }

  /**
   * Tells the owners (silent for good news), records the outcome for `status`, and says on
   * stderr when nobody could be reached. Returns the delivery so the caller can fail on it.
   */
  async notifyOwners(text: string, opts: { silent: boolean }): Promise<AlertDelivery> {
    const delivery = await sendOwnerAlert(this.alerter, this.config.stateDir, this.scrub(text), {
      silent: opts.silent,
      now: this.clock.now(),
      onRecordError: (error) => this.warn(`cannot record the alert outcome in ${this.config.stateDir}: ${error.message}`),
    });
    if (delivery.configured && !delivery.ok) {
      this.io.stderr.write(
        `${this.#priority('<3>')}botctl: owner alert not delivered to anyone: ${delivery.failed.map((f) => `${f.chat_id}: ${f.reason}`).join('; ')}\n`,
      );
    }
    return delivery;
  }

  /** A warning for the person at the terminal (not with --quiet; what matters is in the log too). */
  warn(message: string): void {
    if (this.quiet) return;
    this.io.stderr.write(`${this.#priority('<4>')}${this.style.yellow('warning:')} ${message}\n`);
  }

  /** `prefix` when stderr is the systemd journal (its priority prefix), else nothing. */
  #priority(prefix: string): string {
    if (this.#journal === undefined) {
      try {
        this.#journal = this.io.journal?.() === true;
      } catch {
        this.#journal = false;
      }
    }
    return this.#journal ? prefix : '';
  }
}
