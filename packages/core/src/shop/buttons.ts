/**
 * The shop's inline buttons: one codec builds their callback data and parses it back. Telegram
 * gives a button 64 bytes of data and sends it back verbatim, from any client, so parsing is
 * strict: anything that is not exactly what `encodeButton` makes decodes to `undefined`.
 */
export type Button =
  | { kind: 'home' }
  | { kind: 'catalog'; page: number }
  | { kind: 'product'; productId: number }
  | { kind: 'quantity'; productId: number; quantity: number }
  | { kind: 'buy'; productId: number; quantity: number; pay: 'qris' | 'balance' }
  | { kind: 'balance' }
  | { kind: 'deposit'; amount: number }
  | { kind: 'invoice'; action: 'retry' | 'cancel' | 'check'; invoice: 'order' | 'deposit'; id: string }
  | { kind: 'orders' }
  | { kind: 'order'; orderId: string }
  /** "✅ Penuhi SNK": the buyer starts answering the terms of one product of one order. */
  | { kind: 'terms'; orderId: string; productId: number }
  /** Staff: send a paid order's goods to its buyer again. */
  | { kind: 'resend'; orderId: string }
  /** Staff: a broadcast draft's confirm step. */
  | { kind: 'broadcast'; action: 'send' | 'cancel'; id: string };

const INVOICE_ACTION = { retry: 'r', cancel: 'x', check: 'k' } as const;

export type ButtonKind = Button['kind'];

export function encodeButton(b: Button): string {
  switch (b.kind) {
    case 'home':
      return 'h';
    case 'catalog':
      return `c:${b.page}`;
    case 'product':
      return `p:${b.productId}`;
    case 'quantity':
      return `q:${b.productId}:${b.quantity}`;
    case 'buy':
      return `b:${b.productId}:${b.quantity}:${b.pay === 'qris' ? 'q' : 's'}`;
    case 'balance':
      return 's';
    case 'deposit':
      return `d:${b.amount}`;
    case 'invoice':
      return `i:${INVOICE_ACTION[b.action]}:${b.invoice === 'order' ? 'o' : 'd'}:${b.id}`;
    case 'orders':
      return 'o';
    case 'order':
      return `o:${b.orderId}`;
    case 'terms':
      return `t:${b.orderId}:${b.productId}`;
    case 'resend':
      return `a:r:${b.orderId}`;
    case 'broadcast':
      return `a:b:${b.action === 'send' ? 's' : 'x'}:${b.id}`;
  }
}

const PATTERNS: { re: RegExp; make: (m: RegExpExecArray) => Button }[] = [
  { re: /^h$/, make: () => ({ kind: 'home' }) },
  { re: /^c:(\d{1,4})$/, make: (m) => ({ kind: 'catalog', page: Number(m[1]) }) },
  { re: /^p:(\d{1,9})$/, make: (m) => ({ kind: 'product', productId: Number(m[1]) }) },
  { re: /^q:(\d{1,9}):(\d{1,4})$/, make: (m) => ({ kind: 'quantity', productId: Number(m[1]), quantity: Number(m[2]) }) },
  {
    re: /^b:(\d{1,9}):(\d{1,4}):([qs])$/,
    make: (m) => ({ kind: 'buy', productId: Number(m[1]), quantity: Number(m[2]), pay: m[3] === 'q' ? 'qris' : 'balance' }),
  },
  { re: /^s$/, make: () => ({ kind: 'balance' }) },
  { re: /^d:(\d{1,12})$/, make: (m) => ({ kind: 'deposit', amount: Number(m[1]) }) },
  {
    re: /^i:([rxk]):([od]):(\d{1,19})$/,
    make: (m) => ({
      kind: 'invoice',
      action: m[1] === 'r' ? 'retry' : m[1] === 'x' ? 'cancel' : 'check',
      invoice: m[2] === 'o' ? 'order' : 'deposit',
      id: m[3]!,
    }),
  },
  { re: /^o$/, make: () => ({ kind: 'orders' }) },
  { re: /^o:(\d{1,19})$/, make: (m) => ({ kind: 'order', orderId: m[1]! }) },
  { re: /^t:(\d{1,19}):(\d{1,9})$/, make: (m) => ({ kind: 'terms', orderId: m[1]!, productId: Number(m[2]) }) },
  { re: /^a:r:(\d{1,19})$/, make: (m) => ({ kind: 'resend', orderId: m[1]! }) },
  { re: /^a:b:([sx]):(\d{1,19})$/, make: (m) => ({ kind: 'broadcast', action: m[1] === 's' ? 'send' : 'cancel', id: m[2]! }) },
];

export function decodeButton(data: string | undefined): Button | undefined {
  if (!data) return undefined;
  for (const p of PATTERNS) {
    const m = p.re.exec(data);
    if (m) return p.make(m);
  }
  return undefined;
}

/** An inline keyboard button. */
export const button = (text: string, b: Button): { text: string; callback_data: string } => ({ text, callback_data: encodeButton(b) });
