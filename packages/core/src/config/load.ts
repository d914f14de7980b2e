import fs from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError } from '../errors.js';
import { Redactor } from '../secret.js';
import { type Config, isRcloneSecretVariable, parseConfig, type RawEnv } from './schema.js';

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
}

function readEnvFile(file: string): RawEnv {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError([`cannot read env file ${file}: ${code === 'ENOENT' ? 'no such file' : code ?? 'unreadable'}`], {
      hint: 'pass an existing file to --env-file, or unset it to use the environment and ./.env',
    });
  }
  return parseEnv(text) as RawEnv;
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
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  let merged: RawEnv;
  let envFile: string | undefined;
  let baseDir = cwd;
  if (options.envFile) {
    envFile = path.resolve(cwd, options.envFile);
    merged = { ...env, ...readEnvFile(envFile) };
    baseDir = path.dirname(envFile);
  } else {
    const dotenv = path.join(cwd, '.env');
    if (fs.existsSync(dotenv)) {
      envFile = dotenv;
      merged = { ...readEnvFile(dotenv), ...env };
    } else {
      merged = { ...env };
    }
  }
  const result = parseConfig(merged, { baseDir, envFile });
  if (!result.ok) throw new ConfigError(result.problems);
  const redactor = new Redactor();
  const c = result.config;
  for (const s of [c.databaseUrl, c.telegram.botToken, c.telegram.ownerBotToken, c.dataEncryptionKey, c.backup.encryptionPassword, c.pakasir.apiKey, c.bot.webhookSecret]) {
    redactor.add(s);
  }
  for (const [name, value] of Object.entries(c.backup.rcloneEnv)) if (isRcloneSecretVariable(name)) redactor.add(value);
  if (c.databaseUrl) {
    try {
      redactor.add(decodeURIComponent(new URL(c.databaseUrl.reveal()).password));
    } catch {
      // the schema already checked the URL parses
    }
  }
  return { config: c, redactor };
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
          problems.push(
            'no backup encryption configured: set BACKUP_AGE_RECIPIENTS (recommended; `botctl keygen` makes a key) or BACKUP_ENCRYPTION_PASSWORD',
          );
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
