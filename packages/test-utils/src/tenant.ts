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

export interface TenantOptions {
  cluster: EphemeralCluster;
  parentDir: string;
  mode?: 'recipients' | 'passphrase';
  seed?: boolean;
  scale?: number;
  extraEnv?: Record<string, string>;
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
  let settings: Record<string, string> = {
    DATABASE_URL: databaseUrl.reveal(),
    BOT_STORE_NAME: `Toko Test ${n}`,
    BOT_TIMEZONE: 'Asia/Jakarta',
    DATA_ENCRYPTION_KEY: dataKey,
    BACKUP_LOCAL_DIR: 'backups/local',
    BACKUP_OFFSITE_DIR: 'backups/offsite',
    BOT_LOG_PATH: 'logs',
    ...(opts.mode === 'passphrase'
      ? { BACKUP_ENCRYPTION_PASSWORD: passphrase }
      : { BACKUP_AGE_RECIPIENTS: recipient, BACKUP_AGE_IDENTITY_FILE: identityFile }),
    ...opts.extraEnv,
  };
  const envFile = path.join(dir, '.env');
  const write = () =>
    fs.writeFileSync(envFile, `${Object.entries(settings).map(([k, v]) => `${k}=${v}`).join('\n')}\n`, { mode: 0o600 });
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
    offsiteDir: path.join(dir, 'backups', 'offsite'),
    offsiteStoreDir: path.join(dir, 'backups', 'offsite', deriveStoreId(settings.BOT_STORE_NAME!, dbName)),
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
