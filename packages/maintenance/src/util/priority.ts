import os from 'node:os';

/**
 * BACKUP_NICE: lowers a process's CPU priority to `nice` (never raises it: a process already
 * nicer stays so, and only root may go back). Linux derives the IO priority of a process that has
 * none set from its CPU nice (best-effort, level (nice + 20) / 5), which the BFQ and CFQ
 * schedulers honour; so one call covers both. Best effort: a process that has already exited, or
 * one we may not renice, keeps its priority and the backup goes on.
 */
export function lowerPriority(pid: number | undefined, nice: number): void {
  if (!pid || nice <= 0) return;
  try {
    if (os.getPriority(pid) < nice) os.setPriority(pid, nice);
  } catch {
    // ESRCH (gone already) or EACCES: nothing to lower.
  }
}
