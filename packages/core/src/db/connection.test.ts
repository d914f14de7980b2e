import net from 'node:net';
import { Secret } from '../secret.js';
import { createSql } from './connection.js';

/**
 * A server that takes the TCP connection and closes it before answering the startup message, as
 * PostgreSQL does while it shuts down, or a proxy (pgbouncer, HAProxy) whose server is down.
 */
async function closingServer(): Promise<{ url: Secret; accepted: () => number; close(): Promise<void> }> {
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.once('data', () => s.destroy());
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: new Secret(`postgresql://shop:pw@127.0.0.1:${port}/shop`),
    accepted: () => accepted,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('createSql (postgres.js, patches/postgres@3.4.9.patch)', () => {
  it('fails a query and a reserve whose connection the server closes during the startup, instead of reconnecting forever', async () => {
    const srv = await closingServer();
    const sql = createSql(srv.url, { max: 1, connectTimeoutSeconds: 3 });
    try {
      const settle = <T>(p: Promise<T>) =>
        Promise.race([
          p.then(
            () => 'resolved',
            (e: { code?: string }) => `rejected ${e.code}`,
          ),
          new Promise((r) => setTimeout(() => r('still waiting'), 5000)),
        ]);
      // Before the patch: both still waiting after any time (a restore hung when PostgreSQL stopped).
      expect(await settle(sql.unsafe('SELECT 1'))).toBe('rejected CONNECTION_CLOSED');
      expect(await settle(sql.reserve())).toBe('rejected CONNECTION_CLOSED');
      // A few tries each, not an endless loop.
      expect(srv.accepted()).toBeLessThanOrEqual(6);
    } finally {
      await sql.end({ timeout: 1 }).catch(() => undefined);
      await srv.close();
    }
  });
});
