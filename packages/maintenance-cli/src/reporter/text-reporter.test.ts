import { Chalk } from 'chalk';
import { TextReporter } from './text-reporter.js';

/** A terminal as cli-progress drives it, recording what was written. */
function fakeTerminal(): { stream: NodeJS.WriteStream; text: () => string } {
  let buf = '';
  const stream = {
    isTTY: true,
    columns: 120,
    write(chunk: string) {
      buf += chunk;
      return true;
    },
    cursorTo: () => true,
    clearLine: () => true,
    clearScreenDown: () => true,
    moveCursor: () => true,
    on: () => stream,
    removeListener: () => stream,
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => buf };
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('TextReporter progress', () => {
  it('shows a percentage and an ETA when the size to expect is known, bytes and rate only when not', async () => {
    const term = fakeTerminal();
    const reporter = new TextReporter(term.stream, new Chalk({ level: 0 }), true);
    const known = reporter.progress('verify x', 4 * 1048576);
    await tick(250);
    known.update(1048576);
    await tick(300);
    known.update(2 * 1048576);
    await tick(300);
    expect(term.text()).toMatch(/verify x 2(\.0+)? MiB \(50%\) at .+\/s · .+ · ETA /);
    known.done();
    const unknown = fakeTerminal();
    const p = new TextReporter(unknown.stream, new Chalk({ level: 0 }), true).progress('dump');
    await tick(250);
    p.update(1048576);
    await tick(300);
    p.done();
    expect(unknown.text()).toMatch(/dump 1(\.0+)? MiB at /);
    expect(unknown.text()).not.toMatch(/%|ETA/);
  });

  it('never claims 100 % before the end when the estimate was too small', async () => {
    const term = fakeTerminal();
    const p = new TextReporter(term.stream, new Chalk({ level: 0 }), true).progress('dump', 1000);
    await tick(250);
    p.update(5000);
    await tick(300);
    p.done();
    expect(term.text()).toMatch(/\(99%\)/);
    expect(term.text()).not.toMatch(/100%|ETA/);
  });
});
