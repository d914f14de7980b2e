import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '@botctl/core';
import { isPartialName } from '@botctl/core';
import type { ConfigFileInfo } from '../archive/format.js';

interface FileToArchive {
  member: string;
  path: string;
  size: number;
  mtime: Date;
  mode: number;
}

export interface CollectedFiles {
  config: FileToArchive[];
  configInfo: ConfigFileInfo[];
  logs: FileToArchive[];
  warnings: string[];
}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Member name under `config/` for a file: relative to the tenant folder when inside it. */
function configMember(file: string, baseDir: string): string {
  const rel = path.relative(baseDir, file);
  if (!rel.startsWith('..') && !path.isAbsolute(rel)) return `config/${rel.split(path.sep).join('/')}`;
  return `config/external/${file.replace(/^\/+/, '').split(path.sep).join('/')}`;
}

/**
 * The files that go into an archive next to the dump: the env file in use plus
 * BACKUP_EXTRA_FILES (config), and every regular file under BOT_LOG_PATH (logs) except the
 * backup folders themselves. Sizes are taken now; a log that grows later is cut at this size.
 */
export async function collectFiles(config: Config, includeLogs: boolean): Promise<CollectedFiles> {
  const warnings: string[] = [];
  const configFiles: FileToArchive[] = [];
  const configInfo: ConfigFileInfo[] = [];
  const seen = new Set<string>();

  const addConfig = async (file: string, role: 'env' | 'extra') => {
    if (seen.has(file)) return;
    seen.add(file);
    const st = await fsp.stat(file).catch(() => undefined);
    if (!st) {
      warnings.push(`config file ${file} is missing; it is not in this backup`);
      return;
    }
    if (!st.isFile()) {
      warnings.push(`${file} is not a regular file; skipped`);
      return;
    }
    const member = configMember(file, config.baseDir);
    configFiles.push({ member, path: file, size: st.size, mtime: st.mtime, mode: st.mode & 0o777 });
    configInfo.push({ member, path: file, role });
  };

  if (config.envFile) await addConfig(config.envFile, 'env');
  for (const extra of config.backup.extraFiles) await addConfig(extra, 'extra');

  const logs: FileToArchive[] = [];
  if (includeLogs) {
    const skip = [config.backup.localDir, config.backup.offsiteDir];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') warnings.push(`cannot read log folder ${dir}`);
        return;
      }
      entries.sort((a, b) => a.name.localeCompare(b.name));
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (skip.some((s) => inside(full, s))) continue;
        if (e.isDirectory()) await walk(full);
        else if (e.isFile() && !isPartialName(e.name)) {
          const st = await fsp.stat(full).catch(() => undefined);
          if (!st) continue;
          const rel = path.relative(config.logPath, full).split(path.sep).join('/');
          logs.push({ member: `logs/${rel}`, path: full, size: st.size, mtime: st.mtime, mode: st.mode & 0o777 });
        }
      }
    };
    await walk(config.logPath);
  }
  return { config: configFiles, configInfo, logs, warnings };
}
