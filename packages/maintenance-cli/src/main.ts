#!/usr/bin/env -S node --
import fs from 'node:fs';
import { ExitCode, InterruptedError } from '@botctl/core/errors';
import { redactPatterns } from '@botctl/core/secret';
import { runCli } from './cli/run-cli.js';

// SIGINT/SIGTERM abort the running command (it cleans up and exits 130/143); a second one exits at once.
const controller = new AbortController();
let signals = 0;
const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
  signals++;
  if (signals > 1) process.exit(signal === 'SIGINT' ? ExitCode.INTERRUPTED : ExitCode.TERMINATED);
  controller.abort(new InterruptedError(signal));
};
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

// systemd sets JOURNAL_STREAM to the journal stream's device:inode; stderr is the journal when it is that file.
// Asked only when there is something to print at a priority, never at start-up.
const journal = () => {
  const named = process.env.JOURNAL_STREAM;
  if (!named) return false;
  const st = fs.fstatSync(2);
  return named === `${st.dev}:${st.ino}`;
};

runCli(process.argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), signal: controller.signal, journal }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`botctl: fatal: ${redactPatterns(String(error))}\n`);
    process.exitCode = ExitCode.FAILURE;
  },
);
