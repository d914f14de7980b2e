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
const mainAt = process.argv.indexOf('--main');
/** The botctl every benchmark runs: the checkout's, or (`--main …/lib/botctl.mjs` of an unpacked release) the installed bundle. */
export const MAIN = mainAt > 0 ? path.resolve(process.argv[mainAt + 1]) : path.resolve(here, '../../packages/maintenance-cli/dist/main.js');

export function option(name, def) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;

/** Every process below `pid` (children first), from /proc's children lists. */
function descendants(pid) {
  const out = [];
  const walk = (p) => {
    let kids = [];
    try {
      kids = fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      // exited
    }
    for (const k of kids) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}

/**
 * Runs a command, returns wall seconds, the peak RSS (VmHWM) of the command (or, with
 * `rssOf: 'node'`, of the Node process in its tree: botctl, not the bash around it), and, with
 * `cpu: true`, the user + system CPU seconds of the command and every process it waited for (bash's
 * `times`; the PostgreSQL server's own work is not in it, for either side).
 */
export function timed(cmd, args, env, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const [c, a] = opts.cpu ? ['bash', ['-c', '"$@"; rc=$?; times >&2; exit $rc', 'bash', cmd, ...args]] : [cmd, args];
    const child = spawn(c, a, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let peakKb = 0;
    const poll = setInterval(() => {
      const pids = opts.cpu || opts.rssOf ? descendants(child.pid) : [child.pid];
      for (const pid of pids) {
        try {
          const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
          if (opts.rssOf && !status.startsWith(`Name:\t${opts.rssOf}`)) continue;
          if (!opts.rssOf && opts.cpu && pid !== pids[0]) continue;
          const m = /VmHWM:\s+(\d+) kB/.exec(status);
          if (m) peakKb = Math.max(peakKb, Number(m[1]));
        } catch {
          // exited
        }
      }
    }, 50);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      let cpuSecs;
      if (opts.cpu) {
        // times: the shell's own user/system, then its children's, as "0m1.234s 0m0.056s".
        const lines = stderr.trim().split('\n');
        const toS = (x) => {
          const m = /^(\d+)m([\d.]+)s$/.exec(x);
          return m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN;
        };
        const [u, sy] = (lines.at(-1) ?? '').trim().split(/\s+/).map(toS);
        cpuSecs = u + sy;
        stderr = lines.slice(0, -2).join('\n');
      }
      if (code !== 0) reject(new Error(`${cmd} exited ${code}: ${stderr}`));
      else resolve({ secs, peakKb, stdout, cpuSecs });
    });
  });
}

/**
 * A throwaway cluster with a shop database of about `sizeMb`, and a tenant folder using it.
 * `durable`: the cluster runs with production durability (fsync, synchronous_commit and
 * full_page_writes on) instead of the test clusters' fast settings.
 */
export async function benchSetup(sizeMb, { durable = false } = {}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'botctl-bench-'));
  fs.chmodSync(work, 0o755);
  const cluster = await startEphemeralCluster({
    parentDir: work,
    fast: !durable,
    settings: { shared_buffers: "'512MB'", max_wal_size: "'4GB'" },
  });
  const url = await cluster.createDatabase('bench_shop');
  const sql = createSql(url, { max: 1 });
  console.log(`Building a shop database of about ${sizeMb} MiB (PostgreSQL on 127.0.0.1:${cluster.port}) …`);
  const t0 = Date.now();
  await migrate(sql);
  const dbBytes = await fillShop(sql, { targetBytes: sizeMb * 1048576, log: (m) => console.log(m) });
  // As on a shop that has run a while: vacuumed, hint bits set. Otherwise autovacuum works through
  // the fresh tables during the first timed runs and slows each by the same seconds.
  await sql.unsafe('VACUUM (FREEZE, ANALYZE)');
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
