#!/usr/bin/env node
// pnpm bench:backup [--size-mb 1024] [--runs 3]
//
// Builds a shop database of about --size-mb on a throwaway PostgreSQL, then times bare
// `pg_dump -Fc -f file` and `botctl backup create` alternately (recipient mode, --no-logs) and
// prints the medians, the wall-time ratio, the archive/dump size ratio and botctl's peak RSS.
// A benchmark prints figures; it asserts nothing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSql, findPgTool, libpqEnv, migrate, parseDatabaseUrl, startEphemeralCluster } from '../../packages/core/dist/index.js';
import { fillShop } from './shop-data.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, '../../packages/maintenance-cli/dist/main.js');

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const sizeMb = opt('size-mb', 1024);
const runs = Math.max(3, opt('runs', 3));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;

/** Runs a command, returns wall seconds and the peak RSS (VmHWM) of the process itself. */
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

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'botctl-bench-'));
fs.chmodSync(work, 0o755);
const cluster = await startEphemeralCluster({ parentDir: work, settings: { shared_buffers: "'512MB'", max_wal_size: "'4GB'" } });
try {
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
  const keygen = await timed(process.execPath, [MAIN, 'keygen', '--output', path.join(work, 'identity.txt'), '--json'], {});
  const recipient = JSON.parse(keygen.stdout).recipient;
  fs.writeFileSync(
    path.join(tenant, '.env'),
    `DATABASE_URL=${url.reveal()}\nBACKUP_AGE_RECIPIENTS=${recipient}\nBACKUP_LOCAL_DIR=backups\nBOT_LOG_PATH=logs\n`,
    { mode: 0o600 },
  );
  const pgDump = findPgTool('pg_dump');
  const pgEnv = libpqEnv(parseDatabaseUrl(url));
  const dumpFile = path.join(work, 'bare.dump');

  console.log('Warm-up: one pg_dump to fill the caches');
  await timed(pgDump, ['-Fc', '-f', dumpFile], pgEnv);

  const bare = [];
  const ours = [];
  let dumpSize = 0;
  let archiveSize = 0;
  let peakKb = 0;
  for (let i = 1; i <= runs; i++) {
    fs.rmSync(dumpFile, { force: true });
    const b = await timed(pgDump, ['-Fc', '-f', dumpFile], pgEnv);
    dumpSize = fs.statSync(dumpFile).size;
    fs.rmSync(dumpFile, { force: true });
    bare.push(b.secs);

    const o = await timed(process.execPath, [MAIN, '--env-file', path.join(tenant, '.env'), 'backup', 'create', '--no-logs', '--json'], {});
    const result = JSON.parse(o.stdout);
    archiveSize = result.size;
    peakKb = Math.max(peakKb, o.peakKb);
    ours.push(o.secs);
    fs.rmSync(path.join(tenant, 'backups'), { recursive: true, force: true });
    console.log(
      `run ${i}: pg_dump -Fc -f ${b.secs.toFixed(2)} s (${mib(dumpSize)})   botctl backup create ${o.secs.toFixed(2)} s (${mib(archiveSize)}, peak RSS ${(o.peakKb / 1024).toFixed(0)} MiB)`,
    );
  }
  const mb = median(bare);
  const mo = median(ours);
  console.log('\nResults');
  console.log(`  database size (pg_database_size) ${mib(dbBytes)}`);
  console.log(`  bare pg_dump -Fc -f file          median ${mb.toFixed(2)} s`);
  console.log(`  botctl backup create              median ${mo.toFixed(2)} s`);
  console.log(`  wall-time ratio                   ${(mo / mb).toFixed(3)}   (target ≤ 1.10)`);
  console.log(`  archive / dump size ratio         ${(archiveSize / dumpSize).toFixed(4)}   (target ≤ 1.03)`);
  console.log(`  botctl peak RSS                   ${(peakKb / 1024).toFixed(0)} MiB   (target ≤ 200 MiB)`);
  console.log(`  machine                           ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
} finally {
  await cluster.destroy();
  fs.rmSync(work, { recursive: true, force: true });
}
