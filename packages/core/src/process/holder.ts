import fs from 'node:fs';
import os from 'node:os';

/**
 * Telling whether the process that left a file (a lock, a maintenance marker, a scratch
 * database's mark) still runs, across crashes and reboots: its pid, host, the kernel's boot id
 * and the process's start time.
 */
export interface ProcessRef {
  pid: number;
  host: string;
  /** The kernel's boot id then: after a reboot every old pid is meaningless. */
  boot_id?: string;
  /** Start time in clock ticks since boot (/proc/<pid>/stat): tells a reused pid apart. */
  pid_start?: number;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function bootId(): string | undefined {
  return readText('/proc/sys/kernel/random/boot_id')?.trim() || undefined;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat). */
export function processStartTime(pid: number): number | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may contain spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : undefined;
}

/** This process, as a ProcessRef. */
export function thisProcess(): ProcessRef {
  const boot = bootId();
  const start = processStartTime(process.pid);
  return { pid: process.pid, host: os.hostname(), ...(boot ? { boot_id: boot } : {}), ...(start !== undefined ? { pid_start: start } : {}) };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type HolderState = 'alive' | 'dead' | 'unknown';

/**
 * `unknown` when it ran on another host (a shared folder, another container): nothing here can
 * tell. Dead: the machine rebooted since (boot id), the pid is gone, or the pid now belongs to a
 * process that started at another moment.
 */
export function holderState(ref: ProcessRef): HolderState {
  if (ref.host !== os.hostname()) return 'unknown';
  const boot = bootId();
  if (ref.boot_id && boot && ref.boot_id !== boot) return 'dead';
  if (!pidAlive(ref.pid)) return 'dead';
  if (ref.pid_start !== undefined) {
    const now = processStartTime(ref.pid);
    if (now !== undefined && now !== ref.pid_start) return 'dead';
  }
  return 'alive';
}
