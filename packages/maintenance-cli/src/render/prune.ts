import { formatBytes, humanTime } from '@botctl/core';
import type { ChalkInstance } from 'chalk';
import { describePolicy, type PruneResult } from '@botctl/maintenance';
import { table } from './table.js';

export function renderPrune(r: PruneResult, timeZone: string, s: ChalkInstance): string {
  const p = r.policy;
  const out = [`${r.dry_run ? s.bold('Dry run: nothing removed. ') : ''}Policy: ${describePolicy(p)}; pre-restore copies ${p.preRestoreKeepDays} days`];
  for (const loc of r.locations) {
    out.push('', s.bold(`${loc.location}: ${loc.path}`));
    if (loc.decisions.length === 0) out.push('  no backups');
    else
      out.push(
        table(
          ['  ACTION', 'NAME', 'TIME', 'SIZE', 'WHY'],
          loc.decisions.map((d) => [
            `  ${d.action === 'keep' ? s.green('keep') : s.red('remove')}`,
            d.name,
            `${humanTime(new Date(d.time), timeZone)}${d.future ? s.yellow(' (in the future)') : ''}`,
            formatBytes(d.size),
            d.reasons.join('; '),
          ]),
        ),
      );
    for (const l of loc.leftovers) out.push(`  ${s.red('remove')}  ${l.name}: ${l.why}`);
    out.push(
      `  ${loc.kept} kept, ${loc.removed} ${r.dry_run ? 'to remove' : 'removed'}, ${loc.leftovers.length} leftovers; ${formatBytes(loc.freed_bytes)} ${r.dry_run ? 'would be freed' : 'freed'}`,
    );
  }
  return out.join('\n');
}
