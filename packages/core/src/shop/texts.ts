import { TELEGRAM_TEXT_LIMIT } from '../telegram/bot-api.js';
import type { Delivery } from './orders.js';
import type { ExpiredInvoice } from './expiry.js';
import type { SettleOutcome } from './payments.js';

// What the shop says to buyers (in Indonesian, HTML) and to the owners. The rules in the other
// files decide what happens; these only word it.

type Outcome<K extends SettleOutcome['outcome']> = Extract<SettleOutcome, { outcome: K }>;

/** `Rp35.000`: rupiah the way buyers write it. */
export function rupiah(amount: number): string {
  return `Rp${Math.round(amount).toLocaleString('id-ID')}`;
}

export const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Splits lines into messages under Telegram's limit, never inside a line. */
export function chunkLines(lines: string[], limit = TELEGRAM_TEXT_LIMIT - 96): string[] {
  const out: string[] = [];
  let cur = '';
  for (const line of lines) {
    const l = line.length > limit ? line.slice(0, limit) : line;
    if (cur && cur.length + 1 + l.length > limit) {
      out.push(cur);
      cur = '';
    }
    cur = cur ? `${cur}\n${l}` : l;
  }
  if (cur) out.push(cur);
  return out;
}

export function deliveryMessages(d: Delivery): string[] {
  const lines = [`✅ <b>Pembayaran diterima</b>: pesanan <code>${escapeHtml(d.publicId)}</code> (${rupiah(d.total)}).`, ''];
  for (const item of d.items) {
    lines.push(`📦 <b>${escapeHtml(item.productName)}</b> × ${item.quantity}`);
    for (const s of item.secrets) lines.push(`<code>${escapeHtml(s)}</code>`);
    lines.push('');
  }
  lines.push('Simpan data di atas baik-baik. Lihat lagi kapan saja lewat /pesanan.');
  return chunkLines(lines);
}

export function termsPrompt(t: { productName: string; content: string; publicId: string }): string {
  return (
    `📝 <b>SNK ${escapeHtml(t.productName)}</b> (pesanan <code>${escapeHtml(t.publicId)}</code>)\n\n${escapeHtml(t.content)}\n\n` +
    'Tekan <b>✅ Penuhi SNK</b> bila sudah siap, lalu kirim jawaban atau bukti sebagai <b>teks atau foto</b>. Data ini hanya dilihat pemilik toko.'
  );
}

/** The owners' note on a paid order whose first delivery failed. */
export function undeliveredNote(r: { givenUp: boolean; error: string }): string {
  return r.givenUp
    ? `\n❌ Barang TIDAK terkirim ke pembeli: ${r.error}. Pembeli bisa melihatnya lewat /pesanan.`
    : `\n⚠️ Barang belum sampai ke pembeli (${r.error}); dicoba lagi otomatis.`;
}

export function expiredNotice(e: ExpiredInvoice): string {
  return e.kind === 'order'
    ? `⌛ Invoice ${e.publicId} (${rupiah(e.amount)}) sudah kedaluwarsa dan dibatalkan. Stok sudah dikembalikan; silakan pesan ulang lewat /start bila masih berminat.`
    : `⌛ Invoice deposit ${e.publicId} (${rupiah(e.amount)}) sudah kedaluwarsa. Saldo tidak berubah; buat deposit baru lewat /saldo bila perlu.`;
}

/** What replaces an invoice in the chat once it is paid. */
export const invoicePaidText = (gatewayOrderId: string): string => `✅ Invoice ${gatewayOrderId} lunas.`;

export function orderPaidOwnersText(s: Outcome<'order_paid'>, items: string, undelivered?: { givenUp: boolean; error: string }): string {
  return `💰 Pesanan ${s.gatewayOrderId} lunas: ${rupiah(s.amount)} (${items}) oleh pembeli ${s.chatId}.${undelivered ? undeliveredNote(undelivered) : ''}`;
}

const feeText = (s: Outcome<'order_refunded'>): string => {
  const fee = s.amount - s.price;
  return fee > 0 ? ` (harga ${rupiah(s.price)} + biaya QRIS ${rupiah(fee)})` : '';
};

export function refundedBuyerText(s: Outcome<'order_refunded'>): string {
  return (
    `ℹ️ Pembayaran invoice <code>${escapeHtml(s.gatewayOrderId)}</code> diterima setelah kedaluwarsa, tetapi stoknya sudah habis. ` +
    `Seluruh pembayaran Anda, ${rupiah(s.amount)}${feeText(s)}, sudah masuk ke saldo (saldo sekarang ${rupiah(s.balance)}).`
  );
}

export function refundedOwnersText(s: Outcome<'order_refunded'>): string {
  return `⚠️ Pesanan ${s.gatewayOrderId} dibayar setelah kedaluwarsa dan stok habis: ${rupiah(s.amount)}${feeText(s)} dikembalikan ke saldo pembeli ${s.chatId}.`;
}

export const depositBuyerText = (s: Outcome<'deposit_credited'>): string =>
  `✅ Deposit ${rupiah(s.amount)} masuk. Saldo Anda sekarang <b>${rupiah(s.balance)}</b>.`;

export const depositOwnersText = (s: Outcome<'deposit_credited'>): string =>
  `💳 Deposit ${s.gatewayOrderId} lunas: ${rupiah(s.amount)} oleh pembeli ${s.chatId}.`;

export function mismatchOwnersText(s: Outcome<'mismatch'>): string {
  return `⚠️ Pembayaran ${s.gatewayOrderId} tidak diproses: jumlah atau pesanan di gateway tidak cocok (${s.detail}). Cek transaksi ini di dashboard Pakasir sebelum mengirim barang atau mengembalikan dana.`;
}
