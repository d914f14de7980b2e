import { formatBytes, formatDuration } from '@botctl/core';
import type { ChalkInstance } from 'chalk';
// Statically: the release bundle (esbuild) inlines only what is imported, and a require() at run
// time finds no node_modules there.
import cliProgress from 'cli-progress';
import type { Progress, Reporter } from '@botctl/maintenance';

/**
 * Human output on stderr (stdout stays for results). At a terminal: colours and a live progress
 * line (bytes, rate, elapsed, and a percentage with an ETA when the size to expect is known). Under cron, with NO_COLOR or when not a TTY: plain lines, no bars.
 */
export class TextReporter implements Reporter {
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #style: ChalkInstance;
  readonly #warnPrefix: string;

  /** `warnPrefix`: `<4>` when stderr is the systemd journal (the warning priority). */
  constructor(stream: NodeJS.WriteStream, style: ChalkInstance, tty: boolean, warnPrefix = '') {
    this.#stream = stream;
    this.#style = style;
    this.#tty = tty;
    this.#warnPrefix = warnPrefix;
  }

  step(message: string): void {
    this.#stream.write(`${this.#style.cyan('•')} ${message}\n`);
  }

  warn(message: string): void {
    this.#stream.write(`${this.#warnPrefix}${this.#style.yellow('warning:')} ${message}\n`);
  }

  progress(label: string, expectedBytes?: number): Progress {
    if (!this.#tty) return { update: () => {}, done: () => {} };
    const started = performance.now();
    const bar = new cliProgress.SingleBar(
      {
        stream: this.#stream,
        format: `  ${label} {bytes}{share} at {rate} · {elapsed}{left}`,
        hideCursor: true,
        clearOnComplete: true,
        fps: 8,
        barsize: 0,
        noTTYOutput: false,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(1, 0, { bytes: formatBytes(0), share: '', rate: '—', elapsed: '0 s', left: '' });
    let stopped = false;
    return {
      update: (bytes) => {
        if (stopped) return;
        const secs = (performance.now() - started) / 1000;
        const rate = secs > 0.2 ? bytes / secs : 0;
        // An estimate (the previous backup may be smaller): never 100 % or a negative ETA before the end.
        const share = expectedBytes && expectedBytes > 0 ? Math.min(0.99, bytes / expectedBytes) : undefined;
        bar.update(0, {
          bytes: formatBytes(bytes),
          share: share === undefined ? '' : ` (${Math.floor(share * 100)}%)`,
          rate: rate > 0 ? `${formatBytes(rate)}/s` : '—',
          elapsed: formatDuration(performance.now() - started),
          left: share !== undefined && rate > 0 && bytes < expectedBytes! ? ` · ETA ${formatDuration(((expectedBytes! - bytes) / rate) * 1000)}` : '',
        });
      },
      done: () => {
        if (stopped) return;
        stopped = true;
        bar.stop();
      },
    };
  }
}
