import { createLogger } from '@botctl/core';
import { LongPoller, UpdateDispatcher } from './updates.js';

const log = createLogger({ timeZone: 'UTC', sinks: [] });

describe('LongPoller', () => {
  it('keeps a floor delay between empty answers from a server that does not hold the poll (a local Bot API proxy answering at once)', async () => {
    let polls = 0;
    const api = {
      call: async <T>(method: string): Promise<T> => {
        if (method === 'getUpdates') polls++;
        // An answer over the network: on a later turn of the event loop, at once.
        await new Promise((r) => setImmediate(r));
        return [] as T;
      },
    };
    const poller = new LongPoller({ api, dispatcher: new UpdateDispatcher(async () => {}), log });
    poller.start();
    await new Promise((r) => setTimeout(r, 1200));
    await poller.stop();
    // Before: one poll per event-loop turn, hundreds a second. Now: about one a second.
    expect(polls).toBeGreaterThanOrEqual(1);
    expect(polls).toBeLessThanOrEqual(3);
  });

  it('polls again at once after an answer with updates', async () => {
    let polls = 0;
    const handled: number[] = [];
    const api = {
      call: async <T>(method: string, params?: Record<string, unknown>): Promise<T> => {
        if (method !== 'getUpdates' || params?.timeout === 0) return [] as T;
        polls++;
        await new Promise((r) => setImmediate(r));
        const offset = Number(params?.offset ?? 0);
        return (offset < 5 ? [{ update_id: offset, message: { chat: { id: 1 } } }] : []) as T;
      },
    };
    const poller = new LongPoller({ api, dispatcher: new UpdateDispatcher(async (u) => void handled.push(u.update_id)), log });
    poller.start();
    await new Promise((r) => setTimeout(r, 300));
    await poller.stop();
    expect(handled).toEqual([0, 1, 2, 3, 4]);
    expect(polls).toBeLessThanOrEqual(7);
  });
});
