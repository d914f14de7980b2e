// How fast `botctl wal push` stores WAL segments, as PostgreSQL's archiver calls it: one process
// per segment, real segments of a shop-like write load, compressed, encrypted with age, written
// and fsynced locally and to a second folder (the offsite copy). Against the bare shell pipeline
// `gzip -1 | age -r` with the same fsyncs. Interleaved runs, medians, segments per second.
// Usage: pnpm bench:wal [--segments 12] [--main lib/botctl.mjs of an unpacked release (the installed bundle)]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSql, startEphemeralCluster } from '../../packages/core/dist/index.js';
import { ageKeyPair } from '../../packages/test-utils/dist/index.js';
import { MAIN, median, mib, option } from './common.mjs';

const segments = option('segments', 12);
const entry = MAIN;
const fromCheckout = !process.argv.includes('--main');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'botctl-bench-wal-'));
fs.chmodSync(work, 0o755);
const cluster = await startEphemeralCluster({ parentDir: work, settings: { wal_level: 'replica', max_wal_size: "'4GB'", wal_keep_size: "'4GB'" } });
try {
  // Real WAL: orders with text and JSON, as a shop writes them.
  const sql = createSql(cluster.url(), { max: 1 });
  await sql`CREATE TABLE orders (id bigserial PRIMARY KEY, buyer bigint, note text, items jsonb, created_at timestamptz DEFAULT now())`;
  const names = [];
  while (names.length < segments + 2) {
    await sql`INSERT INTO orders (buyer, note, items) SELECT g % 5000, 'pesanan ' || md5(g::text), jsonb_build_object('sku', 'SPT' || (g % 40), 'qty', g % 3 + 1) FROM generate_series(1, 20000) g`;
    const [r] = await sql`SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg`;
    if (!names.includes(r.seg)) names.push(r.seg);
  }
  await sql.end();
  const segDir = path.join(work, 'segments');
  fs.mkdirSync(segDir);
  // Finished segments only: the first may predate the load, the last is still being written.
  const files = names.slice(1, segments + 1).map((n) => {
    const to = path.join(segDir, n);
    fs.copyFileSync(path.join(cluster.dataDir, 'pg_wal', n), to);
    return to;
  });

  const { recipient } = await ageKeyPair();
  const env = path.join(work, 'cluster.env');
  fs.writeFileSync(env, `BOT_STORE_NAME=bench\nBACKUP_STORE_ID=bench\nBACKUP_AGE_RECIPIENTS=${recipient}\nBOT_LOG_PATH=logs\n`);
  const times = { botctl: [], shell: [], start: [] };
  let stored = 0;
  for (let round = 0; round < 2; round++) {
    const local = path.join(work, `local-${round}`);
    const offsite = path.join(work, `offsite-${round}`);
    const shellOut = path.join(work, `shell-${round}`);
    fs.mkdirSync(shellOut);
    fs.writeFileSync(
      env,
      fs.readFileSync(env, 'utf8').replace(/^BACKUP_(LOCAL|OFFSITE)_DIR=.*\n/gm, '') + `BACKUP_LOCAL_DIR=${local}\nBACKUP_OFFSITE_DIR=${offsite}\n`,
    );
    for (const f of files) {
      let t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, ['--', entry, '--env-file', env, '--quiet', 'wal', 'push', f], { stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`wal push exited ${r.status}: ${r.stderr}`);
      times.botctl.push(Number(process.hrtime.bigint() - t0) / 1e6);
      t0 = process.hrtime.bigint();
      spawnSync(process.execPath, ['--', entry, '--env-file', env, 'config', 'check'], { stdio: 'ignore' });
      times.start.push(Number(process.hrtime.bigint() - t0) / 1e6);
      t0 = process.hrtime.bigint();
      const out = path.join(shellOut, path.basename(f));
      const s = spawnSync('sh', [
        '-c',
        `gzip -1 < "$1" | age -r "$2" > "$3.tmp" && sync "$3.tmp" && cp "$3.tmp" "$3.off" && sync "$3.off" && mv "$3.tmp" "$3"`,
        'sh',
        f,
        recipient,
        out,
      ]);
      if (s.status !== 0) throw new Error(`shell pipeline exited ${s.status}: ${s.stderr}`);
      times.shell.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    if (round === 0) {
      for (const d of fs.readdirSync(path.join(local, 'wal')))
        for (const o of fs.readdirSync(path.join(local, 'wal', d))) stored += fs.statSync(path.join(local, 'wal', d, o)).size;
    }
  }
  const b = median(times.botctl);
  const s = median(times.shell);
  console.log(
    `${fromCheckout ? 'botctl from the checkout' : entry}, Node ${process.version}, ${files.length} real 16 MiB segments × 2 rounds, interleaved, median per segment:`,
  );
  console.log(
    `  botctl wal push (process start, gzip -1, age, fsync, local + offsite)  ${b.toFixed(0).padStart(5)} ms  ${(1000 / b).toFixed(1)} segments/s  ${(b / s).toFixed(2)}× shell`,
  );
  console.log(`  gzip -1 | age -r, fsync, second copy (shell)                          ${s.toFixed(0).padStart(5)} ms  ${(1000 / s).toFixed(1)} segments/s`);
  console.log(`  of which starting Node and loading botctl (botctl config check)            ${median(times.start).toFixed(0).padStart(5)} ms`);
  console.log(`  stored: ${mib(stored)} for ${mib(files.length * 16 * 1048576)} of WAL (${((stored / (files.length * 16 * 1048576)) * 100).toFixed(0)} %)`);
} finally {
  await cluster.destroy();
  fs.rmSync(work, { recursive: true, force: true });
}
