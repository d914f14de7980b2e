import fs from 'node:fs';
import path from 'node:path';
import { createSql, deriveStoreId, type EphemeralCluster, FieldCipher, migrate, Secret, seedDemo, type SeedResult } from '@botctl/core';
import { Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';

export interface Tenant {
  dir: string;
  envFile: string;
  dbName: string;
  databaseUrl: Secret;
  identityFile: string;
  recipient: string;
  passphrase: string;
  dataKey: string;
  seeded: SeedResult | undefined;
  localDir: string;
  /** BACKUP_OFFSITE_DIR: the offsite root, shared by tenants that name the same one. */
  offsiteDir: string;
  /** This tenant's own folder in it, `<offsite root>/<store id>/`, where its archives go. */
  offsiteStoreDir: string;
  storeId: string;
  logDir: string;
  /** Rewrites the .env with these settings changed (undefined removes one). */
  setEnv(changes: Record<string, string | undefined>): void;
  env(): Record<string, string>;
}

let counter = 0;

/**
 * A folder on another filesystem than `near` (tmpfs /dev/shm where it is one), for an offsite
 * copy that is really elsewhere, as on a server with a mounted offsite share. Removed when this
 * process exits. Undefined when there is no such filesystem here.
 */
export function folderApart(near: string, label: string): string | undefined {
  const shm = '/dev/shm';
  try {
    if (fs.statSync(shm).dev === fs.statSync(near).dev) return undefined;
    const dir = fs.mkdtempSync(path.join(shm, `botctl-${label}-`));
    fs.chmodSync(dir, 0o777);
    apart.push(dir);
    return dir;
  } catch {
    return undefined;
  }
}
const apart: string[] = [];
process.once('exit', () => {
  for (const d of apart) fs.rmSync(d, { recursive: true, force: true });
});

export interface TenantOptions {
  cluster: EphemeralCluster;
  parentDir: string;
  mode?: 'recipients' | 'passphrase';
  seed?: boolean;
  scale?: number;
  extraEnv?: Record<string, string>;
  /**
   * `apart` (default): BACKUP_OFFSITE_DIR on another filesystem when there is one, as a real
   * offsite mount; `inside`: the plan's default `backups/offsite` in the tenant folder (the same
   * disk: health and status warn that it is not offsite).
   */
  offsite?: 'apart' | 'inside';
}

/**
 * A shop tenant the way a sysadmin sets one up: its own database (migrated, sample data), a
 * folder with .env, logs, and an age identity kept beside it (in real life: off the server).
 */
export async function createTenant(opts: TenantOptions): Promise<Tenant> {
  const n = ++counter;
  const dbName = `shop_${process.pid}_${n}`;
  const databaseUrl = await opts.cluster.createDatabase(dbName);
  const dir = path.join(opts.parentDir, `tenant-${n}`);
  fs.mkdirSync(path.join(dir, 'logs', 'bot-order'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'logs', 'bot-order', '2026-11-20.log'), '[2026-11-20 10:00:00] [INFO] Bot started\n');
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const identityFile = path.join(opts.parentDir, `identity-${n}.txt`);
  fs.writeFileSync(identityFile, `# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
  const dataKey = FieldCipher.generateKey();
  const passphrase = `correct horse battery staple ${n}`;
  let seeded: SeedResult | undefined;
  if (opts.seed !== false) {
    const sql = createSql(databaseUrl, { max: 2 });
    try {
      await migrate(sql);
      seeded = await seedDemo(sql, { cipher: FieldCipher.fromSecret(new Secret(dataKey)), scale: opts.scale ?? 1 });
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
  const offsiteDir = (opts.offsite !== 'inside' && folderApart(opts.parentDir, `offsite-${n}`)) || path.join(dir, 'backups', 'offsite');
  let settings: Record<string, string> = {
    DATABASE_URL: databaseUrl.reveal(),
    BOT_STORE_NAME: `Toko Test ${n}`,
    BOT_TIMEZONE: 'Asia/Jakarta',
    DATA_ENCRYPTION_KEY: dataKey,
    BACKUP_LOCAL_DIR: 'backups/local',
    BACKUP_OFFSITE_DIR: offsiteDir,
    BOT_LOG_PATH: 'logs',
    // Today's format unless a test asks for another: most tests read archives back with
    // `tar -z`. BACKUP_COMPRESSION=auto (the default) has tests of its own (backup.e2e).
    BACKUP_COMPRESSION: 'gzip',
    ...(opts.mode === 'passphrase' ? { BACKUP_ENCRYPTION_PASSWORD: passphrase } : { BACKUP_AGE_RECIPIENTS: recipient, BACKUP_AGE_IDENTITY_FILE: identityFile }),
    ...opts.extraEnv,
  };
  const envFile = path.join(dir, '.env');
  const write = () =>
    fs.writeFileSync(
      envFile,
      `${Object.entries(settings)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\n`,
      { mode: 0o600 },
    );
  write();
  return {
    dir,
    envFile,
    dbName,
    databaseUrl,
    identityFile,
    recipient,
    passphrase,
    dataKey,
    seeded,
    localDir: path.join(dir, 'backups', 'local'),
    offsiteDir: path.resolve(dir, settings.BACKUP_OFFSITE_DIR!),
    offsiteStoreDir: path.join(path.resolve(dir, settings.BACKUP_OFFSITE_DIR!), deriveStoreId(settings.BOT_STORE_NAME!, dbName)),
    storeId: deriveStoreId(settings.BOT_STORE_NAME!, dbName),
    logDir: path.join(dir, 'logs'),
    setEnv(changes) {
      const next = { ...settings };
      for (const [k, v] of Object.entries(changes)) {
        if (v === undefined) delete next[k];
        else next[k] = v;
      }
      settings = next;
      write();
    },
    env: () => ({ ...settings }),
  };
}

/** Encrypts bytes for a recipient the way botctl does (to craft archives in tests). */
export async function encryptFor(recipient: string, data: Uint8Array): Promise<Uint8Array> {
  const e = new Encrypter();
  e.addRecipient(recipient);
  return e.encrypt(data);
}

/** Everything botctl wrote to the tenant's `logs/maintenance/` daily files, in day order. */
export function maintenanceLog(t: Pick<Tenant, 'logDir'>): string {
  const dir = path.join(t.logDir, 'maintenance');
  if (!fs.existsSync(dir)) return '';
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort()
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .join('');
}

/** A new age X25519 identity and its recipient. */
export async function ageKeyPair(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}
