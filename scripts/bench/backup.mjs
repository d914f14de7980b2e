#!/usr/bin/env node
// pnpm bench:backup [--size-mb 1024] [--runs 3] [--zstd-levels 1,3]
//
// Builds a shop database of about --size-mb on a throwaway PostgreSQL, then times, in turn within
// each round, bare `pg_dump -Fc -f file`, `botctl backup create` with BACKUP_COMPRESSION=gzip
// (today's format: pg_dump compresses) and with zstd at each --zstd-levels level (pg_dump -Z0, the
// zstd program compresses the archive), all recipient mode, --no-logs. It prints the medians of
// wall time and CPU seconds (user + system of the command and all it waited for; the PostgreSQL
// server's work is the same for every row and left out), the ratios to bare pg_dump, the
// archive/dump size ratio and botctl's peak RSS; the last row is zstd:1 at BACKUP_NICE=0 (the others
// run at the default 10). A benchmark prints figures; it asserts nothing.
import fs from 'node:fs';
import path from 'node:path';
import { findPgTool, libpqEnv, parseDatabaseUrl } from '../../packages/core/dist/index.js';
import { benchSetup, machine, MAIN, median, mib, option, timed } from './common.mjs';

const sizeMb = option('size-mb', 1024);
const runs = Math.max(3, option('runs', 3));
const levelsArg = process.argv.indexOf('--zstd-levels');
const zstdLevels = levelsArg >= 0 ? process.argv[levelsArg + 1].split(',').map(Number) : [1, 3];

const bench = await benchSetup(sizeMb);
try {
  const pgDump = findPgTool('pg_dump');
  const pgEnv = libpqEnv(parseDatabaseUrl(bench.url));
  const dumpFile = path.join(bench.work, 'bare.dump');

  console.log('Warm-up: one pg_dump to fill the caches');
  await timed(pgDump, ['-Fc', '-f', dumpFile], pgEnv);

  const rows = [
    { label: 'bare pg_dump -Fc -f file', bare: true },
    { label: 'botctl backup create, gzip', compression: 'gzip' },
    ...zstdLevels.map((l) => ({ label: `botctl backup create, zstd:${l}`, compression: `zstd:${l}` })),
    // The default BACKUP_NICE (10) gives way to the shop; at 0 botctl competes for the cores.
    { label: 'botctl backup create, zstd:1, nice 0', compression: 'zstd:1', nice: '0' },
  ].map((r) => ({ ...r, wall: [], cpu: [], size: 0, peakKb: 0 }));

  for (let i = 1; i <= runs; i++) {
    const line = [];
    for (const r of rows) {
      let t;
      if (r.bare) {
        fs.rmSync(dumpFile, { force: true });
        t = await timed(pgDump, ['-Fc', '-f', dumpFile], pgEnv, { cpu: true });
        r.size = fs.statSync(dumpFile).size;
        fs.rmSync(dumpFile, { force: true });
      } else {
        t = await timed(
          process.execPath,
          ['--', MAIN, '--env-file', bench.envFile, 'backup', 'create', '--no-logs', '--json'],
          { BACKUP_COMPRESSION: r.compression, ...(r.nice ? { BACKUP_NICE: r.nice } : {}) },
          { cpu: true, rssOf: 'node' },
        );
        r.size = JSON.parse(t.stdout).size;
        r.peakKb = Math.max(r.peakKb, t.peakKb);
        fs.rmSync(path.join(bench.tenant, 'backups'), { recursive: true, force: true });
      }
      r.wall.push(t.secs);
      r.cpu.push(t.cpuSecs);
      line.push(`${r.label.replace('botctl backup create, ', '')} ${t.secs.toFixed(2)} s / ${t.cpuSecs.toFixed(2)} cpu-s`);
    }
    console.log(`round ${i}: ${line.join('   ')}`);
  }

  const [bare] = rows;
  const bw = median(bare.wall);
  const bc = median(bare.cpu);
  console.log(`\nResults (medians of ${runs}; database ${mib(bench.dbBytes)}, ${machine()})`);
  console.log('  what                                 wall      × bare   CPU       × bare   size        × dump   peak RSS');
  for (const r of rows) {
    const w = median(r.wall);
    const c = median(r.cpu);
    console.log(
      `  ${r.label.padEnd(36)} ${`${w.toFixed(2)} s`.padEnd(9)} ${(w / bw).toFixed(3).padEnd(8)} ${`${c.toFixed(2)} s`.padEnd(9)} ${(c / bc).toFixed(3).padEnd(8)} ${mib(r.size).padEnd(11)} ${(r.size / bare.size).toFixed(4).padEnd(8)} ${r.bare ? '' : `${(r.peakKb / 1024).toFixed(0)} MiB`}`,
    );
  }
  console.log('  targets (zstd): wall ≤ 0.5× bare, CPU ≤ 0.6× bare, size ≤ 1.0× the dump, peak RSS ≤ 200 MiB');
} finally {
  await bench.destroy();
}
