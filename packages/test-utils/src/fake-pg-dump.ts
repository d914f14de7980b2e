import { findPgTool } from '@botctl/core';
import { writeFakeBin } from './fake-bin.js';

export type FakePgDumpBehaviour =
  | { kind: 'fail-halfway'; bytes: number }
  | { kind: 'garbage' }
  | { kind: 'hang' }
  /** `started`: a file touched as it starts, before the wait (botctl has exported the snapshot by then). */
  | { kind: 'slow'; seconds: number; started?: string }
  | { kind: 'slow-output'; seconds: number }
  | { kind: 'old-version'; version: string }
  | { kind: 'record'; file: string }
  | { kind: 'record-nice'; file: string };

/**
 * A `pg_dump` to put first on PATH. It answers `--version` like the real one (unless told
 * otherwise) and then misbehaves as asked; `slow`, `slow-output` and `record` run the real pg_dump.
 */
export function writeFakePgDump(dir: string, behaviour: FakePgDumpBehaviour): string {
  const real = findPgTool('pg_dump', {
    envPath: (process.env.PATH ?? '')
      .split(':')
      .filter((p) => p !== dir)
      .join(':'),
  });
  const version =
    behaviour.kind === 'old-version'
      ? `if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) ${behaviour.version}"; exit 0; fi`
      : `if [ "$1" = "--version" ]; then exec "${real}" --version; fi`;
  let body: string;
  switch (behaviour.kind) {
    case 'fail-halfway':
      body = `"${real}" "$@" | head -c ${behaviour.bytes}\necho "pg_dump: error: connection to server lost" >&2\nexit 1`;
      break;
    case 'garbage':
      body = 'head -c 200000 /dev/urandom\nexit 0';
      break;
    case 'hang':
      body = 'exec sleep 3600';
      break;
    case 'slow':
      body = `${behaviour.started ? `: > '${behaviour.started}'\n` : ''}sleep ${behaviour.seconds}\nexec "${real}" "$@"`;
      break;
    case 'slow-output':
      // The real pg_dump starts at once (it has imported the snapshot), its output arrives late.
      body = `"${real}" "$@" | { sleep ${behaviour.seconds}; cat; }`;
      break;
    case 'old-version':
      body = `exec "${real}" "$@"`;
      break;
    case 'record':
      body = `echo "ARGS: $*" >> "${behaviour.file}"\nsleep 1\nexec "${real}" "$@"`;
      break;
    case 'record-nice':
      // Its own niceness and its parent's (botctl), as the real pg_dump would run with.
      body = `echo "pg_dump $(nice) parent $(awk '{print $19}' /proc/$PPID/stat)" >> "${behaviour.file}"\nexec "${real}" "$@"`;
      break;
  }
  return writeFakeBin(dir, 'pg_dump', `${version}\n${body}`);
}
