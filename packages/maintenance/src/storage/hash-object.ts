import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashTap } from '../util/hashing.js';
import type { Storage } from './storage.js';

/** Reads an object back and returns its SHA-256 (streaming). */
export async function hashObject(storage: Storage, name: string, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  const tap = new HashTap();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  await pipeline(await storage.read(name), tap, sink, signal ? { signal } : {});
  return { sha256: tap.digest(), size: tap.bytes };
}
