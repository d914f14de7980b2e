import type { CliContext } from '../cli/context.js';

/** Wraps a command body: builds the context from the global options and hands it over. */
export type Run = <O>(body: (ctx: CliContext, opts: O, args: string[]) => Promise<void>) => (...args: unknown[]) => Promise<void>;
