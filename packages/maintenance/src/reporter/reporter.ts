/**
 * How domain code tells a person what is happening. Domain code never writes to the console;
 * the command picks a reporter: text (progress bars only at a terminal), or silent (--json, cron
 * quiet mode).
 */
export interface Progress {
  /** Running total of bytes processed. */
  update(bytes: number): void;
  done(): void;
}

export interface Reporter {
  step(message: string): void;
  warn(message: string): void;
  /** `expectedBytes`, when known (the archive's size, the previous backup's), gives a percentage and an ETA. */
  progress(label: string, expectedBytes?: number): Progress;
}

const noProgress: Progress = { update: () => {}, done: () => {} };

export const silentReporter: Reporter = {
  step: () => {},
  warn: () => {},
  progress: () => noProgress,
};
