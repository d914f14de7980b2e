import { spawn } from 'node:child_process';
import os from 'node:os';
import { lowerPriority } from './priority.js';

describe('lowerPriority (BACKUP_NICE)', () => {
  it('lowers a child to the niceness asked, never raises it back, and shrugs at a process that is gone', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const start = os.getPriority(child.pid!);
      const target = Math.min(19, Math.max(start + 3, 7));
      lowerPriority(child.pid, target);
      expect(os.getPriority(child.pid!)).toBe(target);
      lowerPriority(child.pid, target - 2); // a smaller nice would raise it: left alone
      expect(os.getPriority(child.pid!)).toBe(target);
      lowerPriority(child.pid, 0);
      expect(os.getPriority(child.pid!)).toBe(target);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    expect(() => lowerPriority(child.pid, 12)).not.toThrow();
    expect(() => lowerPriority(undefined, 12)).not.toThrow();
  });
});
