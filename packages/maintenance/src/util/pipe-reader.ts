import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * A pipe for a child's stdout that we read in large blocks through one reused read buffer.
 *
 * Reading a child's `stdout` stream allocates a fresh buffer on every read, and pg_dump writes a
 * few KiB at a time: about 100,000 reads and as many external allocations per GiB, which cost
 * more CPU in garbage collection (1.9 s per GiB, measured) than anything else botctl does to the
 * dump. Here the child writes into a FIFO (made in a private 0700 folder and unlinked as soon as
 * both ends are open, so no name stays on disk; the data only passes through the kernel), and a
 * socket with `onread` copies each read into the block being filled.
 */
export interface BlockPipe {
  /** The write end, for the child's `stdout` option. Close it (`closeWriteEnd`) once the child has it. */
  readonly writeFd: number;
  closeWriteEnd(): void;
  /**
   * Blocks of up to `blockSize` bytes, in order, ending when the writer closes its end. A block
   * is handed over when full, or after `flushMs` with whatever arrived, so a slow writer is still
   * seen as alive by a stall watchdog downstream. At most `ahead` blocks wait; then reading stops
   * (the writer blocks) until the consumer takes one.
   */
  readonly blocks: AsyncIterable<Buffer>;
  /**
   * Hands a full block back for reuse, once nothing refers to it any more (its last write has
   * completed): allocating a fresh 8 MiB block each time made V8 run a full garbage collection
   * every few blocks (74 per GiB, 1.4 s). Anything else passed here is ignored.
   */
  release(block: Buffer): void;
  /** Stops reading and closes the read end (the writer then gets EPIPE). */
  destroy(): void;
}

const execFileP = promisify(execFile);

/** coreutils' mkfifo (Node has no mkfifo(3)); also where PATH is bare, as under some cron set-ups. */
async function makeFifo(fifo: string): Promise<void> {
  let last: unknown;
  for (const bin of ['mkfifo', '/usr/bin/mkfifo', '/bin/mkfifo']) {
    try {
      await execFileP(bin, ['-m', '600', fifo]);
      return;
    } catch (error) {
      last = error;
    }
  }
  throw last;
}

export async function openBlockPipe(opts: { blockSize: number; flushMs?: number; ahead?: number }): Promise<BlockPipe> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'botctl-pipe-'));
  const fifo = path.join(dir, 'fifo');
  let readFd: number;
  let writeFd: number;
  try {
    await makeFifo(fifo);
    // Non-blocking, so the open does not wait for a writer; the write end then opens at once.
    readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    writeFd = fs.openSync(fifo, fs.constants.O_WRONLY);
  } finally {
    // unlink + rmdir, not rm -r: rm lstat()s the FIFO, and Node keeps the last stat result in a
    // process-wide buffer that fs.realpathSync reads, so every module loaded after it would be
    // resolved without following symlinks (pnpm's node_modules then breaks): nodejs/node#51142.
    await fsp.unlink(fifo).catch(() => undefined);
    await fsp.rmdir(dir);
  }
  const blockSize = opts.blockSize;
  const flushMs = opts.flushMs ?? 1000;
  const ahead = Math.max(1, opts.ahead ?? 2);

  const ready: Buffer[] = [];
  // Full blocks handed out and not yet back; only those may return to `free`.
  const lent = new WeakSet<Buffer>();
  const free: Buffer[] = [];
  const newBlock = () => free.pop() ?? Buffer.allocUnsafeSlow(blockSize);
  let block = newBlock();
  let fill = 0;
  let blockStarted = 0;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const handOver = () => {
    if (fill === 0) return;
    if (fill === blockSize) {
      lent.add(block);
      ready.push(block);
    } else {
      ready.push(block.subarray(0, fill));
    }
    block = newBlock();
    fill = 0;
    if (ready.length >= ahead) socket.pause();
    notify();
  };

  // `onread` is taken by the constructor too (Node's docs, net.Socket); @types/node lists it on connect() only.
  const socket = new net.Socket({
    fd: readFd,
    readable: true,
    writable: false,
    onread: {
      buffer: Buffer.allocUnsafeSlow(256 * 1024),
      callback: (n: number, buf: Uint8Array) => {
        let at = 0;
        if (fill === 0) blockStarted = performance.now();
        while (at < n) {
          const take = Math.min(blockSize - fill, n - at);
          (buf as Buffer).copy(block, fill, at, at + take);
          fill += take;
          at += take;
          if (fill === blockSize) {
            handOver();
            if (at < n) blockStarted = performance.now();
          }
        }
        if (fill > 0 && performance.now() - blockStarted >= flushMs) handOver();
        return true;
      },
    },
  } as net.SocketConstructorOpts);
  // A slow writer: what arrived is handed over within about flushMs even if no more comes.
  const timer = setInterval(
    () => {
      if (fill > 0 && performance.now() - blockStarted >= flushMs && ready.length < ahead) handOver();
    },
    Math.max(20, Math.floor(flushMs / 2)),
  );
  timer.unref();
  socket.once('end', () => {
    handOver();
    ended = true;
    clearInterval(timer);
    notify();
  });
  socket.once('error', (error) => {
    failure = error;
    clearInterval(timer);
    notify();
  });
  socket.once('close', () => {
    clearInterval(timer);
    ended = true;
    notify();
  });

  let writeOpen = true;
  const closeWriteEnd = () => {
    if (!writeOpen) return;
    writeOpen = false;
    fs.closeSync(writeFd);
  };

  async function* blocks(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const next = ready.shift();
        if (next) {
          if (ready.length < ahead && socket.isPaused()) socket.resume();
          yield next;
          continue;
        }
        if (failure) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      socket.destroy();
      clearInterval(timer);
    }
  }

  return {
    writeFd,
    closeWriteEnd,
    blocks: blocks(),
    release(b: Buffer) {
      if (!lent.has(b)) return;
      lent.delete(b);
      if (free.length < ahead + 2) free.push(b);
    },
    destroy() {
      clearInterval(timer);
      closeWriteEnd();
      socket.destroy();
      // Never a clean end: what was read so far is not the whole output.
      if (!ended) failure ??= new Error('the pipe was closed before its writer finished');
      ready.length = 0;
      notify();
    },
  };
}
