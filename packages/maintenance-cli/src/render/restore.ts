import { formatBytes, formatDuration } from '@botctl/core';
import type { ChalkInstance } from 'chalk';
import type { DrillResult } from '@botctl/maintenance';
import type { RestoreResult } from '@botctl/maintenance';
import { table } from './table.js';

export function renderRestore(r: RestoreResult, s: ChalkInstance, displayPath: (p: string) => string): string {
  const p = r.plan;
  const lines: string[] = [];
  const action = {
    'create-database': `create database "${p.target.database}" and restore into it`,
    'restore-into-empty': `restore into the empty database "${p.target.database}"`,
    overwrite: `REPLACE the ${p.target.user_tables} tables of "${p.target.database}" (after a safety backup)`,
  }[p.action];
  if (r.status === 'dry-run') {
    lines.push(s.bold('Dry run: nothing was changed.'));
    lines.push(`  backup    ${p.archive.name} (${p.archive.location}, ${p.archive.created_at}, store "${p.archive.store_name}")`);
    lines.push(`  target    ${p.target.url}`);
    lines.push(`  would     ${action}`);
    lines.push(`  tables    ${p.tables.length} tables, ${p.rows} rows:`);
    lines.push(
      table(
        ['    TABLE', 'ROWS'],
        p.tables.map((t) => [`    ${t.schema}.${t.table}`, String(t.rows)]),
      ),
    );
    lines.push(`  files     ${p.files.length} (to ${displayPath(p.files[0]?.staged_to.replace(/\/[^/]*$/, '') ?? 'restore/')}):`);
    for (const f of p.files) lines.push(`    ${f.member}${f.placed_at ? ` → ${displayPath(f.placed_at)}` : ''}`);
  } else {
    lines.push(s.green(`✓ Restored ${p.archive.name} into "${p.target.database}"`));
    lines.push(`  tables    ${r.tables.length} tables, ${p.rows} rows, every count equal to the manifest`);
    lines.push(`  restore   ${formatDuration(r.restore_ms)} (whole command ${formatDuration(r.duration_ms)})`);
    if (r.safety_backup) lines.push(`  safety    ${displayPath(r.safety_backup.path)} (${formatBytes(r.safety_backup.size)}): the state before this restore`);
    if (r.staged_dir) lines.push(`  staged    ${displayPath(r.staged_dir)}/ (config and logs from the backup)`);
    for (const f of r.placed) lines.push(`  put back  ${displayPath(f.destination)}${f.kept_as ? ` (previous kept as ${displayPath(f.kept_as)})` : ''}`);
  }
  for (const w of r.warnings) lines.push(`  ${s.yellow('warning')}   ${w}`);
  return lines.join('\n');
}

export function renderDrill(r: DrillResult, s: ChalkInstance): string {
  const lines = [r.ok ? s.green(`✓ Drill passed: ${r.archive} (${r.location})`) : s.red(`✗ Drill FAILED: ${r.archive || '(no backup)'}: ${r.error?.message}`)];
  if (r.tables.length) {
    lines.push(`  restore   ${formatDuration(r.restore_ms)} into scratch database ${r.scratch_database} (the time a real recovery would take)`);
    const sums = r.tables.filter((t) => t.checksum !== 'not recorded');
    lines.push(
      `  tables    ${r.tables.filter((t) => t.restored === t.expected).length}/${r.tables.length} row counts equal; ` +
        `${sums.filter((t) => t.checksum === 'match').length}/${sums.length} content checksums equal`,
    );
    // The shop's rules: findings about the data, apart from the restore's verdict above.
    for (const c of r.sanity) lines.push(`  shop rule ${c.ok ? s.green('✓') : s.yellow('⚠')} ${c.name}${c.ok ? '' : ` (${c.found} rows break it)`}`);
    if (r.sanity_skipped) lines.push(`  shop rule not checked: ${r.sanity_skipped}`);
  }
  lines.push(`  cleanup   scratch database ${r.scratch_dropped ? 'dropped' : s.red('NOT dropped: drop it by hand')}`);
  return lines.join('\n');
}
