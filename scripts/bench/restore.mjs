#!/usr/bin/env node
// pnpm bench:restore [--size-mb 1024] [--runs 3] [--fast]
//
// On the benchmark shop database, in a cluster with production durability (fsync,
// synchronous_commit, full_page_writes on; --fast: the test clusters' settings, all off), in turn
// within each round:
//   - bare `pg_restore --single-transaction -d` of a plain custom-format dump file (like for like:
//     botctl restores in one transaction so that a failed restore leaves the target untouched),
//   - bare `pg_restore -d` with its defaults (one commit per object, as a sysadmin types it),
//   - `botctl backup restore <archive> --new-db` of the same data (verify pass, decrypt, stream);
//   - bare `pg_restore -f /dev/null` of the plain dump (reads every byte of it),
//   - `botctl backup verify <archive>` (full: hash, decrypt, every member, the dump through pg_restore).
// Medians, ratios and botctl's peak RSS; then one `botctl backup drill`. Prints figures; asserts nothing.
import fs from 'node:fs';
import path from 'node:path';
import { createSql, findPgTool, libpqEnv, parseDatabaseUrl } from '../../packages/core/dist/index.js';
import { benchSetup, machine, MAIN, median, mib, option, timed } from './common.mjs';

const sizeMb = option('size-mb', 1024);
const runs = Math.max(3, option('runs', 3));
const durable = !process.argv.includes('--fast');

const bench = await benchSetup(sizeMb, { durable });
try {
  const env = libpqEnv(parseDatabaseUrl(bench.url));
  const dumpFile = path.join(bench.work, 'plain.dump');
  await timed(findPgTool('pg_dump'), ['-Fc', '-f', dumpFile], env);
  const made = await timed(process.execPath, ['--', MAIN, '--env-file', bench.envFile, 'backup', 'create', '--no-logs', '--json'], {});
  const archive = JSON.parse(made.stdout).path;
  console.log(`dump ${mib(fs.statSync(dumpFile).size)}, archive ${mib(fs.statSync(archive).size)}\n`);

  const admin = createSql(bench.url, { max: 1 });
  const drop = async (db) => admin.unsafe(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  const t = { single: [], defaults: [], ours: [], readBare: [], verify: [] };
  let peakKb = 0;
  let verifyPeakKb = 0;
  const bareRestore = async (args) => {
    await drop('bare_restore');
    await admin.unsafe('CREATE DATABASE bare_restore');
    const b = await timed(findPgTool('pg_restore'), ['--no-owner', ...args, '-d', 'bare_restore', dumpFile], { ...env, PGDATABASE: 'bare_restore' });
    await drop('bare_restore');
    return b.secs;
  };
  try {
    for (let i = 1; i <= runs; i++) {
      t.single.push(await bareRestore(['--single-transaction']));
      t.defaults.push(await bareRestore([]));

      await drop('botctl_restore');
      const o = await timed(
        process.execPath,
        ['--', MAIN, '--env-file', bench.envFile, 'backup', 'restore', archive, '--new-db', 'botctl_restore', '--json'],
        {},
      );
      peakKb = Math.max(peakKb, o.peakKb);
      t.ours.push(o.secs);
      await drop('botctl_restore');
      fs.rmSync(path.join(bench.tenant, 'restore'), { recursive: true, force: true });

      t.readBare.push((await timed(findPgTool('pg_restore'), ['-f', '/dev/null', dumpFile], env)).secs);
      const v = await timed(process.execPath, ['--', MAIN, '--env-file', bench.envFile, 'backup', 'verify', archive, '--json'], {});
      verifyPeakKb = Math.max(verifyPeakKb, v.peakKb);
      t.verify.push(v.secs);
      const f = (x) => `${x.at(-1).toFixed(2)} s`;
      console.log(
        `run ${i}: pg_restore --single-transaction ${f(t.single)}, pg_restore (defaults) ${f(t.defaults)}, botctl restore --new-db ${f(t.ours)}; pg_restore -f /dev/null ${f(t.readBare)}, botctl verify ${f(t.verify)}`,
      );
    }
    const drill = await timed(process.execPath, ['--', MAIN, '--env-file', bench.envFile, 'backup', 'drill', '--json'], {});
    const d = JSON.parse(drill.stdout);
    const m = Object.fromEntries(Object.entries(t).map(([k, xs]) => [k, median(xs)]));
    console.log(`\nResults (cluster: ${durable ? 'fsync, synchronous_commit, full_page_writes on' : 'fast settings (durability off)'})`);
    console.log(`  database size (pg_database_size)           ${mib(bench.dbBytes)}`);
    console.log(`  bare pg_restore --single-transaction -d    median ${m.single.toFixed(2)} s`);
    console.log(`  bare pg_restore -d (its defaults)          median ${m.defaults.toFixed(2)} s`);
    console.log(`  botctl backup restore --new-db             median ${m.ours.toFixed(2)} s`);
    console.log(`  restore ratio, like for like               ${(m.ours / m.single).toFixed(3)}   (target ≤ 1.05)`);
    console.log(`  restore ratio against the defaults         ${(m.ours / m.defaults).toFixed(3)}`);
    console.log(`  botctl restore peak RSS                    ${(peakKb / 1024).toFixed(0)} MiB`);
    console.log(`  bare pg_restore -f /dev/null plain.dump    median ${m.readBare.toFixed(2)} s`);
    console.log(`  botctl backup verify (full)                median ${m.verify.toFixed(2)} s`);
    console.log(`  verify ratio                               ${(m.verify / m.readBare).toFixed(3)}   (target ≤ 1.2)`);
    console.log(`  botctl verify peak RSS                     ${(verifyPeakKb / 1024).toFixed(0)} MiB`);
    console.log(
      `  drill: ok ${d.ok}, restore ${(d.restore_ms / 1000).toFixed(2)} s, whole drill ${(d.duration_ms / 1000).toFixed(2)} s (${d.tables.length} tables)`,
    );
    console.log(`  machine                                    ${machine()}`);
  } finally {
    await admin.end();
  }
} finally {
  await bench.destroy();
}
