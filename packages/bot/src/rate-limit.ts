/**
 * Per-user sliding window: at most `limit` updates per `windowMs`. Over the limit, updates are
 * dropped and the user is told once per window, so a spammer costs one message, not hundreds.
 */
export class RateLimiter {
  readonly #hits = new Map<number, number[]>();
  readonly #warned = new Map<number, number>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    readonly now: () => number = Date.now,
  ) {}

  allow(userId: number): boolean {
    const t = this.now();
    const from = t - this.windowMs;
    const hits = (this.#hits.get(userId) ?? []).filter((h) => h > from);
    if (this.#hits.size > 50_000) this.#sweep(from);
    if (hits.length >= this.limit) {
      this.#hits.set(userId, hits);
      return false;
    }
    hits.push(t);
    this.#hits.set(userId, hits);
    return true;
  }

  /** How long until `userId` may send again (0 when they may now). */
  retryInMs(userId: number): number {
    const hits = this.#hits.get(userId) ?? [];
    if (hits.length < this.limit) return 0;
    return Math.max(0, hits[hits.length - this.limit]! + this.windowMs - this.now());
  }

  /** True the first time a limited user is seen in the current window. */
  shouldWarn(userId: number): boolean {
    const t = this.now();
    const last = this.#warned.get(userId);
    if (last !== undefined && t - last < this.windowMs) return false;
    this.#warned.set(userId, t);
    return true;
  }

  #sweep(from: number): void {
    for (const [k, v] of this.#hits) if (!v.some((h) => h > from)) this.#hits.delete(k);
    for (const [k, v] of this.#warned) if (v <= from) this.#warned.delete(k);
  }
}
