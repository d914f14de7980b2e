import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { Redactor } from '../secret.js';
import { closestName, parseEnvFile } from './env-file.js';
import { tenantBaseDir } from './layout.js';
import { type Config, envSchema, isRcloneSecretVariable, parseConfig, type RawEnv } from './schema.js';

export interface LoadConfigOptions {
  /** `--env-file PATH`: the tenant's settings. Its values win over the process environment. */
  envFile?: string | undefined;
  cwd?: string;
  env?: RawEnv;
}

export interface LoadedConfig {
  config: Config;
  /** Knows every secret value in the settings, to scrub free text such as a tool's stderr. */
  redactor: Redactor;
  /** Worth telling on every command (an unknown key, a key set twice); never contain values. */
  warnings: string[];
}

/** Names an env file may hold besides ours: other tools' settings read from the same file. */
const FOREIGN_PREFIXES = ['RCLONE_', 'PG', 'COMPOSE_', 'DOCKER_', 'NODE_', 'BOTCTL_', 'LC_'];
const FOREIGN_NAMES = new Set(['TZ', 'LANG', 'NO_COLOR', 'TERM', 'HOME', 'PATH', 'USER']);

/** Every setting botctl and the bot read. */
export const KNOWN_SETTINGS: readonly string[] = Object.keys(envSchema.shape);

/** Warnings for keys no botctl setting has, with the closest name when it looks like a typo. */
export function unknownKeyWarnings(entries: { key: string; line: number }[], file: string): string[] {
  const known = new Set(KNOWN_SETTINGS);
  const out: string[] = [];
  for (const { key, line } of entries) {
    if (known.has(key) || FOREIGN_NAMES.has(key) || FOREIGN_PREFIXES.some((p) => key.startsWith(p))) continue;
    const near = closestName(key, KNOWN_SETTINGS);
    out.push(`${file} line ${line}: unknown setting ${key}${near ? ` (did you mean ${near}?)` : ''}; it is ignored`);
  }
  return out;
}

export interface ReadEnvFile {
  values: RawEnv;
  /** Lines that cannot be read unambiguously: the settings are refused. */
  problems: string[];
  warnings: string[];
}

/** Reads and parses one env file; every ambiguous line is a problem (the file is not guessed at). */
export function readEnvFile(file: string): ReadEnvFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      [`cannot read env file ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (code ?? 'unreadable')}`],
      {
        hint: 'pass an existing file to --env-file, or unset it to use the environment and ./.env',
      },
    );
  }
  const parsed = parseEnvFile(text, file);
  return { values: parsed.values, problems: parsed.problems, warnings: [...parsed.warnings, ...unknownKeyWarnings(parsed.entries, file)] };
}

export interface ConfigInspection {
  envFile: string | undefined;
  /** Everything that makes the settings unusable, each naming the setting (and line), never a value. */
  problems: string[];
  warnings: string[];
  /** Set when there are no problems. */
  loaded: LoadedConfig | undefined;
}

const ENV_FILE_HINT = "quote a value holding ' #' or '$' in single quotes; see docs/configuration.md";

/**
 * Reads the settings without throwing on what is wrong with them (`botctl config check`); only a
 * missing or unreadable env file throws. Precedence as in loadConfig.
 */
export function inspectConfig(options: LoadConfigOptions = {}): ConfigInspection {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  let merged: RawEnv;
  let envFile: string | undefined;
  let baseDir = cwd;
  const problems: string[] = [];
  const warnings: string[] = [];
  if (options.envFile) {
    envFile = path.resolve(cwd, options.envFile);
    const read = readEnvFile(envFile);
    problems.push(...read.problems);
    warnings.push(...read.warnings);
    merged = { ...env, ...read.values };
    baseDir = tenantBaseDir(envFile, env);
  } else {
    const dotenv = path.join(cwd, '.env');
    if (fs.existsSync(dotenv)) {
      envFile = dotenv;
      const read = readEnvFile(dotenv);
      problems.push(...read.problems);
      warnings.push(...read.warnings);
      merged = { ...read.values, ...env };
    } else {
      merged = { ...env };
    }
  }
  const result = parseConfig(merged, { baseDir, envFile });
  if (!result.ok) problems.push(...result.problems);
  if (problems.length > 0 || !result.ok) return { envFile, problems, warnings, loaded: undefined };
  const redactor = new Redactor();
  const c = result.config;
  for (const s of [
    c.databaseUrl,
    c.backup.drillAdminUrl,
    c.telegram.botToken,
    c.telegram.ownerBotToken,
    c.dataEncryptionKey,
    c.backup.encryptionPassword,
    c.pakasir.apiKey,
    c.bot.webhookSecret,
  ]) {
    redactor.add(s);
  }
  for (const [name, value] of Object.entries(c.backup.rcloneEnv)) if (isRcloneSecretVariable(name)) redactor.add(value);
  for (const url of [c.databaseUrl, c.backup.drillAdminUrl]) {
    if (!url) continue;
    try {
      redactor.add(decodeURIComponent(new URL(url.reveal()).password));
    } catch {
      // the schema already checked the URL parses
    }
  }
  return { envFile, problems, warnings, loaded: { config: c, redactor, warnings } };
}

/**
 * The only place that reads settings from the outside world. Precedence:
 * - `--env-file PATH` given: the file's values override the process environment (a tenant file
 *   must not be silently overridden by whatever the shell exported); relative paths in it are
 *   resolved against the file's directory.
 * - otherwise `./.env` when present, under the process environment (dotenv convention);
 *   relative paths are resolved against the working directory.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const r = inspectConfig(options);
  if (!r.loaded) {
    const fromFile = r.problems.some((p) => / line \d+: /.test(p));
    throw new ConfigError(r.problems, fromFile ? { hint: ENV_FILE_HINT } : {});
  }
  return r.loaded;
}

export type Requirement = 'database' | 'encryption' | 'decryption' | 'telegram' | 'ownerAlerts';

/** Checks that the settings a command needs are present; reports every missing one at once. */
export function requireSettings(config: Config, needs: Requirement[]): void {
  const problems: string[] = [];
  for (const need of needs) {
    switch (need) {
      case 'database':
        if (!config.databaseUrl) problems.push('DATABASE_URL is not set (postgresql://user:password@host:port/db)');
        break;
      case 'encryption':
        if (!config.backup.encryptionPassword && config.backup.ageRecipients.length === 0) {
          problems.push('no backup encryption configured: set BACKUP_AGE_RECIPIENTS (recommended; `botctl keygen` makes a key) or BACKUP_ENCRYPTION_PASSWORD');
        }
        break;
      case 'decryption':
        if (!config.backup.encryptionPassword && !config.backup.ageIdentityFile) {
          problems.push('nothing to decrypt with: set BACKUP_AGE_IDENTITY_FILE (recipient mode) or BACKUP_ENCRYPTION_PASSWORD');
        }
        break;
      case 'telegram':
        if (!config.telegram.botToken) problems.push('TELEGRAM_BOT_TOKEN is not set');
        break;
      case 'ownerAlerts':
        if (!config.telegram.ownerBotToken && !config.telegram.botToken) problems.push('OWNER_BOT_TOKEN (or TELEGRAM_BOT_TOKEN) is not set');
        if (config.telegram.ownerIds.length === 0) problems.push('TELEGRAM_OWNER_IDS is empty');
        break;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
