#!/usr/bin/env node
// pnpm bench:restore [--size-mb 1024] [--runs 3]
//
// On the benchmark shop database: bare `pg_restore -d` of a plain custom-format dump file
// against `botctl backup restore <archive> --new-db` of the same data (decrypting and streaming
// from the archive), alternately; medians, ratio and botctl's peak RSS. Then one
// `botctl backup drill`, which prints its own restore time. Prints figures; asserts nothing.
import fs from 'node:fs';
import path from 'node:path';
import { createSql, findPgTool, libpqEnv, parseDatabaseUrl } from '../../packages/core/dist/index.js';
import { benchSetup, machine, MAIN, median, mib, option, timed } from './common.mjs';

const sizeMb = option('size-mb', 1024);
const runs = Math.max(3, option('runs', 3));

const bench = await benchSetup(sizeMb);
try {
  const env = libpqEnv(parseDatabaseUrl(bench.url));
  const dumpFile = path.join(bench.work, 'plain.dump');
  await timed(findPgTool('pg_dump'), ['-Fc', '-f', dumpFile], env);
  const made = await timed(process.execPath, ['--', MAIN, '--env-file', bench.envFile, 'backup', 'create', '--no-logs', '--json'], {});
  const archive = JSON.parse(made.stdout).path;
  console.log(`dump ${mib(fs.statSync(dumpFile).size)}, archive ${mib(fs.statSync(archive).size)}\n`);

  const admin = createSql(bench.url, { max: 1 });
  const drop = async (db) => admin.unsafe(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  const bare = [];
  const ours = [];
  let peakKb = 0;
  try {
    for (let i = 1; i <= runs; i++) {
      await drop('bare_restore');
      await admin.unsafe('CREATE DATABASE bare_restore');
      const b = await timed(findPgTool('pg_restore'), ['--no-owner', '-d', 'bare_restore', dumpFile], { ...env, PGDATABASE: 'bare_restore' });
      bare.push(b.secs);
      await drop('bare_restore');

      await drop('botctl_restore');
      const o = await timed(
        process.execPath,
        ['--', MAIN, '--env-file', bench.envFile, 'backup', 'restore', archive, '--new-db', 'botctl_restore', '--json'],
        {},
      );
      peakKb = Math.max(peakKb, o.peakKb);
      ours.push(o.secs);
      await drop('botctl_restore');
      fs.rmSync(path.join(bench.tenant, 'restore'), { recursive: true, force: true });
      console.log(
        `run ${i}: pg_restore -d ${b.secs.toFixed(2)} s   botctl backup restore --new-db ${o.secs.toFixed(2)} s (peak RSS ${(o.peakKb / 1024).toFixed(0)} MiB)`,
      );
    }
    const drill = await timed(process.execPath, ['--', MAIN, '--env-file', bench.envFile, 'backup', 'drill', '--json'], {});
    const d = JSON.parse(drill.stdout);
    const mb = median(bare);
    const mo = median(ours);
    console.log('\nResults');
    console.log(`  database size (pg_database_size) ${mib(bench.dbBytes)}`);
    console.log(`  bare pg_restore -d plain.dump     median ${mb.toFixed(2)} s`);
    console.log(`  botctl backup restore --new-db    median ${mo.toFixed(2)} s`);
    console.log(`  wall-time ratio                   ${(mo / mb).toFixed(3)}   (target ≤ 1.05)`);
    console.log(`  botctl peak RSS                   ${(peakKb / 1024).toFixed(0)} MiB`);
    console.log(
      `  drill: ok ${d.ok}, restore ${(d.restore_ms / 1000).toFixed(2)} s, whole drill ${(d.duration_ms / 1000).toFixed(2)} s (${d.tables.length} tables)`,
    );
    console.log(`  machine                           ${machine()}`);
  } finally {
    await admin.end();
  }
} finally {
  await bench.destroy();
}
