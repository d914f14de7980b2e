import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Builds altered and hostile archives from a real one with the real `age` and GNU `tar` CLIs,
 * the way someone who controls the offsite storage (and holds only the public key) could.
 */
export interface Unpacked {
  /** Folder holding the members, as GNU tar extracted them. */
  dir: string;
  /** Member names in archive order (manifest.json last). */
  members: string[];
  manifest: Record<string, unknown> & { members: { name: string; size: number; sha256: string }[] };
}

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Decrypts with `age -d -i identity` and extracts with `tar -xz` into `dir`. */
export function unpackArchive(archive: string, identityFile: string, dir: string): Unpacked {
  fs.mkdirSync(dir, { recursive: true });
  const plain = execFileSync('age', ['--decrypt', '-i', identityFile, archive], { maxBuffer: 1 << 30 });
  const members = execFileSync('tar', ['-tz'], { input: plain, encoding: 'utf8', maxBuffer: 1 << 28 })
    .trim()
    .split('\n');
  execFileSync('tar', ['-xz', '-C', dir], { input: plain, maxBuffer: 1 << 28 });
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Unpacked['manifest'];
  return { dir, members, manifest };
}

export interface PackOptions {
  /** Members to write, in order; defaults to the unpacked order. */
  members?: string[];
  /** Extra GNU tar arguments placed before the member list (e.g. `--transform`). */
  tarArgs?: string[];
  /** Rewrite manifest.json from `u.manifest` (with member sizes and hashes recomputed). */
  recomputeManifest?: boolean;
}

/**
 * Packs `u.dir` back with `tar -cz` (members in the given order) and encrypts with `age -r`.
 * Writes the archive and a sidecar whose size, SHA-256 and members match it, so only the
 * content decides whether botctl accepts it.
 */
export function packArchive(u: Unpacked, recipient: string, archive: string, sidecar: Record<string, unknown>, opts: PackOptions = {}): void {
  const members = opts.members ?? u.members;
  if (opts.recomputeManifest !== false) {
    const listed = members
      .filter((m) => m !== 'manifest.json')
      .map((m) => {
        const file = path.join(u.dir, m);
        return { name: m, size: fs.statSync(file).size, sha256: sha256File(file) };
      });
    u.manifest.members = listed;
    fs.writeFileSync(path.join(u.dir, 'manifest.json'), `${JSON.stringify(u.manifest, null, 2)}\n`);
  }
  const tarred = execFileSync('tar', ['-cz', '--owner=0', '--group=0', '-C', u.dir, ...(opts.tarArgs ?? []), ...members], { maxBuffer: 1 << 30 });
  const enc = execFileSync('age', ['--encrypt', '-r', recipient], { input: tarred, maxBuffer: 1 << 30 });
  fs.writeFileSync(archive, enc, { mode: 0o600 });
  const sc = {
    ...sidecar,
    size: enc.length,
    sha256: createHash('sha256').update(enc).digest('hex'),
    members: u.manifest.members,
  };
  fs.writeFileSync(`${archive}.meta.json`, `${JSON.stringify(sc, null, 2)}\n`);
}

export function readSidecarFile(archive: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(`${archive}.meta.json`, 'utf8')) as Record<string, unknown>;
}
