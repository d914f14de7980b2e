import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../fs/atomic.js';
import { holderState, type ProcessRef, thisProcess } from '../process/holder.js';

/**
 * The maintenance fence: while botctl restores the shop's database (`backup restore` over it,
 * `recover`), it keeps `BOT_STATE_DIR/maintenance.json`. The bot honours it at start-up (it
 * waits before migrating) and while running (it stops taking updates, jobs and payment
 * notices until the fence is gone), whoever runs it and however often a supervisor restarts it.
 *
 * The file is world-readable (0644) so a bot running as another user sees it. It names its
 * holder (pid, host, boot id, start time) and carries a lease the holder renews: a fence left by
 * a process that died is void at once on the same host, and elsewhere (a bot in a container,
 * where the host's pids mean nothing) once the lease runs out.
 */
export const MAINTENANCE_FILE = 'maintenance.json';
const LEASE_MS = 30_000;
const RENEW_MS = 10_000;

export interface MaintenanceMarker extends ProcessRef {
  token: string;
  /** What is going on, for people: `recover`, `backup restore`. */
  command: string;
  database: string;
  started_at: string;
  /** The holder renews it; past it, a holder that cannot be checked counts as gone. */
  lease_until: string;
}

export const maintenanceFile = (stateDir: string): string => path.join(stateDir, MAINTENANCE_FILE);

export function readMaintenanceMarker(stateDir: string): MaintenanceMarker | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(maintenanceFile(stateDir), 'utf8')) as MaintenanceMarker;
    return typeof m.token === 'string' && typeof m.pid === 'number' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a marker still fences: its holder runs, or (cannot be checked) its lease holds. */
export function markerActive(m: MaintenanceMarker, now: Date = new Date()): boolean {
  const state = holderState(m);
  if (state === 'alive') return true;
  if (state === 'dead') return false;
  return Date.parse(m.lease_until) > now.getTime();
}

/** The marker in force, if any (a stale one is ignored). */
export function activeMaintenance(stateDir: string, now?: Date): MaintenanceMarker | undefined {
  const m = readMaintenanceMarker(stateDir);
  return m && markerActive(m, now) ? m : undefined;
}

export interface Fence {
  readonly marker: MaintenanceMarker;
  /** This process had the fence up already (recover restoring inside its own fence). */
  readonly shared: boolean;
  /** Removes the marker (only if it is still this one). Safe to call twice. */
  release(): void;
}

const held = new Set<() => void>();
process.once('exit', () => {
  for (const release of held) release();
});

/**
 * Puts the fence up for `command` on `database`. A fence another live process holds is refused
 * (two restores at once); a stale one is replaced; one this process holds already is shared.
 * Released by `release()` and, whatever happens, when this process exits.
 */
export function raiseFence(stateDir: string, opts: { command: string; database: string }): Fence {
  const existing = readMaintenanceMarker(stateDir);
  // Already ours (recover restoring the database inside its own fence): one fence, released by its raiser.
  if (existing && existing.pid === process.pid && existing.host === thisProcess().host && markerActive(existing)) {
    return { marker: existing, shared: true, release: () => undefined };
  }
  if (existing && markerActive(existing)) {
    throw Object.assign(
      new Error(`${existing.command} (pid ${existing.pid} on ${existing.host}, since ${existing.started_at}) is already restoring ${existing.database}`),
      {
        code: 'FENCED',
        marker: existing,
      },
    );
  }
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o750 });
  const now = Date.now();
  const marker: MaintenanceMarker = {
    ...thisProcess(),
    token: randomBytes(8).toString('hex'),
    command: opts.command,
    database: opts.database,
    started_at: new Date(now).toISOString(),
    lease_until: new Date(now + LEASE_MS).toISOString(),
  };
  const file = maintenanceFile(stateDir);
  const write = (m: MaintenanceMarker) => writeFileAtomicSync(file, `${JSON.stringify(m)}\n`, 0o644);
  write(marker);
  const renew = setInterval(() => {
    if (readMaintenanceMarker(stateDir)?.token !== marker.token) return;
    try {
      write({ ...marker, lease_until: new Date(Date.now() + LEASE_MS).toISOString() });
    } catch {
      // the holder is alive: on this host that is what counts
    }
  }, RENEW_MS);
  renew.unref();
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    clearInterval(renew);
    held.delete(release);
    if (readMaintenanceMarker(stateDir)?.token === marker.token) fs.rmSync(file, { force: true });
  };
  held.add(release);
  return { marker, shared: false, release };
}
