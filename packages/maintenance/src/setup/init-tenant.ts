import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { BotctlError, ExitCode, FieldCipher, NotFoundError, RefusedError, TENANT_NAME, tenantBaseDir } from '@botctl/core';
import { generateIdentityFile } from '../archive/encryption.js';

export interface InitTenantOptions {
  name: string;
  /** The env file to write (it must not exist); its folder is the tenant folder. */
  envFile: string;
  /** The settings template (.env.example). */
  templateFile: string;
  createdAt: string;
  /** The tenant's folder (the age identity goes there): by default tenantBaseDir(envFile). */
  dataDir?: string;
}

export interface InitTenantResult {
  env_file: string;
  identity_file: string;
  recipient: string;
  /** Settings the template leaves empty that are still empty: what the sysadmin fills in. */
  to_fill: string[];
}

/**
 * A new tenant's env file (0600, in a 0700 folder) from the template: its store name, a new age
 * identity (kept beside it, to be moved off the server) whose recipient encrypts the backups, and
 * a new DATA_ENCRYPTION_KEY. Nothing is overwritten; nothing secret is printed.
 */
export async function initTenant(o: InitTenantOptions): Promise<InitTenantResult> {
  if (!TENANT_NAME.test(o.name)) {
    throw new BotctlError('USAGE', ExitCode.USAGE, `"${o.name}" is not a tenant name`, {
      hint: 'use lower-case letters, digits, - and _ (e.g. toko1), at most 63',
    });
  }
  if (!fs.existsSync(o.templateFile)) {
    throw new NotFoundError(`the settings template ${o.templateFile} is missing`, {
      hint: 'run from a checkout or an installed release (it ships .env.example)',
    });
  }
  if (fs.existsSync(o.envFile))
    throw new RefusedError(`${o.envFile} already exists; refusing to overwrite a tenant's settings`, { hint: 'choose another --out, or edit that file' });
  await fsp.mkdir(path.dirname(o.envFile), { recursive: true, mode: 0o700 });
  // In the tenant's folder (an installed tenant's is /var/lib/botctl/NAME, not /etc).
  const dir = o.dataDir ?? tenantBaseDir(o.envFile);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const identityFile = path.join(dir, 'backup-identity.txt');
  const { recipient } = await generateIdentityFile(identityFile, o.createdAt);
  const set: Record<string, string> = {
    BOT_STORE_NAME: o.name,
    BACKUP_AGE_RECIPIENTS: recipient,
    DATA_ENCRYPTION_KEY: FieldCipher.generateKey(),
  };
  const lines = (await fsp.readFile(o.templateFile, 'utf8')).split('\n');
  const toFill: string[] = [];
  const out = lines.map((line) => {
    const m = /^(#?)([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m) return line;
    const [, hash, key, value] = m as unknown as [string, string, string, string];
    if (set[key] !== undefined) return `${key}=${set[key]}`;
    if (!hash && value === '') toFill.push(key);
    return line;
  });
  const header = [
    `# Tenant ${o.name}, created ${o.createdAt} by \`botctl init tenant\`.`,
    `# The age identity for restores is ${identityFile}: move it off this server.`,
    '',
  ];
  try {
    await fsp.writeFile(o.envFile, `${header.join('\n')}${out.join('\n')}`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    await fsp.rm(identityFile, { force: true });
    throw error;
  }
  return { env_file: o.envFile, identity_file: identityFile, recipient, to_fill: toFill };
}
