import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createSql,
  type EphemeralCluster,
  FieldCipher,
  formatLogLine,
  isoWithOffset,
  migrate,
  redactDatabaseUrl,
  Secret,
  seedDemo,
  startEphemeralCluster,
  systemClock,
  zonedDate,
} from '@botctl/core';
import { execa } from 'execa';
import { generateIdentityFile } from '@botctl/maintenance';
import type { Reporter } from '@botctl/maintenance';
import { shippedPath } from '@botctl/core/shipped';

export interface DemoOptions {
  keep: boolean;
  json: boolean;
  scale: number;
  /** Where the CLI's own output goes (the demo runs the real commands). */
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  color: boolean;
}

export interface DemoResult {
  ok: boolean;
  dir: string;
  kept: boolean;
  env_file: string;
  identity_file: string;
  database: string;
  seeded: Record<string, number>;
  commands: { command: string; exit_code: number; result?: unknown }[];
  /** The first step that did not end as it should. */
  failed?: { command: string; exit_code: number };
}

const MAIN = shippedPath('cli');
const TZ = 'Asia/Jakarta';

/**
 * `botctl demo`: a throwaway PostgreSQL with a sample shop, a tenant folder with its .env and an
 * age identity, then the real commands a sysadmin would type (backup create --offsite, verify,
 * list, drill, restore --new-db, status, healthcheck), run as separate botctl processes. Everything lives in one temp folder, removed at the
 * end unless --keep.
 */
export async function runDemo(reporter: Reporter, opts: DemoOptions): Promise<DemoResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'botctl-demo-'));
  fs.chmodSync(dir, 0o755);
  let cluster: EphemeralCluster | undefined;
  const commands: DemoResult['commands'] = [];
  try {
    reporter.step(`Demo folder: ${dir}`);
    reporter.step('Starting a throwaway PostgreSQL on 127.0.0.1 …');
    cluster = await startEphemeralCluster({ parentDir: dir });
    const dbUrl = await cluster.createDatabase('toko_demo');
    reporter.step(`PostgreSQL ${cluster.port} up; database toko_demo (${redactDatabaseUrl(dbUrl.reveal())})`);

    const dataKey = FieldCipher.generateKey();
    const cipher = FieldCipher.fromSecret(new Secret(dataKey));
    const sql = createSql(dbUrl, { max: 2 });
    let seeded;
    try {
      await migrate(sql);
      seeded = await seedDemo(sql, { cipher, scale: opts.scale });
    } finally {
      await sql.end({ timeout: 5 });
    }
    reporter.step(
      `Sample shop loaded: ${seeded.products} products, ${seeded.stockItems} encrypted stock items, ${seeded.users} buyers, ${seeded.orders} orders, ${seeded.deposits} deposits`,
    );

    const tenant = path.join(dir, 'toko-demo');
    const keys = path.join(dir, 'admin-laptop');
    fs.mkdirSync(path.join(tenant, 'logs', 'bot-order'), { recursive: true });
    fs.mkdirSync(keys, { recursive: true });
    const identityFile = path.join(keys, 'backup-identity.txt');
    const { recipient } = await generateIdentityFile(identityFile, isoWithOffset(systemClock.now(), TZ));
    const envFile = path.join(tenant, '.env');
    fs.writeFileSync(
      envFile,
      [
        '# Demo tenant written by `botctl demo`',
        `DATABASE_URL=${dbUrl.reveal()}`,
        'BOT_STORE_NAME=Toko Demo',
        `BOT_TIMEZONE=${TZ}`,
        `DATA_ENCRYPTION_KEY=${dataKey}`,
        `BACKUP_AGE_RECIPIENTS=${recipient}`,
        `BACKUP_AGE_IDENTITY_FILE=${identityFile}`,
        'BACKUP_LOCAL_DIR=backups/local',
        'BACKUP_OFFSITE_DIR=backups/offsite',
        'BOT_LOG_PATH=logs',
        '# No shop bot runs in the demo: its Telegram and process checks are left out.',
        'HEALTH_SKIP_CHECKS=telegram,bot_process,jobs',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const now = systemClock.now();
    fs.writeFileSync(
      path.join(tenant, 'logs', 'bot-order', `${zonedDate(now, TZ)}.log`),
      [
        formatLogLine(now, 'INFO', 'Bot started (long polling)', TZ),
        formatLogLine(now, 'INFO', '[expired_payments] 0 invoice kedaluwarsa dibersihkan', TZ),
        formatLogLine(now, 'INFO', '[snk] Purge 0 submission lebih lama dari 30 hari', TZ),
        '',
      ].join('\n'),
    );

    const runCli = async (args: string[]) => {
      const full = ['--env-file', envFile, ...args, ...(opts.json ? ['--json'] : []), ...(opts.color ? [] : ['--no-color'])];
      if (!opts.json) opts.stderr.write(`\n$ botctl ${['--env-file', envFile, ...args].join(' ')}\n`);
      const r = await execa(process.execPath, ['--', MAIN, ...full], {
        cwd: tenant,
        reject: false,
        stdin: 'ignore',
        stdout: opts.json ? 'pipe' : 'inherit',
        stderr: opts.json ? 'pipe' : 'inherit',
        env: { FORCE_COLOR: opts.color ? '1' : '0' },
      });
      let result: unknown;
      if (opts.json) {
        try {
          result = JSON.parse(String(r.stdout));
        } catch {
          result = String(r.stdout);
        }
      }
      commands.push({ command: `botctl ${args.join(' ')}`, exit_code: r.exitCode ?? 1, ...(opts.json ? { result } : {}) });
      return r.exitCode ?? 1;
    };

    // The whole promise, in the order a sysadmin would see it: a backup, proven readable (list after
    // verify shows it verified), restored into a scratch database by the drill with its row counts,
    // restored into a new database, then the health check and the checklist. The health check may
    // warn (offsite on the same disk); the checklist judges this demo honestly: no shop bot runs and
    // no owner is set, so those lines fail (2). Neither may be unable to look (3).
    const steps: { args: string[]; ok: (code: number) => boolean }[] = [
      { args: ['backup', 'create', '--offsite'], ok: (c) => c === 0 },
      { args: ['backup', 'verify', '--latest'], ok: (c) => c === 0 },
      { args: ['backup', 'list'], ok: (c) => c === 0 },
      { args: ['backup', 'drill', '--latest'], ok: (c) => c === 0 },
      { args: ['backup', 'restore', '--latest', '--new-db', 'toko_demo_restored'], ok: (c) => c === 0 },
      { args: ['healthcheck', '--no-alert'], ok: (c) => c <= 1 },
      { args: ['status'], ok: (c) => c <= 2 },
    ];
    let failed: { command: string; exit_code: number } | undefined;
    for (const s of steps) {
      const code = await runCli(s.args);
      if (!s.ok(code)) failed ??= { command: `botctl ${s.args.join(' ')}`, exit_code: code };
    }
    const ok = failed === undefined;

    if (!opts.json) {
      opts.stderr.write('\n');
      reporter.step('Where everything is:');
      for (const [what, where] of [
        ['tenant env file', envFile],
        ['local backups', path.join(tenant, 'backups', 'local')],
        ['offsite copies', path.join(tenant, 'backups', 'offsite')],
        ['maintenance log', path.join(tenant, 'logs', 'maintenance')],
        ['age identity (keep off the server)', identityFile],
        ['PostgreSQL data', cluster.dataDir],
      ] as const) {
        opts.stderr.write(`    ${what.padEnd(36)} ${where}\n`);
      }
      // The demo keeps everything in one folder; a real host would not.
      opts.stderr.write(
        `  ⚠ the offsite copies are on the same disk as the local backups here: not offsite. On a server, mount other storage at BACKUP_OFFSITE_DIR (with BACKUP_OFFSITE_REQUIRE_MOUNT=true) or use BACKUP_OFFSITE_REMOTE.\n`,
      );
    }
    return {
      ok,
      dir,
      kept: opts.keep,
      env_file: envFile,
      identity_file: identityFile,
      database: redactDatabaseUrl(dbUrl.reveal()),
      seeded: {
        products: seeded.products,
        users: seeded.users,
        stock_items: seeded.stockItems,
        orders: seeded.orders,
        deposits: seeded.deposits,
        snk_submissions: seeded.snkSubmissions,
      },
      commands,
      ...(failed ? { failed } : {}),
    };
  } finally {
    if (cluster) await cluster.stopServer();
    if (opts.keep) {
      reporter.step(`Kept ${dir} (PostgreSQL stopped). Remove it with: rm -rf ${dir}`);
    } else {
      await cluster?.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
      reporter.step(`Cleaned up ${dir}. To keep the folder and look around: botctl demo --keep`);
    }
  }
}
