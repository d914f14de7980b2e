// Shared by the benchmark scripts: argument parsing, timing with peak RSS, a throwaway cluster
// with a shop database of a given size, and a tenant folder for botctl.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSql, migrate, startEphemeralCluster } from '../../packages/core/dist/index.js';
import { fillShop } from './shop-data.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const MAIN = path.resolve(here, '../../packages/maintenance-cli/dist/main.js');

export function option(name, def) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;

export /** Runs a command, returns wall seconds and the peak RSS (VmHWM) of the process itself. */
function timed(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let peakKb = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        // exited
      }
    }, 50);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} exited ${code}: ${stderr}`));
      else resolve({ secs, peakKb, stdout });
    });
  });
}

/** A throwaway cluster with a shop database of about `sizeMb`, and a tenant folder using it. */
export async function benchSetup(sizeMb) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'botctl-bench-'));
  fs.chmodSync(work, 0o755);
  const cluster = await startEphemeralCluster({ parentDir: work, settings: { shared_buffers: "'512MB'", max_wal_size: "'4GB'" } });
  const url = await cluster.createDatabase('bench_shop');
  const sql = createSql(url, { max: 1 });
  console.log(`Building a shop database of about ${sizeMb} MiB (PostgreSQL on 127.0.0.1:${cluster.port}) …`);
  const t0 = Date.now();
  await migrate(sql);
  const dbBytes = await fillShop(sql, { targetBytes: sizeMb * 1048576, log: (m) => console.log(m) });
  await sql.end();
  console.log(`  built ${mib(dbBytes)} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);

  const tenant = path.join(work, 'tenant');
  fs.mkdirSync(tenant);
  const identity = path.join(work, 'identity.txt');
  const keygen = await timed(process.execPath, ['--', MAIN, 'keygen', '--output', identity, '--json'], {});
  const recipient = JSON.parse(keygen.stdout).recipient;
  const envFile = path.join(tenant, '.env');
  fs.writeFileSync(
    envFile,
    `DATABASE_URL=${url.reveal()}\nBACKUP_AGE_RECIPIENTS=${recipient}\nBACKUP_AGE_IDENTITY_FILE=${identity}\nBACKUP_LOCAL_DIR=backups\nBOT_LOG_PATH=logs\n`,
    { mode: 0o600 },
  );
  return {
    work,
    cluster,
    url,
    dbBytes,
    tenant,
    envFile,
    async destroy() {
      await cluster.destroy();
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

export function machine() {
  return `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}
