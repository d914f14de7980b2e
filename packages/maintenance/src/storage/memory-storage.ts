import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { partialName } from '@botctl/core';
import { HashTap } from '../util/hashing.js';
import { assertObjectName, type PutOptions, type PutResult, type Storage, StorageError, type StoredObject } from './storage.js';

/** In-memory storage for unit tests; follows the same contract as the real ones. */
export class MemoryStorage implements Storage {
  readonly kind = 'memory' as const;
  readonly description = 'memory';
  readonly objects = new Map<string, { data: Buffer; mtime: Date }>();

  async list(): Promise<StoredObject[]> {
    return [...this.objects].map(([name, o]) => ({ name, size: o.data.length, mtime: o.mtime }));
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    assertObjectName(name);
    const o = this.objects.get(name);
    return o ? { name, size: o.data.length, mtime: o.mtime } : undefined;
  }

  async read(name: string): Promise<Readable> {
    assertObjectName(name);
    const o = this.objects.get(name);
    if (!o) throw new StorageError('NOT_FOUND', `${name} not found`);
    return Readable.from([o.data]);
  }

  async put(name: string, source: Readable, options: PutOptions = {}): Promise<PutResult> {
    assertObjectName(name);
    if (this.objects.has(name)) throw new StorageError('ALREADY_EXISTS', `${name} already exists`);
    const tmp = partialName(name);
    const chunks: Buffer[] = [];
    const tap = new HashTap(options.onProgress);
    this.objects.set(tmp, { data: Buffer.alloc(0), mtime: new Date() });
    try {
      await pipeline(
        source,
        tap,
        async (s: AsyncIterable<Buffer>) => {
          for await (const c of s) chunks.push(c);
        },
        options.signal ? { signal: options.signal } : {},
      );
    } catch (error) {
      this.objects.delete(tmp);
      throw error;
    }
    this.objects.delete(tmp);
    if (this.objects.has(name)) throw new StorageError('ALREADY_EXISTS', `${name} already exists`);
    this.objects.set(name, { data: Buffer.concat(chunks), mtime: new Date() });
    return { size: tap.bytes, sha256: tap.digest() };
  }

  async writeSmall(name: string, data: string | Uint8Array): Promise<void> {
    assertObjectName(name);
    this.objects.set(name, { data: Buffer.from(data), mtime: new Date() });
  }

  async readSmall(name: string): Promise<Buffer | undefined> {
    assertObjectName(name);
    return this.objects.get(name)?.data;
  }

  async rename(from: string, to: string): Promise<void> {
    assertObjectName(from);
    assertObjectName(to);
    const o = this.objects.get(from);
    if (!o) throw new StorageError('NOT_FOUND', `${from} not found`);
    this.objects.delete(from);
    this.objects.set(to, o);
  }

  async remove(name: string): Promise<void> {
    assertObjectName(name);
    this.objects.delete(name);
  }
}
