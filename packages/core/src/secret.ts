import { inspect } from 'node:util';

const REDACTED = '**redacted**';

/**
 * A value that must never be printed. Every way of turning it into text (template strings,
 * JSON.stringify, util.inspect, console.log) yields `**redacted**`; only `reveal()` gives the value,
 * and callers use it only to hand the secret to the thing that needs it (an env var, a cipher).
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** Registry of known secret values so free text (stderr of a tool, an error) can be scrubbed. */
export class Redactor {
  readonly #values = new Set<string>();

  add(value: string | Secret | undefined | null): this {
    const raw = value instanceof Secret ? value.reveal() : value;
    // Very short values would scrub ordinary words; they are not worth protecting this way.
    if (raw && raw.length >= 4) this.#values.add(raw);
    return this;
  }

  redact(text: string): string {
    let out = text;
    for (const value of [...this.#values].sort((a, b) => b.length - a.length)) {
      out = out.split(value).join(REDACTED);
      const encoded = encodeURIComponent(value);
      if (encoded !== value) out = out.split(encoded).join(REDACTED);
    }
    return redactPatterns(out);
  }
}

const BOT_TOKEN = /\b\d{5,}:[A-Za-z0-9_-]{30,}\b/g;
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/\s]*@/gi;
const AGE_SECRET = /AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]+/g;

/** Scrubs secrets that have a recognisable shape even when we were never told their value. */
export function redactPatterns(text: string): string {
  return text.replace(BOT_TOKEN, REDACTED).replace(URL_PASSWORD, `$1:${REDACTED}@`).replace(AGE_SECRET, REDACTED);
}

export { REDACTED };
