import fs from 'node:fs';
import os from 'node:os';
import { BotctlError, createLogger, DailyFileSink, ExitCode, isoWithOffset, NotFoundError, serviceLogDir, UsageError } from '@botctl/core';
import { type Command, Option } from 'commander';
import { JOURNAL_KINDS, type JournalKind, journalMessage } from '@botctl/maintenance';
import type { Run } from './types.js';
import { shippedPath } from '@botctl/core/shipped';

/**
 * `botctl journal add --kind update|patch|rollback|note "…"`: the manual steps the plan asks
 * people to record (dependency updates, patches, rollbacks) go into logs/maintenance/ in the
 * plan's format, where `botctl status` finds them.
 */
export function registerJournal(cmd: Command, run: Run): void {
  const journal = cmd;
  journal
    .command('add')
    .description('add one entry, e.g. botctl journal add --kind update "telegraf 4.16.3 -> 4.16.4, tested on staging"')
    .addOption(new Option('--kind <kind>', 'what happened').choices([...JOURNAL_KINDS]).makeOptionMandatory())
    .option('--release-notes <version>', 'an update: point at its section in docs/08_release_notes.md (checked to exist)')
    .argument('<text...>', 'what was done (one line; do not paste secrets)')
    .action(
      run<{ kind: JournalKind; releaseNotes?: string }>(async (ctx, opts, args) => {
        const notes = opts.releaseNotes ? releaseNotesRef(opts.releaseNotes) : undefined;
        const text = `${args.join(' ').replace(/\s+/g, ' ').trim()}${notes ? ` (${notes})` : ''}`;
        if (!text) throw new UsageError('the entry is empty', { hint: 'say what was done, e.g. "updated telegraf to 4.16.4"' });
        if (text.length > 1000) throw new UsageError(`the entry is ${text.length} characters; keep it under 1000`);
        const who = ctx.io.env.SUDO_USER || ctx.io.env.USER || safeUser();
        const message = journalMessage(opts.kind, text, who);
        // Written through its own logger so a failure to write is this command's failure, not a warning.
        const c = ctx.config;
        let failed: Error | undefined;
        const log = createLogger({
          timeZone: c.timezone,
          clock: ctx.clock,
          redactor: ctx.redactor,
          sinks: [new DailyFileSink(serviceLogDir(c.logPath, 'maintenance'), c.timezone)],
          onSinkError: (e) => (failed = e as Error),
        });
        // Patches and rollbacks are WARN, as in the plan's sample log.
        log.log(opts.kind === 'patch' || opts.kind === 'rollback' ? 'WARN' : 'INFO', message);
        if (failed) {
          throw new BotctlError('LOG_WRITE', ExitCode.FAILURE, `cannot write the maintenance log: ${failed.message}`, {
            hint: `check that ${serviceLogDir(c.logPath, 'maintenance')} is writable by this user`,
          });
        }
        const at = isoWithOffset(ctx.clock.now(), c.timezone);
        ctx.emit(
          { ok: true, kind: opts.kind, text: ctx.scrub(text), at, by: who ?? null },
          () => `Recorded (${opts.kind}) in ${ctx.displayPath(ctx.config.logPath)}/maintenance/.`,
        );
      }),
    );
}

/** docs/08_release_notes.md beside the checkout or the installed release. */
const RELEASE_NOTES = shippedPath('releaseNotes');

/** `docs/08_release_notes.md#0.2.0` for a version that has its own section there. */
function releaseNotesRef(version: string): string {
  const text = fs.existsSync(RELEASE_NOTES) ? fs.readFileSync(RELEASE_NOTES, 'utf8') : '';
  const headings = [...text.matchAll(/^## (\S+)/gm)].map((m) => m[1]!);
  if (!headings.includes(version)) {
    throw new NotFoundError(`docs/08_release_notes.md has no section for ${version}`, {
      hint: headings.length
        ? `add "## ${version}" with the dependency changes first (there: ${headings.join(', ')})`
        : `add "## ${version}" to ${RELEASE_NOTES} first`,
    });
  }
  return `docs/08_release_notes.md#${version.replace(/[^a-z0-9-]/gi, '').toLowerCase()}`;
}

function safeUser(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return undefined;
  }
}
