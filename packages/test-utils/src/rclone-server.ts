import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '@botctl/core';

export type RcloneProtocol = 'sftp' | 'webdav';

export interface RcloneServer {
  protocol: RcloneProtocol;
  /** The folder the server serves. */
  dir: string;
  port: number;
  /** The rclone remote name defined in `env`. */
  remoteName: string;
  /**
   * What a tenant's .env needs to reach this server: the remote defined in RCLONE_CONFIG_<NAME>_*
   * variables (password obscured, as rclone.conf holds it) and no config file.
   */
  env: Record<string, string>;
  /** The plain password, to check it never shows up anywhere. */
  password: string;
  /** SIGKILL, as a crashed server or a cut connection. */
  kill(): void;
  /** Starts it again on the same port and folder. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RcloneServerOptions {
  protocol: RcloneProtocol;
  dir: string;
  /** Scratch folder for the server's host keys and config. */
  stateDir: string;
  /** The server refuses every write. */
  readOnly?: boolean;
}

function obscure(password: string): string {
  return execFileSync('rclone', ['obscure', '-'], { input: password, encoding: 'utf8' }).trim();
}

/**
 * A real rclone server (`rclone serve sftp|webdav`) on 127.0.0.1 over a temp folder, for testing
 * offsite storage against the real rclone client. User and password reach the server through
 * its environment (RCLONE_USER/RCLONE_PASS), like the client's.
 */
export async function startRcloneServer(opts: RcloneServerOptions): Promise<RcloneServer> {
  fs.mkdirSync(opts.dir, { recursive: true });
  fs.mkdirSync(opts.stateDir, { recursive: true });
  const port = await freePort();
  const user = 'botctl';
  const password = `pw-${randomBytes(9).toString('hex')}`;
  const remoteName = `TEST${opts.protocol.toUpperCase()}${port}`;
  let child: ChildProcess | undefined;

  const start = async () => {
    const args = ['serve', opts.protocol, opts.dir, '--addr', `127.0.0.1:${port}`, ...(opts.readOnly ? ['--read-only'] : [])];
    child = spawn('rclone', args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        RCLONE_USER: user,
        RCLONE_PASS: password,
        RCLONE_CONFIG: path.join(opts.stateDir, 'server.conf'),
        XDG_CACHE_HOME: path.join(opts.stateDir, 'cache'),
        HOME: opts.stateDir,
      },
    });
    const c = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`rclone serve ${opts.protocol} did not start:\n${log}`)), 20_000);
      c.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        if (/listening on|Server started on/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`rclone serve ${opts.protocol} exited ${code}:\n${log}`));
      });
    });
    c.stderr!.resume();
  };
  await start();

  const prefix = `RCLONE_CONFIG_${remoteName}_`;
  const env: Record<string, string> = {
    RCLONE_CONFIG: path.join(opts.stateDir, 'client-none.conf'),
    [`${prefix}TYPE`]: opts.protocol,
    [`${prefix}USER`]: user,
    [`${prefix}PASS`]: obscure(password),
    ...(opts.protocol === 'sftp'
      ? { [`${prefix}HOST`]: '127.0.0.1', [`${prefix}PORT`]: String(port) }
      : { [`${prefix}URL`]: `http://127.0.0.1:${port}`, [`${prefix}VENDOR`]: 'other' }),
  };

  const stopChild = async (signal: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };

  return {
    protocol: opts.protocol,
    dir: opts.dir,
    port,
    remoteName,
    env,
    password,
    kill: () => {
      child?.kill('SIGKILL');
    },
    restart: async () => {
      await stopChild('SIGKILL');
      await start();
    },
    stop: () => stopChild('SIGTERM'),
  };
}
