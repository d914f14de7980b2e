#!/usr/bin/env node
// pnpm bench:catalog [--archives 5000] [--keep 20] [--runs 3] [--sparse]
//
// A backup folder of many archives: one real backup of a small shop database, then --archives
// copies of it under the names and sidecars a backup a day would have had (each a real archive
// byte for byte, each sidecar its own name, time and sequence). Times `botctl backup list --json`
// (medians of --runs), `backup prune --dry-run` and one `backup prune --keep K (the rest 0)` that removes
// all but --keep, on the local folder. --sparse writes each archive as a sparse file of the same
// size instead (5,000 real copies are 58 GiB): `list` reads only sidecars and sizes, so its
// figures hold; a prune's then miss what unlinking real blocks costs (the TRIM of each file on a
// filesystem mounted with discard). A benchmark prints figures; it asserts nothing.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { benchSetup, machine, MAIN, median, option, timed } from './common.mjs';

const count = option('archives', 5000);
const keep = option('keep', 20);
const runs = Math.max(3, option('runs', 3));
const sparse = process.argv.includes('--sparse');
/** An archive's bytes, or (--sparse) a sparse file as long. */
const writeArchive = (file, bytes) => {
  if (!sparse) return fs.writeFileSync(file, bytes, { mode: 0o600 });
  fs.writeFileSync(file, '', { mode: 0o600 });
  fs.truncateSync(file, bytes.length);
};

const bench = await benchSetup(10);
try {
  const botctl = (args, env = {}) => timed(process.execPath, ['--', MAIN, '--env-file', bench.envFile, ...args], env);
  const made = JSON.parse((await botctl(['backup', 'create', '--no-logs', '--json'])).stdout);
  const dir = path.dirname(made.path);
  const archive = fs.readFileSync(made.path);
  const sidecar = JSON.parse(fs.readFileSync(`${made.path}.meta.json`, 'utf8'));
  fs.rmSync(made.path);
  fs.rmSync(`${made.path}.meta.json`);
  const ext = made.name.slice(made.name.indexOf('.tar.'));
  console.log(`Writing ${count} ${sparse ? 'sparse ' : ''}archives of ${(archive.length / 1024).toFixed(0)} KiB with their sidecars into ${dir} …`);
  const day = 86_400_000;
  const start = Date.now() - count * day;
  for (let i = 0; i < count; i++) {
    const t = new Date(start + i * day);
    const stamp = t.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const name = `backup-${stamp}${ext}`;
    writeArchive(path.join(dir, name), archive);
    fs.writeFileSync(path.join(dir, `${name}.meta.json`), JSON.stringify({ ...sidecar, name, created_at: t.toISOString(), sequence: t.getTime() }, null, 2));
  }

  // On disk before anything is timed, as a year of backups would be: unlinking files whose
  // gigabytes are still being written back costs the writeback (up to 160 ms an unlink here).
  execFileSync('sync');
  const lists = [];
  for (let i = 0; i < runs; i++) {
    const r = await botctl(['backup', 'list', '--json']);
    lists.push(r.secs);
    if (i === 0) console.log(`backup list: ${JSON.parse(r.stdout).backups?.length ?? '?'} archives listed`);
  }
  // Keep the newest `keep`, nothing by day, week, month or year.
  const policy = ['--keep', String(keep), '--keep-daily', '0', '--keep-weekly', '0', '--keep-monthly', '0', '--keep-yearly', '0', '--json'];
  const dry = await botctl(['backup', 'prune', '--dry-run', ...policy]);
  const prune = await botctl(['backup', 'prune', ...policy]);
  const left = fs.readdirSync(dir).filter((f) => f.startsWith('backup-') && !f.endsWith('.meta.json')).length;
  const after = await botctl(['backup', 'list', '--json']);
  // The bare tool on the same files: as many archives and sidecars of the same sizes, on disk,
  // removed by find -delete (the floor: each unlink of a large file waits for the filesystem).
  const bare = path.join(path.dirname(dir), 'bare');
  fs.mkdirSync(bare);
  for (let i = 0; i < count - left; i++) {
    writeArchive(path.join(bare, `a-${i}`), archive);
    fs.writeFileSync(path.join(bare, `a-${i}.meta.json`), JSON.stringify(sidecar, null, 2));
  }
  execFileSync('sync');
  const rm = await timed('find', [bare, '-type', 'f', '-delete'], {});

  console.log(`\nResults (${count} ${sparse ? 'sparse ' : ''}archives; ${machine()})`);
  console.log(`  backup list --json, ${count} archives        median ${median(lists).toFixed(2)} s (${lists.map((s) => s.toFixed(2)).join(', ')})`);
  console.log(`  backup prune --dry-run --keep ${keep}       ${dry.secs.toFixed(2)} s`);
  console.log(`  backup prune --keep ${keep} (removes ${count - left})  ${prune.secs.toFixed(2)} s, ${left} left`);
  console.log(`  bare find -delete of as many files            ${rm.secs.toFixed(2)} s (prune ${(prune.secs / rm.secs).toFixed(2)}× of it)`);
  console.log(`  backup list --json, ${left} archives            ${after.secs.toFixed(2)} s`);
  console.log('  targets: list < 1 s at 5,000');
} finally {
  await bench.destroy();
}
