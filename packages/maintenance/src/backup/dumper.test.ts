import net from 'node:net';
import { Secret } from '@botctl/core';
import { PgDumper } from './dumper.js';

/**
 * A PostgreSQL that lets the client in (trust), answers its first `answered` queries with an empty
 * result, and closes the connection at the next one: a server going down while the backup's
 * snapshot session is being set up.
 */
async function failingServer(answered: number): Promise<{ url: Secret; close(): Promise<void> }> {
  const msg = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeInt32BE(body.length + 4);
    return Buffer.concat([Buffer.from(type), len, body]);
  };
  const int32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };
  const ready = msg('Z', Buffer.from('I'));
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    let started = false;
    let queries = 0;
    s.on('error', () => {});
    s.on('data', () => {
      if (!started) {
        started = true;
        s.write(Buffer.concat([msg('R', int32(0)), ready]));
        return;
      }
      if (queries++ < answered) s.write(Buffer.concat([msg('C', Buffer.from('SELECT 0\0')), ready]));
      else s.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: new Secret(`postgresql://shop@127.0.0.1:${port}/shop`),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('PgDumper.start', () => {
  // A restore's safety copy hung for ever when PostgreSQL stopped at this moment (CI, and the
  // fault test 'PostgreSQL restarting during a restore' under load).
  it.each([0, 1, 2, 3])('fails, never waits for ever, when the server goes away while the snapshot session is set up (after %i answers)', async (answered) => {
    const srv = await failingServer(answered);
    try {
      const started = new PgDumper({ databaseUrl: srv.url }).start();
      const outcome = await Promise.race([
        started.then(
          () => 'started',
          (e: Error) => `failed: ${e.message}`,
        ),
        new Promise((r) => setTimeout(() => r('still waiting'), 8000)),
      ]);
      expect(outcome).toMatch(/^failed: /);
    } finally {
      await srv.close();
    }
  });
});
