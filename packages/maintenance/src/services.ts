import {
  type Clock,
  type Config,
  ConfigError,
  loadConfig,
  type Logger,
  OwnerAlerter,
  ownerBotApi,
  PakasirGateway,
  type PaymentGateway,
  type Redactor,
  type Secret,
  type ReliableBotApi,
  shopBotApi,
  systemClock,
} from '@botctl/core';
import { type ArchiveDecryption, type ArchiveEncryption, createArchiveDecryption, createArchiveEncryption } from './archive/encryption.js';
import { PgDumper } from './backup/dumper.js';
import type { HealthDeps, WalHealthInputs } from './health/checks.js';
import { realSystem } from './health/system.js';
import { acquireLock, type HeldLock } from './lock/maintenance-lock.js';
import { LocalDirStorage } from './storage/local-dir-storage.js';
import { type OffsiteStorage, offsiteStorage } from './storage/offsite-storage.js';
import type { WalStores } from './wal/wal-archive.js';
import type { PointInTimeDeps } from './wal/point-in-time.js';
import type { RestoreDeps } from './backup/restore-backup.js';
import { shippedPath } from '@botctl/core/shipped';

/** How long pg_dump waits for a table lock (the bot's writes) before it gives up. */
export const DUMP_LOCK_WAIT_SECONDS = 300;

export interface ServicesOptions {
  redactor: Redactor;
  log: Logger;
  clock?: Clock;
  /** Aborts the owner alerter's retries (a stopping bot, an interrupted command). */
  signal?: AbortSignal;
  /** Said to the person at the terminal (or the bot's log) besides the log, e.g. a fallback token. */
  warn?: (message: string) => void;
}

/**
 * The composition root: everything the maintenance code and the bot talk to, built from one
 * configuration in one place, each at first use and once. botctl's CliContext and the bot's app
 * both take their dependencies from here, so a client or a runner cannot drift between them.
 */
export class Services {
  readonly #o: ServicesOptions;
  readonly clock: Clock;

  constructor(
    readonly config: Config,
    options: ServicesOptions,
  ) {
    this.#o = options;
    this.clock = options.clock ?? systemClock;
  }

  #local: LocalDirStorage | undefined;
  /** BACKUP_LOCAL_DIR. */
  get local(): LocalDirStorage {
    this.#local ??= new LocalDirStorage(this.config.backup.localDir, 'local');
    return this.#local;
  }

  #offsite: { storage: OffsiteStorage | undefined } | undefined;
  /** BACKUP_OFFSITE_REMOTE (rclone) when set, else the BACKUP_OFFSITE_DIR folder; none when neither. */
  get offsite(): OffsiteStorage | undefined {
    this.#offsite ??= { storage: offsiteStorage(this.config, this.#o.redactor) };
    return this.#offsite.storage;
  }

  /**
   * A cluster's WAL archive (its own env file: a cluster is shared by tenants):
   * `<BACKUP_LOCAL_DIR>/wal` and `<offsite destination>/<store id>/wal`.
   */
  walStores(): WalStores {
    return { local: this.local.sub('wal'), offsite: this.offsite?.sub('wal') };
  }

  /** A cluster's base backups: `<BACKUP_LOCAL_DIR>/base` and `<offsite destination>/<store id>/base`. */
  baseStores(): { local: LocalDirStorage; offsite: OffsiteStorage | undefined } {
    return { local: this.local.sub('base'), offsite: this.offsite?.sub('base') };
  }

  #cluster: Services | undefined;
  /** The cluster this tenant's database lives in (WAL_CLUSTER_ENV_FILE), read at first use. */
  #clusterServices(envFile: string): Services {
    this.#cluster ??= new Services(loadConfig({ envFile }).config, this.#o);
    return this.#cluster;
  }

  /**
   * What `restore --to-time` and the point-in-time drill need: this tenant (its safe restore
   * path) and its cluster (WAL_CLUSTER_ENV_FILE: the WAL archive, the base backups, their key).
   * PostgreSQL's recovery runs this botctl (`wal fetch`) as restore_command.
   */
  async pointInTimeDeps(restore: RestoreDeps, load: { env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<PointInTimeDeps> {
    const envFile = this.config.walClusterEnvFile;
    if (!envFile) {
      throw new ConfigError(['WAL_CLUSTER_ENV_FILE is not set: the env file of the cluster whose WAL archive and base backups hold this database'], {
        hint: 'see docs/runbooks/point-in-time.md',
      });
    }
    const cluster = new Services(loadConfig({ envFile, ...load }).config, this.#o);
    return {
      cluster: { config: cluster.config, base: cluster.baseStores(), wal: cluster.walStores(), decryption: await createArchiveDecryption(cluster.config) },
      restore,
      encryption: this.encryption(),
      dumperFor: (url) => this.dumper(url),
      botctl: [process.execPath, '--', shippedPath('cli')],
    };
  }

  /** What the health check reads of this cluster's archive (this Services built from a cluster env file). */
  walHealth(): WalHealthInputs {
    return { cluster: this.config, stores: this.walStores(), base: this.baseStores() };
  }

  /** WAL is encrypted to age recipients only: a passphrase would cost a scrypt run per segment. */
  walEncryption(): ArchiveEncryption {
    if (this.config.backup.ageRecipients.length === 0) {
      throw new ConfigError(['WAL archiving needs BACKUP_AGE_RECIPIENTS in the cluster env file'], {
        hint: 'make a key with `botctl keygen -o FILE` and put its recipient (age1…) in BACKUP_AGE_RECIPIENTS; keep the identity off this host',
      });
    }
    return createArchiveEncryption(this.config);
  }

  /** The tenant's maintenance lock (one backup, restore, prune or rotation at a time). */
  lock = (command: string): HeldLock => acquireLock(this.config.backup.localDir, command, this.clock, this.config.timezone);

  /** pg_dump of the shop's database, or of another (a restore's safety copy of its target). */
  dumper(databaseUrl: Secret = this.config.databaseUrl!): PgDumper {
    return new PgDumper({
      databaseUrl,
      redactor: this.#o.redactor,
      binDir: this.config.pgBinDir,
      lockWaitTimeoutSeconds: DUMP_LOCK_WAIT_SECONDS,
      checksumMaxBytes: this.config.backup.checksumMaxBytes,
      nice: this.config.backup.nice,
    });
  }

  encryption = (): ArchiveEncryption => createArchiveEncryption(this.config);

  #decryption: Promise<ArchiveDecryption> | undefined;
  /** The identities of BACKUP_AGE_IDENTITY_FILE / the passphrase, read once. */
  decryption = (): Promise<ArchiveDecryption> => {
    this.#decryption ??= createArchiveDecryption(this.config);
    return this.#decryption;
  };

  #shopApi: { api: ReliableBotApi | undefined } | undefined;
  /** The shop bot's Bot API (TELEGRAM_BOT_TOKEN) through the one retry policy; none without a token. */
  get shopApi(): ReliableBotApi | undefined {
    this.#shopApi ??= { api: shopBotApi(this.config, { log: this.#o.log }) };
    return this.#shopApi.api;
  }

  #ownerApi: { api: ReliableBotApi | undefined } | undefined;
  /** The notification bot (OWNER_BOT_TOKEN, else the shop bot's token). */
  get ownerApi(): ReliableBotApi | undefined {
    this.#ownerApi ??= { api: ownerBotApi(this.config, { log: this.#o.log }) };
    return this.#ownerApi.api;
  }

  /** The owners' alerts, within ALERT_TIMEOUT_MS; `signal` overrides the one given at start. */
  alerter(signal: AbortSignal | undefined = this.#o.signal): OwnerAlerter {
    return new OwnerAlerter({
      config: this.config,
      log: this.#o.log,
      ...(this.#o.warn ? { warn: this.#o.warn } : {}),
      budgetMs: this.config.alerts.timeoutMs,
      ...(signal ? { signal } : {}),
    });
  }

  /** What the health checks read: the storages, the clock, this machine, the shop bot's API. */
  healthInputs(signal: AbortSignal | undefined = this.#o.signal): HealthDeps {
    const api = this.shopApi;
    const clusterEnv = this.config.walClusterEnvFile;
    return {
      config: this.config,
      local: this.local,
      offsite: this.offsite,
      clock: this.clock,
      system: realSystem,
      ...(clusterEnv ? { wal: () => this.#clusterServices(clusterEnv).walHealth() } : {}),
      redactor: this.#o.redactor,
      ...(api ? { botApi: api } : {}),
      ...(signal ? { signal } : {}),
    };
  }

  /** True when PAKASIR_PROJECT_SLUG and PAKASIR_API_KEY are set. */
  get gatewayConfigured(): boolean {
    return Boolean(this.config.pakasir.projectSlug && this.config.pakasir.apiKey);
  }

  #gateway: PaymentGateway | undefined;
  /** Pakasir. Unconfigured, each call fails with GatewayError('unconfigured'), which the shop tells the buyer. */
  get gateway(): PaymentGateway {
    const p = this.config.pakasir;
    this.#gateway ??= new PakasirGateway({
      baseUrl: p.baseUrl,
      project: p.projectSlug,
      apiKey: p.apiKey,
      timeoutMs: p.timeoutMs,
      publicDomain: p.publicDomain,
    });
    return this.#gateway;
  }
}

export const createServices = (config: Config, options: ServicesOptions): Services => new Services(config, options);
