import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** What the health check reads from the machine, behind an interface so tests can feed numbers. */
export interface SystemProbe {
  /** CPU busy share over `ms`, 0..1, measured without blocking the event loop. */
  cpuBusy(ms: number, signal?: AbortSignal): Promise<number>;
  memory(): { total: number; available: number };
  /** The filesystem holding `dir` (or its nearest existing parent). */
  filesystem(dir: string): Promise<FsUsage>;
  /** Total bytes of regular files under `dir` (0 when it does not exist). */
  dirSize(dir: string): Promise<number>;
}

export interface FsUsage {
  /** Device id: folders on the same filesystem share it. */
  dev: number;
  path: string;
  total: number;
  /** Available to unprivileged users, as df shows it. */
  available: number;
  /** df's Use%: used / (used + available). */
  usedRatio: number;
}

function cpuTotals(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  return { idle, total };
}

function memInfo(): { total: number; available: number } {
  // MemAvailable (what the kernel could give without swapping) is the honest "free" figure.
  try {
    const text = fs.readFileSync('/proc/meminfo', 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    const total = kb('MemTotal');
    const available = kb('MemAvailable');
    if (Number.isFinite(total) && Number.isFinite(available)) return { total, available };
  } catch {
    // not Linux
  }
  return { total: os.totalmem(), available: os.freemem() };
}

async function existingParent(dir: string): Promise<string> {
  let d = path.resolve(dir);
  for (;;) {
    try {
      await fsp.stat(d);
      return d;
    } catch {
      const up = path.dirname(d);
      if (up === d) return d;
      d = up;
    }
  }
}

export const realSystem: SystemProbe = {
  async cpuBusy(ms, signal) {
    const a = cpuTotals();
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
    const b = cpuTotals();
    const total = b.total - a.total;
    return total > 0 ? Math.min(1, Math.max(0, 1 - (b.idle - a.idle) / total)) : 0;
  },
  memory: memInfo,
  async filesystem(dir) {
    const p = await existingParent(dir);
    const [st, fsStat] = await Promise.all([fsp.stat(p), fsp.statfs(p)]);
    const total = fsStat.blocks * fsStat.bsize;
    const available = fsStat.bavail * fsStat.bsize;
    const used = (fsStat.blocks - fsStat.bfree) * fsStat.bsize;
    return { dev: st.dev, path: p, total, available, usedRatio: used + available > 0 ? used / (used + available) : 0 };
  },
  async dirSize(dir) {
    let sum = 0;
    const walk = async (d: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) sum += (await fsp.stat(p).catch(() => ({ size: 0 }))).size;
      }
    };
    await walk(dir);
    return sum;
  },
};
