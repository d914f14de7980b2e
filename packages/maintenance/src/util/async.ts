/**
 * Pulls up to `ahead` items from `source` before the consumer asks for them, so a slow consumer
 * and a fast producer overlap (pg_dump keeps writing the next part while the previous one is
 * compressed and encrypted). Memory is bounded by `ahead` items.
 */
export async function* prefetch<T>(source: AsyncIterable<T>, ahead: number): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  const queue: Promise<IteratorResult<T>>[] = [];
  const fill = () => {
    while (queue.length < ahead) {
      const p = it.next();
      // Errors surface when the item is consumed; keep Node from calling them unhandled meanwhile.
      p.catch(() => undefined);
      queue.push(p);
    }
  };
  let finished = false;
  try {
    fill();
    for (;;) {
      const r = await queue.shift()!;
      if (r.done) {
        finished = true;
        return;
      }
      fill();
      yield r.value;
    }
  } finally {
    if (!finished) await it.return?.(undefined).catch(() => undefined);
  }
}

/**
 * Fails with `makeError()` when `source` yields nothing for `ms` while we wait on it
 * (time spent downstream does not count). `onStall` must make the source finish (kill the
 * producer), so the pending read settles. One interval timer for the whole run: the per-item
 * cost is a clock read, which matters at thousands of pipe reads per second.
 */
export async function* withInactivityTimeout<T>(
  source: AsyncIterable<T>,
  ms: number,
  onStall: (error: Error) => void,
  makeError: () => Error,
): AsyncGenerator<T> {
  let waitingSince: number | undefined;
  let stalled: Error | undefined;
  const timer = setInterval(
    () => {
      if (!stalled && waitingSince !== undefined && Date.now() - waitingSince >= ms) {
        stalled = makeError();
        onStall(stalled);
      }
    },
    Math.max(50, Math.min(1000, Math.floor(ms / 5))),
  );
  try {
    const it = source[Symbol.asyncIterator]();
    for (;;) {
      waitingSince = Date.now();
      let r: IteratorResult<T>;
      try {
        r = await it.next();
      } catch (error) {
        throw stalled ?? error;
      }
      waitingSince = undefined;
      if (stalled) throw stalled;
      if (r.done) return;
      yield r.value;
    }
  } finally {
    // Also when the source throws: a forgotten timer would keep the process alive.
    clearInterval(timer);
  }
}

/** Resolves when `emitter` emits `event`; rejects on 'error' or a premature 'close'. */
export function onceDrained(stream: NodeJS.WritableStream & { destroyed?: boolean; errored?: Error | null }): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.destroyed) {
      reject(stream.errored ?? new Error('stream destroyed'));
      return;
    }
    const cleanup = () => {
      stream.removeListener('drain', onDrain);
      stream.removeListener('error', onError);
      stream.removeListener('close', onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onClose = () => {
      cleanup();
      reject(stream.errored ?? new Error('stream closed'));
    };
    stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

/**
 * `fn` over `items` with at most `limit` running at once; results in the items' order. For many
 * small file operations (thousands of sidecars), where one at a time waits on each in turn.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
