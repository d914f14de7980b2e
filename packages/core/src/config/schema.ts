import path from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { Secret } from '../secret.js';
import { isValidTimeZone } from '../time.js';

/**
 * Every setting botctl and the bot read, with the plan's names and defaults. Documented in
 * docs/configuration.md; keep the two in step.
 */

const empty = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const optionalString = () => z.preprocess(empty, z.string().trim().optional());

const secret = () => z.preprocess(empty, z.string().optional()).transform((v) => (v === undefined ? undefined : new Secret(v)));

function integer(def: number, min: number, max: number) {
  return z.preprocess(
    (v) => empty(v) ?? String(def),
    z
      .string()
      .trim()
      .regex(/^-?\d+$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`)),
  );
}

function bool(def: boolean) {
  return z.preprocess(
    (v) => {
      const e = empty(v);
      if (e === undefined) return def;
      if (typeof e !== 'string') return e;
      const s = e.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off'].includes(s)) return false;
      return e;
    },
    z.boolean({ error: 'must be true or false' }),
  );
}

const idList = () =>
  z.preprocess(
    empty,
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return [] as number[];
        const ids: number[] = [];
        for (const part of v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)) {
          if (!/^-?\d{1,20}$/.test(part)) {
            ctx.addIssue({ code: 'custom', message: `"${part}" is not a Telegram numeric id (comma-separated list expected)` });
            return z.NEVER;
          }
          ids.push(Number(part));
        }
        return ids;
      }),
  );

const csvList = () =>
  z.preprocess(
    empty,
    z
      .string()
      .optional()
      .transform((v) =>
        v === undefined
          ? []
          : v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
      ),
  );

/**
 * What is wrong with a BACKUP_OFFSITE_REMOTE value, if anything. It is `<remote>:<path>` as rclone
 * takes it (`b2:bucket/shop1`, `nas:/srv/backups`, `:sftp,host=nas:backups`); a connection
 * string must not carry a password or key, since rclone would see it as a command-line argument.
 */
/** `7d`, `2w`, `6m`, `1y2m3d4h`: restic's `--keep-within` durations (m = months). */
export function isRetentionDuration(v: string): boolean {
  return v !== '' && /^(\d+y)?(\d+m)?(\d+w)?(\d+d)?(\d+h)?$/.test(v);
}

/**
 * A name for the store made only of safe characters (folder names offsite, database comments):
 * `Toko Test 1` + database `shop1` gives `toko-test-1-shop1`.
 */
export function deriveStoreId(storeName: string, database: string | undefined): string {
  const slug = (s: string) =>
    s
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[^a-z0-9_]+/g, '-')
      .replace(/^-+|-+$/g, '');
  const id = [slug(storeName), database ? slug(database) : ''].filter(Boolean).join('-');
  return (id || 'store').slice(0, 64).replace(/-+$/g, '');
}

export function rcloneRemoteProblem(value: string): string | undefined {
  const colon = value.startsWith(':') ? value.indexOf(':', 1) : value.indexOf(':');
  if (value.startsWith('/') || value.startsWith('.') || colon <= 0) {
    return 'must be an rclone remote, <remote>:<path> (e.g. b2:my-bucket/shop1); for a mounted folder use BACKUP_OFFSITE_DIR';
  }
  const remote = value.slice(0, colon);
  const params = remote
    .split(',')
    .slice(1)
    .map((p) => p.split('=')[0]!.trim().toLowerCase().replace(/-/g, '_'));
  if (params.some((p) => /(pass|secret|token|key|credentials)/.test(p) && !p.endsWith('_file'))) {
    return 'must not contain a password, key or token (rclone would get it as a command-line argument): put it in rclone.conf (RCLONE_CONFIG) or RCLONE_CONFIG_<NAME>_PASS';
  }
  return undefined;
}

/** rclone settings that hold secrets (passwords, keys, tokens): scrubbed from every output. */
export function isRcloneSecretVariable(name: string): boolean {
  return /^RCLONE_/.test(name) && /(PASS|SECRET|TOKEN|KEY|ACCOUNT|CREDENTIALS|AUTH)/.test(name) && !/_FILE$/.test(name);
}

/** Every RCLONE_* variable (the tenant's .env and the environment): rclone's own configuration. */
function rcloneEnvOf(env: RawEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('RCLONE_') && typeof v === 'string') out[k] = v;
  return out;
}

const withDefault = (def: string) => z.preprocess((v) => empty(v) ?? def, z.string().trim());

const TOKEN = /^\d{3,}:[A-Za-z0-9_-]{20,}$/;
const tokenSecret = () =>
  z.preprocess(
    empty,
    z
      .string()
      .trim()
      .regex(TOKEN, 'does not look like a bot token from @BotFather (<digits>:<letters>)')
      .optional()
      .transform((v) => (v === undefined ? undefined : new Secret(v))),
  );

/** A cron expression (5 fields, or 6 with seconds first) that cron-parser accepts. */
const cronExpression = (def: string) =>
  withDefault(def).refine((v) => {
    try {
      CronExpressionParser.parse(v);
      return v.split(/\s+/).length >= 5;
    } catch {
      return false;
    }
  }, 'is not a cron expression (e.g. "* * * * *")');

/** The health check's checks, in report order (`HEALTH_SKIP_CHECKS` names them). */
export const HEALTH_CHECK_IDS = [
  'database',
  'telegram',
  'bot_process',
  'disk',
  'cpu',
  'memory',
  'log_size',
  'backup_age',
  'backup_offsite',
  'backup_verify',
  'backup_drill',
  'maintenance_lock',
  'backup_space',
  'jobs',
  'wal_archive',
] as const;

/** A postgres:// URL, kept as a Secret (it may hold a password). */
const postgresUrl = () =>
  z.preprocess(
    empty,
    z
      .string()
      .refine((v) => {
        try {
          const u = new URL(v);
          return u.protocol === 'postgres:' || u.protocol === 'postgresql:';
        } catch {
          return false;
        }
      }, 'must be a postgres:// or postgresql:// URL')
      .optional()
      .transform((v) => (v === undefined ? undefined : new Secret(v))),
  );

export const envSchema = z.object({
  DATABASE_URL: postgresUrl(),
  TELEGRAM_BOT_TOKEN: tokenSecret(),
  TELEGRAM_OWNER_IDS: idList(),
  TELEGRAM_ADMIN_IDS: idList(),
  OWNER_BOT_TOKEN: tokenSecret(),
  TELEGRAM_API_ROOT: withDefault('https://api.telegram.org').pipe(z.url({ error: 'must be an http(s) URL' })),
  BOT_STORE_NAME: withDefault('bot-auto-order').pipe(z.string().max(64, 'must be at most 64 characters')),
  BOT_TIMEZONE: withDefault('Asia/Jakarta').refine(isValidTimeZone, 'is not an IANA time zone (e.g. Asia/Jakarta)'),
  LOG_LEVEL: withDefault('INFO')
    .transform((v) => v.toUpperCase())
    .transform((v) => (v === 'WARNING' ? 'WARN' : v === 'CRITICAL' ? 'ERROR' : v))
    .pipe(z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR'], { error: 'must be DEBUG, INFO, WARNING or ERROR' })),
  BOT_LOG_PATH: withDefault('logs'),
  BOT_STATE_DIR: withDefault('state'),
  LOG_RETENTION_DAYS: z.preprocess(
    (v) => empty(v) ?? '90',
    z
      .string()
      .trim()
      .regex(/^\d+$/, 'must be a whole number of days')
      .transform(Number)
      .pipe(
        z.number().min(90, 'must be at least 90: the maintenance plan keeps logs at least 90 days before archiving them').max(36_500, 'must be at most 36500'),
      ),
  ),
  LOG_ARCHIVE_DIR: withDefault('backups/logs'),
  LOG_ROTATE_CRON: cronExpression('30 0 * * *'),
  MAINTENANCE_UPDATE_MAX_DAYS: integer(35, 1, 3650),
  DATA_ENCRYPTION_KEY: secret(),
  SNK_RETENTION_DAYS: integer(30, 1, 3650),

  BACKUP_ENCRYPTION_PASSWORD: secret().refine(
    (s) => s === undefined || s.length >= 12,
    'is too short: use at least 12 characters (or age recipients, see BACKUP_AGE_RECIPIENTS)',
  ),
  BACKUP_AGE_RECIPIENTS: csvList().refine(
    (list) => list.every((r) => /^age1[0-9a-z]{20,}$/.test(r)),
    'must be a comma-separated list of age public keys (age1...); make one with `botctl keygen`',
  ),
  BACKUP_AGE_IDENTITY_FILE: optionalString().refine(
    (v) => v === undefined || !/AGE-SECRET-KEY-/i.test(v),
    "holds an age secret key, not a file path: save the key in a file (0600, ideally on another machine) and put that file's path here; treat the pasted key as exposed and make a new one with `botctl keygen` if this file was shared",
  ),
  WAL_CLUSTER_ENV_FILE: optionalString(),
  WAL_ARCHIVE_TIMEOUT_SECONDS: integer(60, 1, 86_400),
  BACKUP_STORE_ID: optionalString().refine(
    (v) => v === undefined || /^[a-z0-9][a-z0-9_-]{0,63}$/.test(v),
    'must be 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit',
  ),
  BACKUP_LOCAL_DIR: withDefault('backups/local'),
  BACKUP_OFFSITE_DIR: withDefault('backups/offsite'),
  BACKUP_OFFSITE_REMOTE: optionalString().superRefine((v, ctx) => {
    if (v === undefined) return;
    const problem = rcloneRemoteProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  BACKUP_OFFSITE_REQUIRE_MOUNT: bool(false),
  BACKUP_EXTRA_FILES: csvList(),
  ENABLE_AUTO_BACKUP: bool(false),
  BACKUP_TIME: withDefault('00:00').refine((v) => /^([01]\d|2[0-3]):[0-5]\d$/.test(v), 'must be HH:MM (24-hour clock, in BOT_TIMEZONE)'),
  BACKUP_AUTOMATIC_OFFSITE: bool(true),
  ENABLE_AUTO_DRILL: bool(false),
  BACKUP_DRILL_CRON: cronExpression('0 4 1 * *'),
  BACKUP_DUMP_STALL_SECONDS: integer(600, 5, 86_400),
  BACKUP_CHECKSUM_MAX_MB: integer(16, 0, 1_048_576),
  BACKUP_COMPRESSION: withDefault('auto').refine(
    (v) => /^(auto|gzip(:[0-9])?|zstd(:(1[0-9]|[1-9]))?)$/.test(v),
    'must be auto, gzip or zstd, optionally with a level: gzip:1 … gzip:9, zstd:1 … zstd:19 (zstd needs the zstd program)',
  ),
  BACKUP_NICE: integer(19, 0, 19),
  BACKUP_KEEP: integer(7, 1, 100_000),
  BACKUP_KEEP_DAILY: integer(7, 0, 100_000),
  BACKUP_KEEP_WEEKLY: integer(4, 0, 100_000),
  BACKUP_KEEP_MONTHLY: integer(6, 0, 100_000),
  BACKUP_KEEP_YEARLY: integer(0, 0, 100_000),
  BACKUP_KEEP_WITHIN: optionalString().refine(
    (v) => v === undefined || isRetentionDuration(v),
    'must be a duration like 7d, 2w, 6m or 1y2m3d4h (y years, m months, w weeks, d days, h hours)',
  ),
  BACKUP_PRE_RESTORE_KEEP_DAYS: integer(14, 1, 3650),
  BACKUP_RESTORE_LOCK_TIMEOUT_SECONDS: integer(60, 1, 86_400),
  BACKUP_DRILL_ADMIN_URL: postgresUrl(),
  PG_BIN_DIR: optionalString(),

  ENABLE_AUTO_HEALTHCHECK: bool(true),
  HEALTHCHECK_INTERVAL_MINUTES: integer(5, 1, 1440),
  HEALTH_CPU_THRESHOLD: integer(80, 1, 100),
  HEALTH_MEMORY_THRESHOLD: integer(80, 1, 100),
  HEALTH_DISK_THRESHOLD: integer(85, 1, 100),
  LOG_USAGE_THRESHOLD_MB: integer(512, 1, 1_048_576),
  HEALTH_DB_TIMEOUT_SECONDS: integer(5, 1, 300),
  HEALTH_TELEGRAM_TIMEOUT_SECONDS: integer(10, 1, 300),
  HEALTH_HEARTBEAT_STALE_SECONDS: integer(180, 10, 86_400),
  HEALTH_BACKUP_WARN_HOURS: integer(26, 1, 8760),
  HEALTH_BACKUP_CRIT_HOURS: integer(50, 1, 8760),
  HEALTH_VERIFY_MAX_DAYS: integer(8, 1, 3650),
  HEALTH_DRILL_MAX_DAYS: integer(31, 1, 3650),
  HEALTH_LOCK_MAX_MINUTES: integer(180, 1, 10_080),
  HEALTH_JOB_WARN_FAILURES: integer(1, 1, 1000),
  HEALTH_JOB_CRIT_FAILURES: integer(3, 1, 1000),
  HEALTH_SKIP_CHECKS: csvList().refine(
    (list) => list.every((id) => (HEALTH_CHECK_IDS as readonly string[]).includes(id)),
    `must be a comma-separated list of check ids: ${HEALTH_CHECK_IDS.join(', ')}`,
  ),
  HEALTH_ALERT_AFTER: integer(2, 1, 100),
  HEALTH_ALERT_REMIND_HOURS: integer(4, 0, 720),
  HEALTH_QUIET_HOURS: optionalString().refine(
    (v) => v === undefined || /^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/.test(v),
    'must be HH:MM-HH:MM in BOT_TIMEZONE (e.g. 22:00-06:00)',
  ),
  ENABLE_OWNER_ALERTS: bool(true),
  ALERT_TIMEOUT_SECONDS: integer(60, 5, 600),

  PAKASIR_PROJECT_SLUG: optionalString(),
  PAKASIR_API_KEY: secret(),
  PAKASIR_BASE_URL: withDefault('https://app.pakasir.com').pipe(z.url({ error: 'must be an http(s) URL' })),
  PAKASIR_TIMEOUT_SECONDS: integer(15, 1, 120),
  PAKASIR_PUBLIC_DOMAIN: z.preprocess(empty, z.url({ error: 'must be an http(s) URL, e.g. https://app.pakasir.com' }).optional()),

  BOT_MODE: withDefault('polling').pipe(z.enum(['polling', 'webhook'], { error: 'must be polling or webhook' })),
  BOT_WEBHOOK_URL: optionalString().refine((v) => v === undefined || /^https?:\/\/\S+$/.test(v), 'must be an http(s) URL'),
  BOT_WEBHOOK_SECRET: secret().refine(
    (v) => v === undefined || /^[A-Za-z0-9_-]{16,256}$/.test(v.reveal()),
    "must be 16 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's secret_token rules)",
  ),
  BOT_HTTP_HOST: withDefault('127.0.0.1'),
  BOT_HTTP_PORT: integer(8080, 0, 65_535),
  PAYMENT_EXPIRY_MINUTES: integer(15, 1, 1440),
  DEPOSIT_MIN_AMOUNT: integer(10_000, 1, 100_000_000),
  ORDER_MAX_QUANTITY: integer(10, 1, 1000),
  DELIVERY_RETRY_LIMIT: integer(10, 1, 1000),
  BOT_PRODUCTS_PER_PAGE: integer(5, 1, 20),
  BOT_RATE_LIMIT_PER_MINUTE: integer(30, 1, 10_000),
  EXPIRED_PAYMENTS_CRON: cronExpression('* * * * *'),
  SNK_PURGE_CRON: cronExpression('0 3 * * *'),
  BOT_HEARTBEAT_SECONDS: integer(30, 1, 3600),
});

function databaseName(url: Secret | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return decodeURIComponent(new URL(url.reveal()).pathname.replace(/^\//, '')) || undefined;
  } catch {
    return undefined;
  }
}

function parseQuietHours(v: string): { from: number; to: number } {
  const [a, b] = v.split('-') as [string, string];
  const minutes = (hm: string) => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3, 5));
  return { from: minutes(a), to: minutes(b) };
}

export type RawEnv = Record<string, string | undefined>;
type Parsed = z.output<typeof envSchema>;

export type LogLevel = Parsed['LOG_LEVEL'];

export interface Config {
  /** Directory relative paths are resolved against: the env file's folder, or the working directory. */
  readonly baseDir: string;
  /** The env file the settings came from, when there was one (it is backed up as config). */
  readonly envFile: string | undefined;
  readonly databaseUrl: Secret | undefined;
  readonly telegram: {
    readonly botToken: Secret | undefined;
    readonly ownerIds: readonly number[];
    readonly adminIds: readonly number[];
    readonly ownerBotToken: Secret | undefined;
    readonly apiRoot: string;
  };
  readonly storeName: string;
  /**
   * What makes this tenant's archives its own wherever they are stored: BACKUP_STORE_ID, else
   * derived from BOT_STORE_NAME and the database name. Recorded in every manifest and sidecar;
   * the tenant's folder under a shared offsite destination.
   */
  readonly storeId: string;
  readonly timezone: string;
  readonly logLevel: LogLevel;
  readonly logPath: string;
  /** Small state files: health-check memory, alert delivery, the bot's heartbeat. */
  readonly stateDir: string;
  readonly dataEncryptionKey: Secret | undefined;
  readonly snkRetentionDays: number;
  readonly logs: {
    /** Daily files older than this many days are archived (never below the plan's 90). */
    readonly retentionDays: number;
    /** Encrypted monthly log archives (`logs-YYYY-MM.tar.gz.enc`). */
    readonly archiveDir: string;
    /** When the bot's own rotation job runs (in BOT_TIMEZONE). */
    readonly rotateCron: string;
  };
  /** `botctl status` warns when no `update`/`patch` journal entry is newer than this. */
  readonly updateMaxDays: number;
  /** Folder with pg_dump/pg_restore matching the server (else PATH). */
  readonly pgBinDir: string | undefined;
  /** WAL_CLUSTER_ENV_FILE: the env file of the cluster whose WAL archive and base backups hold this tenant (`restore --to-time`). */
  readonly walClusterEnvFile: string | undefined;
  /** WAL_ARCHIVE_TIMEOUT_SECONDS: `wal enable` sets PostgreSQL's archive_timeout to it (the recovery point on a quiet shop). */
  readonly walArchiveTimeoutSeconds: number;
  readonly backup: {
    readonly encryptionPassword: Secret | undefined;
    readonly ageRecipients: readonly string[];
    readonly ageIdentityFile: string | undefined;
    readonly localDir: string;
    readonly offsiteDir: string;
    /** `<rclone remote>:<path>`: offsite is this rclone remote instead of BACKUP_OFFSITE_DIR. */
    readonly offsiteRemote: string | undefined;
    /** Refuse to write to BACKUP_OFFSITE_DIR unless it is on a mounted filesystem of its own. */
    readonly offsiteRequireMount: boolean;
    /** Every `RCLONE_*` variable from the settings and the environment, handed to rclone. */
    readonly rcloneEnv: Readonly<Record<string, string>>;
    readonly extraFiles: readonly string[];
    readonly enableAuto: boolean;
    readonly time: string;
    readonly automaticOffsite: boolean;
    /** The bot runs the monthly restore drill itself (ENABLE_AUTO_DRILL, on BACKUP_DRILL_CRON). */
    readonly enableAutoDrill: boolean;
    readonly drillCron: string;
    readonly dumpStallSeconds: number;
    readonly checksumMaxBytes: number;
    /**
     * BACKUP_COMPRESSION: gzip (pg_dump compresses its dump; `level` is pg_dump's -Z, undefined:
     * its default) or zstd (pg_dump -Z0, the archive stream through the zstd program at `level`).
     */
    readonly compression: { readonly codec: 'auto' | 'gzip' | 'zstd'; readonly level: number | undefined };
    /** BACKUP_NICE: the CPU niceness of botctl, pg_dump and the compressor during a backup (0: unchanged); IO best-effort lowest when > 0. */
    readonly nice: number;
    /** Retention used by `backup prune` when no flags are given (and by the cron script). */
    readonly retention: {
      readonly keep: number;
      readonly daily: number;
      readonly weekly: number;
      readonly monthly: number;
      readonly yearly: number;
      readonly within: string | undefined;
    };
    readonly preRestoreKeepDays: number;
    /** How long a restore waits for one lock another session (the bot) holds on the target. */
    readonly restoreLockTimeoutSeconds: number;
    /**
     * A role that may create databases, for the drill's scratch database and `restore --new-db`
     * when DATABASE_URL's role may not (BACKUP_DRILL_ADMIN_URL).
     */
    readonly drillAdminUrl: Secret | undefined;
  };
  readonly health: {
    readonly enableAuto: boolean;
    readonly intervalMinutes: number;
    readonly cpuThreshold: number;
    readonly memoryThreshold: number;
    readonly diskThreshold: number;
    readonly logUsageThresholdMb: number;
    readonly dbTimeoutMs: number;
    readonly telegramTimeoutMs: number;
    readonly heartbeatStaleMs: number;
    readonly backupWarnHours: number;
    readonly backupCritHours: number;
    readonly verifyMaxDays: number;
    readonly drillMaxDays: number;
    readonly lockMaxMinutes: number;
    /** A bot job's failures in a row that make the `jobs` check a warning, then critical. */
    readonly jobWarnFailures: number;
    readonly jobCritFailures: number;
    readonly skipChecks: readonly string[];
    /** Consecutive failing runs before a warning is sent (critical: at once). */
    readonly alertAfter: number;
    readonly remindHours: number;
    /** Minutes since midnight in BOT_TIMEZONE; warnings wait until the end, criticals do not. */
    readonly quietHours: { readonly from: number; readonly to: number } | undefined;
  };
  /** `enabled`: ENABLE_OWNER_ALERTS; off, nothing is sent and status and preflight say so. */
  readonly alerts: { readonly enabled: boolean; readonly timeoutMs: number };
  readonly pakasir: {
    readonly projectSlug: string | undefined;
    readonly apiKey: Secret | undefined;
    readonly baseUrl: string;
    readonly timeoutMs: number;
    /** Where buyers can open the invoice's pay page (PAKASIR_PUBLIC_DOMAIN); no link when unset. */
    readonly publicDomain: string | undefined;
  };
  readonly bot: {
    readonly mode: 'polling' | 'webhook';
    /** Public https URL Telegram posts updates to (webhook mode). */
    readonly webhookUrl: string | undefined;
    readonly webhookSecret: Secret | undefined;
    /** Where the bot's HTTP endpoint (payment webhook, Telegram webhook) listens. */
    readonly httpHost: string;
    readonly httpPort: number;
    readonly paymentExpiryMinutes: number;
    readonly depositMinAmount: number;
    readonly orderMaxQuantity: number;
    /** Delivery attempts of a paid order (1, 2, 4 … minutes apart, at most 6 h) before the owners are told. */
    readonly deliveryRetryLimit: number;
    readonly productsPerPage: number;
    readonly rateLimitPerMinute: number;
    readonly expiredPaymentsCron: string;
    readonly snkPurgeCron: string;
    readonly heartbeatMs: number;
  };
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Pure: turns raw settings into a frozen, typed Config, or the list of every problem found.
 * Messages name the setting and never contain its value.
 */
export function parseConfig(env: RawEnv, opts: { baseDir: string; envFile?: string | undefined }): ConfigResult {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'settings'} ${issue.message}`);
    return { ok: false, problems };
  }
  const e = result.data;
  if (e.HEALTH_JOB_CRIT_FAILURES < e.HEALTH_JOB_WARN_FAILURES) {
    return { ok: false, problems: ['HEALTH_JOB_CRIT_FAILURES must not be less than HEALTH_JOB_WARN_FAILURES'] };
  }
  if (e.HEALTH_BACKUP_CRIT_HOURS <= e.HEALTH_BACKUP_WARN_HOURS) {
    return { ok: false, problems: ['HEALTH_BACKUP_CRIT_HOURS must be greater than HEALTH_BACKUP_WARN_HOURS'] };
  }
  if (e.BOT_MODE === 'webhook' && (!e.BOT_WEBHOOK_URL || !e.BOT_WEBHOOK_SECRET)) {
    return { ok: false, problems: ['BOT_MODE=webhook needs BOT_WEBHOOK_URL and BOT_WEBHOOK_SECRET'] };
  }
  const resolve = (p: string) => path.resolve(opts.baseDir, p);

  const config: Config = {
    baseDir: opts.baseDir,
    envFile: opts.envFile,
    databaseUrl: e.DATABASE_URL,
    telegram: {
      botToken: e.TELEGRAM_BOT_TOKEN,
      ownerIds: e.TELEGRAM_OWNER_IDS,
      adminIds: e.TELEGRAM_ADMIN_IDS,
      ownerBotToken: e.OWNER_BOT_TOKEN,
      apiRoot: e.TELEGRAM_API_ROOT.replace(/\/+$/, ''),
    },
    storeName: e.BOT_STORE_NAME,
    storeId: e.BACKUP_STORE_ID ?? deriveStoreId(e.BOT_STORE_NAME, databaseName(e.DATABASE_URL)),
    timezone: e.BOT_TIMEZONE,
    logLevel: e.LOG_LEVEL,
    logPath: resolve(e.BOT_LOG_PATH),
    stateDir: resolve(e.BOT_STATE_DIR),
    dataEncryptionKey: e.DATA_ENCRYPTION_KEY,
    snkRetentionDays: e.SNK_RETENTION_DAYS,
    logs: { retentionDays: e.LOG_RETENTION_DAYS, archiveDir: resolve(e.LOG_ARCHIVE_DIR), rotateCron: e.LOG_ROTATE_CRON },
    updateMaxDays: e.MAINTENANCE_UPDATE_MAX_DAYS,
    pgBinDir: e.PG_BIN_DIR === undefined ? undefined : resolve(e.PG_BIN_DIR),
    walClusterEnvFile: e.WAL_CLUSTER_ENV_FILE === undefined ? undefined : resolve(e.WAL_CLUSTER_ENV_FILE),
    walArchiveTimeoutSeconds: e.WAL_ARCHIVE_TIMEOUT_SECONDS,
    backup: {
      encryptionPassword: e.BACKUP_ENCRYPTION_PASSWORD,
      ageRecipients: e.BACKUP_AGE_RECIPIENTS,
      ageIdentityFile: e.BACKUP_AGE_IDENTITY_FILE === undefined ? undefined : resolve(e.BACKUP_AGE_IDENTITY_FILE),
      localDir: resolve(e.BACKUP_LOCAL_DIR),
      offsiteDir: resolve(e.BACKUP_OFFSITE_DIR),
      offsiteRemote: e.BACKUP_OFFSITE_REMOTE,
      offsiteRequireMount: e.BACKUP_OFFSITE_REQUIRE_MOUNT,
      rcloneEnv: rcloneEnvOf(env),
      extraFiles: e.BACKUP_EXTRA_FILES.map(resolve),
      enableAuto: e.ENABLE_AUTO_BACKUP,
      time: e.BACKUP_TIME,
      enableAutoDrill: e.ENABLE_AUTO_DRILL,
      drillCron: e.BACKUP_DRILL_CRON,
      automaticOffsite: e.BACKUP_AUTOMATIC_OFFSITE,
      dumpStallSeconds: e.BACKUP_DUMP_STALL_SECONDS,
      checksumMaxBytes: e.BACKUP_CHECKSUM_MAX_MB * 1024 * 1024,
      compression: compressionOf(e.BACKUP_COMPRESSION),
      nice: e.BACKUP_NICE,
      retention: {
        keep: e.BACKUP_KEEP,
        daily: e.BACKUP_KEEP_DAILY,
        weekly: e.BACKUP_KEEP_WEEKLY,
        monthly: e.BACKUP_KEEP_MONTHLY,
        yearly: e.BACKUP_KEEP_YEARLY,
        within: e.BACKUP_KEEP_WITHIN,
      },
      preRestoreKeepDays: e.BACKUP_PRE_RESTORE_KEEP_DAYS,
      restoreLockTimeoutSeconds: e.BACKUP_RESTORE_LOCK_TIMEOUT_SECONDS,
      drillAdminUrl: e.BACKUP_DRILL_ADMIN_URL,
    },
    health: {
      enableAuto: e.ENABLE_AUTO_HEALTHCHECK,
      intervalMinutes: e.HEALTHCHECK_INTERVAL_MINUTES,
      cpuThreshold: e.HEALTH_CPU_THRESHOLD,
      memoryThreshold: e.HEALTH_MEMORY_THRESHOLD,
      diskThreshold: e.HEALTH_DISK_THRESHOLD,
      logUsageThresholdMb: e.LOG_USAGE_THRESHOLD_MB,
      dbTimeoutMs: e.HEALTH_DB_TIMEOUT_SECONDS * 1000,
      telegramTimeoutMs: e.HEALTH_TELEGRAM_TIMEOUT_SECONDS * 1000,
      heartbeatStaleMs: e.HEALTH_HEARTBEAT_STALE_SECONDS * 1000,
      backupWarnHours: e.HEALTH_BACKUP_WARN_HOURS,
      backupCritHours: e.HEALTH_BACKUP_CRIT_HOURS,
      verifyMaxDays: e.HEALTH_VERIFY_MAX_DAYS,
      drillMaxDays: e.HEALTH_DRILL_MAX_DAYS,
      lockMaxMinutes: e.HEALTH_LOCK_MAX_MINUTES,
      jobWarnFailures: e.HEALTH_JOB_WARN_FAILURES,
      jobCritFailures: e.HEALTH_JOB_CRIT_FAILURES,
      skipChecks: e.HEALTH_SKIP_CHECKS,
      alertAfter: e.HEALTH_ALERT_AFTER,
      remindHours: e.HEALTH_ALERT_REMIND_HOURS,
      quietHours: e.HEALTH_QUIET_HOURS === undefined ? undefined : parseQuietHours(e.HEALTH_QUIET_HOURS),
    },
    alerts: { enabled: e.ENABLE_OWNER_ALERTS, timeoutMs: e.ALERT_TIMEOUT_SECONDS * 1000 },
    pakasir: {
      projectSlug: e.PAKASIR_PROJECT_SLUG,
      apiKey: e.PAKASIR_API_KEY,
      baseUrl: e.PAKASIR_BASE_URL.replace(/\/+$/, ''),
      timeoutMs: e.PAKASIR_TIMEOUT_SECONDS * 1000,
      publicDomain: e.PAKASIR_PUBLIC_DOMAIN?.replace(/\/+$/, ''),
    },
    bot: {
      mode: e.BOT_MODE,
      webhookUrl: e.BOT_WEBHOOK_URL,
      webhookSecret: e.BOT_WEBHOOK_SECRET,
      httpHost: e.BOT_HTTP_HOST,
      httpPort: e.BOT_HTTP_PORT,
      paymentExpiryMinutes: e.PAYMENT_EXPIRY_MINUTES,
      depositMinAmount: e.DEPOSIT_MIN_AMOUNT,
      orderMaxQuantity: e.ORDER_MAX_QUANTITY,
      deliveryRetryLimit: e.DELIVERY_RETRY_LIMIT,
      productsPerPage: e.BOT_PRODUCTS_PER_PAGE,
      rateLimitPerMinute: e.BOT_RATE_LIMIT_PER_MINUTE,
      expiredPaymentsCron: e.EXPIRED_PAYMENTS_CRON,
      snkPurgeCron: e.SNK_PURGE_CRON,
      heartbeatMs: e.BOT_HEARTBEAT_SECONDS * 1000,
    },
  };
  return { ok: true, config: deepFreeze(config) };
}

/** Names of settings whose values are secrets: never printed, scrubbed from tool output. */
export const SECRET_SETTINGS = [
  'DATABASE_URL',
  'TELEGRAM_BOT_TOKEN',
  'OWNER_BOT_TOKEN',
  'DATA_ENCRYPTION_KEY',
  'BACKUP_ENCRYPTION_PASSWORD',
  'BACKUP_DRILL_ADMIN_URL',
  'PAKASIR_API_KEY',
  'BOT_WEBHOOK_SECRET',
] as const;

/** `zstd:3` → { codec: 'zstd', level: 3 }; a bare `zstd` is level 1 (docs/performance.md), a bare `gzip` pg_dump's default; `auto` is decided per backup (resolveCompression). */
function compressionOf(v: string): { codec: 'auto' | 'gzip' | 'zstd'; level: number | undefined } {
  const [codec, level] = v.split(':') as ['auto' | 'gzip' | 'zstd', string | undefined];
  return { codec, level: level !== undefined ? Number(level) : codec === 'zstd' ? 1 : undefined };
}
