#!/usr/bin/env node
// pnpm bench:backup [--size-mb 1024] [--runs 3]
//
// Builds a shop database of about --size-mb on a throwaway PostgreSQL, then times bare
// `pg_dump -Fc -f file` and `botctl backup create` alternately (recipient mode, --no-logs) and
// prints the medians, the wall-time ratio, the archive/dump size ratio and botctl's peak RSS.
// A benchmark prints figures; it asserts nothing.
import fs from 'node:fs';
import path from 'node:path';
import { findPgTool, libpqEnv, parseDatabaseUrl } from '../../packages/core/dist/index.js';
import { benchSetup, machine, MAIN, median, mib, option, timed } from './common.mjs';

const sizeMb = option('size-mb', 1024);
const runs = Math.max(3, option('runs', 3));

const bench = await benchSetup(sizeMb);
try {
  const pgDump = findPgTool('pg_dump');
  const pgEnv = libpqEnv(parseDatabaseUrl(bench.url));
  const dumpFile = path.join(bench.work, 'bare.dump');

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

    const o = await timed(process.execPath, ['--', MAIN, '--env-file', bench.envFile, 'backup', 'create', '--no-logs', '--json'], {});
    archiveSize = JSON.parse(o.stdout).size;
    peakKb = Math.max(peakKb, o.peakKb);
    ours.push(o.secs);
    fs.rmSync(path.join(bench.tenant, 'backups'), { recursive: true, force: true });
    console.log(
      `run ${i}: pg_dump -Fc -f ${b.secs.toFixed(2)} s (${mib(dumpSize)})   botctl backup create ${o.secs.toFixed(2)} s (${mib(archiveSize)}, peak RSS ${(o.peakKb / 1024).toFixed(0)} MiB)`,
    );
  }
  const mb = median(bare);
  const mo = median(ours);
  console.log('\nResults');
  console.log(`  database size (pg_database_size) ${mib(bench.dbBytes)}`);
  console.log(`  bare pg_dump -Fc -f file          median ${mb.toFixed(2)} s`);
  console.log(`  botctl backup create              median ${mo.toFixed(2)} s`);
  console.log(`  wall-time ratio                   ${(mo / mb).toFixed(3)}   (target ≤ 1.10)`);
  console.log(`  archive / dump size ratio         ${(archiveSize / dumpSize).toFixed(4)}   (target ≤ 1.03)`);
  console.log(`  botctl peak RSS                   ${(peakKb / 1024).toFixed(0)} MiB   (target ≤ 200 MiB)`);
  console.log(`  machine                           ${machine()}`);
} finally {
  await bench.destroy();
}
