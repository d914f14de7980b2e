import { ExitCode } from '@botctl/core/errors';
import type { Command } from 'commander';
import { fullCommandTree } from '../cli/program.js';
import { TOOL_VERSION } from '../cli/version.js';
import type { Run } from './types.js';

/** Text safe inside roff: backslashes and a leading dot or quote escaped. */
const roff = (s: string) =>
  s
    .replace(/\\/g, '\\e')
    .replace(/^([.'])/gm, '\\&$1')
    .replace(/-/g, '\\-');

function section(cmd: Command, path: string[], out: string[]): void {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  if (path.length > 0 && subs.length === 0) {
    const args = cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(' ');
    out.push('.TP', `.B ${roff(['botctl', ...path].join(' '))}${args ? ` ${roff(args)}` : ''}`, roff(cmd.description()));
    for (const o of cmd.options) out.push('.RS', '.TP', `.B ${roff(o.flags)}`, roff(o.description), '.RE');
  }
  for (const c of subs) section(c, [...path, c.name()], out);
}

/** botctl(1) in roff, from the command definitions (every command, its arguments and options). */
function manPage(program: Command): string {
  const out = [
    `.TH BOTCTL 1 "" "botctl ${TOOL_VERSION}" "User Commands"`,
    '.SH NAME',
    `botctl \\- ${roff(program.description())}`,
    '.SH SYNOPSIS',
    '.B botctl',
    '[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR]',
    '.SH GLOBAL OPTIONS',
  ];
  for (const o of program.options) out.push('.TP', `.B ${roff(o.flags)}`, roff(o.description));
  out.push('.SH COMMANDS');
  section(program, [], out);
  out.push(
    '.SH EXIT STATUS',
    `${Object.entries(ExitCode)
      .map(([name, code]) => `${code} ${name}`)
      .join(', ')}. healthcheck and status: 0 ok, 1 warning, 2 critical, 3 unknown. See docs/exit\\-codes.md.`,
    '.SH FILES',
    'The tenant\\(aqs env file (\\fB\\-\\-env\\-file\\fR, default \\fI./.env\\fR); every setting is listed in \\fI.env.example\\fR and docs/configuration.md.',
    '.SH SEE ALSO',
    'pg_dump(1), age(1), rclone(1)',
  );
  return `${out.join('\n')}\n`;
}

export function registerMan(cmd: Command, run: Run): void {
  cmd.action(
    run(async (ctx) => {
      ctx.io.stdout.write(manPage(await fullCommandTree(ctx.io)));
    }),
  );
}
