import { type Button, decodeButton, encodeButton } from './buttons.js';

const every: Button[] = [
  { kind: 'home' },
  { kind: 'catalog', page: 0 },
  { kind: 'catalog', page: 9999 },
  { kind: 'product', productId: 123456789 },
  { kind: 'quantity', productId: 7, quantity: 10 },
  { kind: 'buy', productId: 7, quantity: 3, pay: 'qris' },
  { kind: 'buy', productId: 7, quantity: 3, pay: 'balance' },
  { kind: 'balance' },
  { kind: 'deposit', amount: 100_000_000 },
  { kind: 'invoice', action: 'retry', invoice: 'order', id: '9223372036854775807' },
  { kind: 'invoice', action: 'cancel', invoice: 'deposit', id: '42' },
  { kind: 'orders' },
  { kind: 'order', orderId: '9223372036854775807' },
  { kind: 'invoice', action: 'check', invoice: 'order', id: '9223372036854775807' },
  { kind: 'terms', orderId: '9223372036854775807', productId: 123456789 },
  { kind: 'resend', orderId: '9223372036854775807' },
  { kind: 'broadcast', action: 'send', id: '9223372036854775807' },
  { kind: 'broadcast', action: 'cancel', id: '1' },
];

describe('the button codec', () => {
  it('decodes every button it encodes to the same button, within Telegram’s 64 bytes of callback data', () => {
    for (const b of every) {
      const data = encodeButton(b);
      expect(Buffer.byteLength(data)).toBeLessThanOrEqual(64);
      expect(decodeButton(data)).toEqual(b);
    }
  });

  it('gives distinct data to distinct buttons', () => {
    expect(new Set(every.map(encodeButton)).size).toBe(every.length);
  });

  it('rejects what it does not make: unknown prefixes, extra parts, signs, too many digits, nothing', () => {
    for (const data of [
      undefined,
      '',
      'x',
      'h:1',
      'c:-1',
      'c:12345',
      'p:1:2',
      'q:1',
      'b:1:1:z',
      'd:1e9',
      'i:r:o:',
      'i:y:o:1',
      'o:12345678901234567890',
      't:1',
      't:1:2:3',
      'a:r:',
      'a:b:y:1',
      'a:x:1',
      ' h',
      'h\n',
    ]) {
      expect(decodeButton(data)).toBeUndefined();
    }
  });
});
