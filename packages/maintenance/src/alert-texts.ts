import { BotctlError, formatBytes, formatDuration } from '@botctl/core';
import type { CreateResult } from './backup/create-backup.js';

// The owners' alerts for maintenance runs, one wording whoever ran them (botctl on the host, the
// bot's own jobs). The owner alerter adds the `[store]` prefix.

/** A run that went well: sent silent. */
export const successAlertText = (text: string): string => `✅ ${text}`;

/** A run that failed: what failed, why, and the hint (`Saran:`) when there is one. */
export function failureAlertText(subject: string, error: unknown, redact: (s: string) => string = (s) => s): string {
  const message = redact(error instanceof Error ? error.message : String(error));
  const hint = error instanceof BotctlError && error.hint ? `\nSaran: ${redact(error.hint)}` : '';
  return `❌ ${subject} GAGAL\n${message}${hint}`;
}

/** `Backup selesai: backup-….tar.gz.enc (12.3 MiB, 9 tabel, 1234 baris, 2.1 s, offsite: ya)`. */
export function backupDoneText(subject: string, result: CreateResult): string {
  const off = result.offsite.status === 'ok' ? 'offsite: ya' : result.offsite.status === 'failed' ? `offsite GAGAL: ${result.offsite.error}` : 'offsite: tidak';
  return `${subject} selesai: ${result.name} (${formatBytes(result.size)}, ${result.tables} tabel, ${result.rows} baris, ${formatDuration(result.duration_ms)}, ${off})`;
}
