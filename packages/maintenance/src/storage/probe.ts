import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { hashObject } from './hash-object.js';
import { sha256Hex } from '../util/hashing.js';
import { isOffsiteUnusable, type SpaceInfo, type Storage } from './storage.js';

type ProbeStep = 'ready' | 'write' | 'read' | 'rename' | 'delete' | 'space';

interface ProbeStepResult {
  step: ProbeStep;
  ok: boolean;
  ms: number;
  detail: string;
  /** The destination cannot be used at all: rclone missing or too old, the mount missing. */
  unusable?: boolean;
}

export interface ProbeResult {
  ok: boolean;
  destination: string;
  steps: ProbeStepResult[];
  /** Undefined when the backend does not tell (or the probe stopped before asking). */
  space: SpaceInfo | undefined;
  /** The first failed step's message. */
  error?: string;
}

/** 256 KiB: big enough that rclone streams it (not one small request), small enough to be quick. */
const PROBE_BYTES = 256 * 1024;

/**
 * `botctl doctor offsite`: proves the destination does everything a backup needs, on a probe
 * object, in the order a backup does it: write (under a temporary name, as archives are), read
 * back with the same SHA-256, rename, delete. Then asks for free space where the backend tells.
 * Stops at the first failure and always tries to remove what it wrote.
 */
export async function probeStorage(storage: Storage, signal?: AbortSignal): Promise<ProbeResult> {
  const steps: ProbeStepResult[] = [];
  const tag = randomBytes(6).toString('hex');
  const name = `.botctl-probe-${tag}`;
  const renamed = `.botctl-probe-${tag}.renamed`;
  const data = randomBytes(PROBE_BYTES);
  const sha = sha256Hex(data);
  let space: SpaceInfo | undefined;
  let wrote = false;

  const step = async (id: ProbeStep, fn: () => Promise<string>): Promise<boolean> => {
    const t0 = performance.now();
    try {
      const detail = await fn();
      steps.push({ step: id, ok: true, ms: Math.round(performance.now() - t0), detail });
      return true;
    } catch (error) {
      steps.push({
        step: id,
        ok: false,
        ms: Math.round(performance.now() - t0),
        detail: (error as Error).message,
        ...(isOffsiteUnusable(error) ? { unusable: true } : {}),
      });
      return false;
    }
  };

  try {
    const ok =
      (await step('ready', async () => {
        const v = await storage.ready?.();
        return typeof v === 'string' ? `rclone v${v}` : 'reachable';
      })) &&
      (await step('write', async () => {
        wrote = true;
        const put = await storage.put(name, Readable.from([data]), { signal });
        if (put.sha256 !== sha) throw new Error('the bytes written are not the bytes sent');
        const st = await storage.stat(name);
        if (st?.size !== PROBE_BYTES) throw new Error(`stored ${st ? st.size : 'no'} bytes, ${PROBE_BYTES} were written`);
        return `${PROBE_BYTES} bytes written under a temporary name and moved into place`;
      })) &&
      (await step('read', async () => {
        const back = await hashObject(storage, name, signal);
        if (back.sha256 !== sha) throw new Error('read back different bytes (SHA-256 differs)');
        return 'read back, same SHA-256';
      })) &&
      (await step('rename', async () => {
        await storage.rename(name, renamed);
        if (await storage.stat(name)) throw new Error('the old name is still there after the rename');
        if ((await storage.stat(renamed))?.size !== PROBE_BYTES) throw new Error('the new name is missing after the rename');
        return 'renamed';
      })) &&
      (await step('delete', async () => {
        await storage.remove(renamed);
        if (await storage.stat(renamed)) throw new Error('still there after delete');
        return 'deleted';
      }));
    if (ok) {
      await step('space', async () => {
        space = await storage.space?.();
        return space?.free !== undefined ? `${space.free} bytes free` : 'the backend does not report free space';
      });
    }
  } finally {
    if (wrote) for (const n of [name, renamed]) await storage.remove(n).catch(() => undefined);
  }
  const failed = steps.find((s) => !s.ok && s.step !== 'space');
  return { ok: !failed, destination: storage.description, steps, space, ...(failed ? { error: `${failed.step}: ${failed.detail}` } : {}) };
}
