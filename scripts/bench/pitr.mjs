#!/usr/bin/env node
// pnpm bench:pitr [--size-mb 1024] [--archive-timeout 60] [--samples 4] [--load-seconds 60] [--runs 1]
//
// WAL archiving and point-in-time restore on a cluster with production durability (fsync,
// synchronous_commit and full_page_writes on) whose real archiver runs `botctl wal push`:
// - the archiver under two write loads: building the shop database (bulk inserts) and a shop
//   load of single-row order commits from 4 connections; `.ready` files waiting in pg_wal are
//   sampled every second, pg_stat_archiver printed after each;
// - the recovery point: a row committed at T on a quiet cluster, the time until the WAL file
//   holding its commit is stored offsite (PostgreSQL switches files every archive_timeout);
// - the wall time of `backup restore --to-time` of the benchmark tenant next to the plain
//   `backup restore` of its nightly archive, and once from the offsite copy alone, which must
//   hold every row of the recovery-point samples.
// Prints figures; asserts nothing but that the rows came back.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSql, migrate, startEphemeralCluster } from '../../packages/core/dist/index.js';
import { ageKeyPair, nodeBinaryFor } from '../../packages/test-utils/dist/index.js';
import { machine, MAIN, median, mib, option, timed } from './common.mjs';
import { fillShop } from './shop-data.mjs';

const sizeMb = option('size-mb', 1024);
const archiveTimeout = option('archive-timeout', 60);
const samples = option('samples', 4);
const loadSeconds = option('load-seconds', 60);
const runs = option('runs', 1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const asRoot = process.getuid?.() === 0;
const pgOwner = (() => {
  if (!asRoot) return undefined;
  const f = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'))
    ?.split(':');
  return f ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
})();
const chownTree = (p) => {
  if (!pgOwner) return;
  fs.chownSync(p, pgOwner.uid, pgOwner.gid);
  if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e));
};

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'botctl-bench-pitr-'));
fs.chmodSync(work, 0o755);
const home = path.join(work, 'cluster');
const offsite = path.join(work, 'offsite');
fs.mkdirSync(home);
fs.mkdirSync(offsite);
const { identity, recipient } = await ageKeyPair();
const identityFile = path.join(work, 'identity.txt');
fs.writeFileSync(identityFile, `${identity}\n`, { mode: 0o600 });
const clusterEnv = path.join(home, 'cluster.env');
const clusterLines = [
  'BOT_STORE_NAME=bench-cluster',
  'BACKUP_STORE_ID=bench-cluster',
  'BOT_TIMEZONE=Asia/Jakarta',
  'BACKUP_LOCAL_DIR=backups',
  `BACKUP_OFFSITE_DIR=${offsite}`,
  `BACKUP_AGE_RECIPIENTS=${recipient}`,
  'BOT_LOG_PATH=logs',
];
fs.writeFileSync(clusterEnv, `${clusterLines.join('\n')}\n`, { mode: 0o644 });
chownTree(home);
chownTree(offsite);
const node = asRoot ? nodeBinaryFor('postgres') : process.execPath;
const cluster = await startEphemeralCluster({
  parentDir: work,
  fast: false,
  settings: {
    shared_buffers: "'512MB'",
    max_wal_size: "'4GB'",
    wal_level: 'replica',
    archive_mode: 'on',
    archive_timeout: archiveTimeout,
    archive_command: `'${node} -- ${MAIN} --env-file ${clusterEnv} --quiet wal push %p'`,
  },
});
const readyDir = path.join(cluster.dataDir, 'pg_wal', 'archive_status');
const ready = () => fs.readdirSync(readyDir).filter((f) => f.endsWith('.ready')).length;
const admin = createSql(cluster.url(), { max: 2 });
const archiverStats = async () =>
  (
    await admin`SELECT archived_count::int AS archived, failed_count::int AS failed, last_archived_wal AS last,
                       pg_walfile_name(pg_current_wal_lsn()) AS current FROM pg_stat_archiver`
  )[0];

/** Samples the `.ready` backlog every second while `work` runs; then waits until it is drained. */
async function watchArchiver(label, work) {
  const backlog = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      backlog.push(ready());
      await sleep(1000);
    }
  })();
  const lsn0 = (await admin`SELECT pg_current_wal_lsn() AS l`)[0].l;
  const t0 = Date.now();
  const extra = await work();
  const secs = (Date.now() - t0) / 1000;
  const [w] = await admin`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ${lsn0}::pg_lsn)::bigint AS b`;
  done = true;
  await sampler;
  const t1 = Date.now();
  while (ready() > 0) await sleep(200);
  const drain = (Date.now() - t1) / 1000;
  const s = await archiverStats();
  const walMb = Number(w.b) / 1048576;
  console.log(
    `${label}: ${secs.toFixed(0)} s, WAL ${walMb.toFixed(0)} MiB (${(walMb / secs).toFixed(1)} MiB/s)${extra ? `, ${extra}` : ''}; ` +
      `.ready waiting in pg_wal: median ${median(backlog)}, max ${Math.max(...backlog)}; drained ${drain.toFixed(1)} s after the load; ` +
      `pg_stat_archiver: archived ${s.archived}, failed ${s.failed}, last ${s.last} (current ${s.current})`,
  );
  return { secs, walMb, max: Math.max(...backlog), drain, failed: s.failed };
}

try {
  console.log(`${machine()}; PostgreSQL durability on; archive_timeout ${archiveTimeout} s\n`);
  const url = await cluster.createDatabase('bench_shop');
  const sql = createSql(url, { max: 4 });
  await migrate(sql);
  const bulk = await watchArchiver(`Archiver during the build of a ${sizeMb} MiB shop (bulk inserts)`, async () => {
    const bytes = await fillShop(sql, { targetBytes: sizeMb * 1048576 });
    return `database ${mib(bytes)}`;
  });

  await sql`CREATE TABLE bench_load (id bigserial PRIMARY KEY, buyer bigint, note text, items jsonb, created_at timestamptz DEFAULT now())`;
  const shop = await watchArchiver(`Archiver under a shop load (single-row commits, 4 connections, ${loadSeconds} s)`, async () => {
    const end = Date.now() + loadSeconds * 1000;
    let n = 0;
    await Promise.all(
      [0, 1, 2, 3].map(async (c) => {
        while (Date.now() < end) {
          await sql`INSERT INTO bench_load (buyer, note, items) VALUES (${c * 1000 + (n % 1000)}, ${`pesanan ${n} ${'x'.repeat(80)}`}, ${sql.json({ sku: `SPT${n % 40}`, qty: (n % 3) + 1 })})`;
          n++;
        }
      }),
    );
    return `${(n / loadSeconds).toFixed(0)} commits/s`;
  });

  // The tenant: the shop database on this cluster, encrypted to the same key for the bench.
  const tenant = path.join(work, 'tenant');
  fs.mkdirSync(tenant);
  const tenantEnv = path.join(tenant, '.env');
  const tenantLines = [
    `DATABASE_URL=${url.reveal()}`,
    'BOT_TIMEZONE=Asia/Jakarta',
    `BACKUP_AGE_RECIPIENTS=${recipient}`,
    'BACKUP_LOCAL_DIR=backups',
    'BOT_LOG_PATH=logs',
    `WAL_CLUSTER_ENV_FILE=${clusterEnv}`,
  ];
  fs.writeFileSync(tenantEnv, `${tenantLines.join('\n')}\n`, { mode: 0o600 });
  fs.appendFileSync(clusterEnv, `DATABASE_URL=${cluster.url().reveal()}\n`);
  const env = { BACKUP_AGE_IDENTITY_FILE: identityFile };
  const botctl = (envFile, args) => timed(node, ['--', MAIN, '--env-file', envFile, ...args], env);

  const base = await botctl(clusterEnv, ['--json', 'cluster', 'backup', '--offsite']);
  const b = JSON.parse(base.stdout);
  console.log(`\ncluster backup --offsite: ${base.secs.toFixed(1)} s, ${mib(b.size)} (peak RSS ${(base.peakKb / 1024).toFixed(0)} MiB)`);
  const nightly = await botctl(tenantEnv, ['--json', 'backup', 'create', '--no-logs']);
  const archive = JSON.parse(nightly.stdout).path;
  console.log(`backup create: ${nightly.secs.toFixed(1)} s, ${mib(fs.statSync(archive).size)}\n`);

  // The recovery point: a row committed at T, its WAL file stored offsite at T + d.
  await sql`CREATE TABLE bench_rp (id serial PRIMARY KEY, note text)`;
  const offsiteWal = path.join(offsite, 'bench-cluster', 'wal');
  const delays = [];
  for (let i = 0; i < samples; i++) {
    // Different moments in the archive_timeout cycle.
    await sleep(((i * 23) % archiveTimeout) * 1000 + 500);
    const [r] = await sql`INSERT INTO bench_rp (note) VALUES (${`titik ${i}`}) RETURNING clock_timestamp() AS t`;
    const [seg] = await sql`SELECT pg_walfile_name(pg_current_wal_lsn()) AS s`;
    const folder = path.join(offsiteWal, seg.s.slice(0, 16));
    while (!(fs.existsSync(folder) && fs.readdirSync(folder).some((f) => f.startsWith(`${seg.s}-`)))) await sleep(100);
    const d = (Date.now() - r.t.getTime()) / 1000;
    delays.push(d);
    console.log(`recovery point sample ${i + 1}: committed, its WAL file ${seg.s} offsite ${d.toFixed(1)} s later`);
  }
  const rpTarget = new Date().toISOString();

  const drop = (db) => admin.unsafe(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  const plain = [];
  const pitr = [];
  for (let i = 0; i < runs; i++) {
    await drop('plain_restore');
    plain.push((await botctl(tenantEnv, ['--json', 'backup', 'restore', archive, '--new-db', 'plain_restore'])).secs);
    await drop('plain_restore');
    await drop('pitr_restore');
    pitr.push((await botctl(tenantEnv, ['--json', 'backup', 'restore', '--to-time', rpTarget, '--new-db', 'pitr_restore'])).secs);
    await drop('pitr_restore');
    console.log(`run ${i + 1}: backup restore --new-db ${plain.at(-1).toFixed(1)} s   backup restore --to-time --new-db ${pitr.at(-1).toFixed(1)} s`);
  }

  // From the offsite copy alone (the host lost): a cluster env whose local folder is empty.
  const lostEnv = path.join(home, 'cluster-offsite-only.env');
  fs.mkdirSync(path.join(work, 'empty-local'));
  fs.writeFileSync(
    lostEnv,
    `${clusterLines.map((l) => (l.startsWith('BACKUP_LOCAL_DIR=') ? `BACKUP_LOCAL_DIR=${path.join(work, 'empty-local')}` : l)).join('\n')}\n`,
  );
  fs.writeFileSync(
    path.join(tenant, 'offsite-only.env'),
    `${tenantLines.map((l) => (l.startsWith('WAL_CLUSTER_ENV_FILE=') ? `WAL_CLUSTER_ENV_FILE=${lostEnv}` : l)).join('\n')}\n`,
    { mode: 0o600 },
  );
  const fromOffsite = await timed(
    node,
    ['--', MAIN, '--env-file', path.join(tenant, 'offsite-only.env'), '--json', 'backup', 'restore', '--to-time', rpTarget, '--new-db', 'pitr_offsite'],
    env,
  );
  const check = createSql(cluster.url('pitr_offsite'), { max: 1 });
  const back = (await check`SELECT count(*)::int AS n FROM bench_rp`)[0].n;
  await check.end();
  await drop('pitr_offsite');
  if (back !== samples) throw new Error(`the offsite-only restore holds ${back} of the ${samples} recovery-point rows`);

  console.log('\nResults');
  console.log(
    `  archiver, bulk build:  ${(bulk.walMb / bulk.secs).toFixed(1)} MiB/s of WAL, up to ${bulk.max} files waiting, drained ${bulk.drain.toFixed(1)} s after; ${bulk.failed} failures`,
  );
  console.log(
    `  archiver, shop load:   ${(shop.walMb / shop.secs).toFixed(1)} MiB/s of WAL, up to ${shop.max} files waiting, drained ${shop.drain.toFixed(1)} s after; ${shop.failed} failures`,
  );
  console.log(
    `  recovery point:        offsite ${Math.min(...delays).toFixed(1)}–${Math.max(...delays).toFixed(1)} s after the commit (median ${median(delays).toFixed(1)} s; bound archive_timeout + 30 = ${archiveTimeout + 30} s)`,
  );
  console.log(`  plain restore --new-db:          median ${median(plain).toFixed(1)} s`);
  console.log(`  restore --to-time --new-db:      median ${median(pitr).toFixed(1)} s (${(median(pitr) / median(plain)).toFixed(2)}× the plain restore)`);
  console.log(`  restore --to-time, offsite only: ${fromOffsite.secs.toFixed(1)} s; all ${samples} recovery-point rows there`);
  await sql.end();
} finally {
  await admin.end({ timeout: 5 }).catch(() => undefined);
  await cluster.destroy();
  fs.rmSync(work, { recursive: true, force: true });
}
