import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The files botctl and the bot ship beside their code, found the same way in a checkout (paths in
 * the workspace) and in the release tree that `pnpm release` builds (lib/botctl.mjs and lib/bot.mjs,
 * every other file under the tree's root). The release bundler defines BOTCTL_RELEASE; in a
 * checkout the name is not declared at all, so `typeof` tells the two apart.
 */
declare const BOTCTL_RELEASE: { version: string } | undefined;

const release = typeof BOTCTL_RELEASE === 'undefined' ? undefined : BOTCTL_RELEASE;

/** Each shipped file: its path in the checkout, then in the release tree (both from the root). */
const FILES = {
  /** The SQL migrations. */
  migrations: ['packages/core/migrations', 'share/migrations'],
  /** The settings template (`botctl init tenant`). */
  envExample: ['.env.example', '.env.example'],
  releaseNotes: ['docs/08_release_notes.md', 'docs/08_release_notes.md'],
  /** The botctl CLI entry (the demo runs it as separate processes). */
  cli: ['packages/maintenance-cli/dist/main.js', 'lib/botctl.mjs'],
} as const;

export type ShippedFile = keyof typeof FILES;

/**
 * The root: in the release, the folder above lib/ (every inlined module's import.meta.url is the
 * bundle's); in a checkout, three folders above this file (packages/core/{src,dist}/shipped.*).
 */
function root(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, release ? '..' : '../../..');
}

/** Where a shipped file is, in this checkout or release tree. */
export function shippedPath(what: ShippedFile): string {
  return path.join(root(), FILES[what][release ? 1 : 0]);
}

/** True when running from the release bundle (`pnpm release`), not a checkout. */
export function isReleaseBuild(): boolean {
  return release !== undefined;
}

/**
 * The version: the release's, or the given package.json's in a checkout ('0.0.0' when that cannot
 * be read).
 */
export function shippedVersion(packageJson: URL): string {
  if (release) return release.version;
  try {
    return (JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
