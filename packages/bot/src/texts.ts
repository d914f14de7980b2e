import { type CatalogProduct, escapeHtml, rupiah } from '@botctl/core';
import { button } from '@botctl/core';

/** What buyers read, in Indonesian; one place so wording stays consistent. */

export type Keyboard = ({ text: string; callback_data: string } | { text: string; url: string })[][];

export const T = {
  unknown: 'Perintah tidak dikenal. Ketik /start untuk melihat menu.',
  rateLimited: (waitMs: number) => `⏳ Terlalu banyak permintaan. Coba lagi dalam ${Math.max(1, Math.ceil(waitMs / 1000))} detik.`,
  error: '⚠️ Maaf, terjadi kesalahan. Coba lagi sebentar lagi; bila berulang, hubungi admin toko.',
  gatewayDown: '⚠️ Layanan pembayaran sedang bermasalah, pesanan dibatalkan dan stok dikembalikan. Coba lagi beberapa menit lagi atau bayar pakai saldo.',
  gatewayDownDeposit: '⚠️ Layanan pembayaran sedang bermasalah, invoice deposit belum bisa dibuat. Coba lagi beberapa menit lagi.',
  outOfStock: (available: number) =>
    available > 0 ? `😔 Stok tidak cukup: tersisa ${available}. Pilih jumlah yang lebih sedikit.` : '😔 Maaf, stok produk ini sedang habis.',
  unavailable: 'Produk ini sudah tidak tersedia.',
  nothingToSubmit: 'Ketik /start untuk melihat produk, /saldo untuk saldo, /pesanan untuk pesanan Anda.',
  snkSaved: (product: string) => `✅ Terima kasih, SNK untuk ${product} sudah kami terima dan diteruskan ke pemilik toko.`,
  depositUsage: (min: number) => `Ketik /deposit JUMLAH, misalnya /deposit ${Math.max(min, 50_000)}. Minimal ${rupiah(min)}.`,
  depositTooSmall: (min: number) => `Minimal deposit ${rupiah(min)}.`,
  depositTooLarge: (max: number) => `Maksimal deposit ${rupiah(max)} sekali isi. Untuk jumlah lebih besar, isi beberapa kali.`,
  depositOneAmount: (min: number) => `Tulis satu jumlah saja, misalnya /deposit ${Math.max(min, 50_000)}.`,
  blocked: '🚫 Maaf, akun Anda tidak dapat berbelanja di toko ini. Hubungi admin toko bila menurut Anda ini keliru.',
  quantityTooLarge: (max: number) => `Jumlah maksimal per pesanan adalah ${max}. Untuk lebih banyak, buat beberapa pesanan.`,
  quantityByButtons: 'Pilih jumlah dengan tombol di halaman produk. Ketik /produk untuk melihat produk.',
  notText: 'Maaf, saya hanya membaca teks dan tombol, bukan stiker, suara atau berkas. Ketik /start untuk melihat menu.',
  snkTapFirst: (product: string, publicId: string) =>
    `📝 Pesanan <code>${escapeHtml(publicId)}</code> menunggu SNK ${escapeHtml(product)}. Tekan <b>✅ Penuhi SNK</b> dulu, lalu kirim jawaban Anda.`,
  snkAsk: (product: string, content: string) =>
    `📝 <b>SNK ${escapeHtml(product)}</b>\n\n${escapeHtml(content)}\n\nKirim jawaban Anda <b>sekarang</b> sebagai teks atau foto (dalam 60 menit). Pesan berikutnya dari Anda dicatat sebagai jawaban SNK.`,
  snkAnswered: 'SNK pesanan ini sudah kami terima.',
  invoiceClosed: 'Invoice ini sudah tidak aktif.',
  invoicePending: (publicId: string) => `Belum ada pembayaran masuk untuk ${publicId}. Status dicek otomatis; barang dikirim begitu pembayaran terkonfirmasi.`,
  invoicePaid: '✅ Pembayaran diterima.',
  gatewayBusy: 'Layanan pembayaran belum bisa dihubungi. Coba lagi sebentar lagi.',
};

/** The buttons under an open invoice: check it now, cancel it, and the gateway's pay page where there is one. */
export function invoiceKeyboard(o: { kind: 'order' | 'deposit'; id: string; payUrl?: string | undefined }): Keyboard {
  const k: Keyboard = [
    [
      button('🔄 Cek status', { kind: 'invoice', action: 'check', invoice: o.kind, id: o.id }),
      button('❌ Batalkan', { kind: 'invoice', action: 'cancel', invoice: o.kind, id: o.id }),
    ],
  ];
  if (o.payUrl) k.push([{ text: '🌐 Buka halaman pembayaran', url: o.payUrl }]);
  return k;
}

export const homeKeyboard = (): Keyboard => [
  [button('🛍 Lihat Produk', { kind: 'catalog', page: 0 })],
  [button('💰 Saldo', { kind: 'balance' }), button('📦 Pesanan Saya', { kind: 'orders' })],
];

export function welcome(store: string, name: string | undefined): string {
  return `👋 Halo${name ? ` ${escapeHtml(name)}` : ''}! Selamat datang di <b>${escapeHtml(store)}</b>.\n\nPilih produk, bayar dengan QRIS atau saldo, dan barang dikirim otomatis di chat ini.`;
}

export function catalogView(list: { products: CatalogProduct[]; page: number; pages: number; total: number }): { text: string; keyboard: Keyboard } {
  if (list.total === 0) return { text: 'Belum ada produk yang dijual.', keyboard: [[button('🏠 Menu', { kind: 'home' })]] };
  const lines = [`🛍 <b>Daftar produk</b> (halaman ${list.page + 1}/${list.pages})`, ''];
  for (const p of list.products) {
    lines.push(`• <b>${escapeHtml(p.name)}</b>: ${rupiah(p.price)} (${p.stock > 0 ? `stok ${p.stock}` : 'habis'})`);
  }
  const keyboard: Keyboard = list.products.map((p) => [button(`${p.name} · ${rupiah(p.price)}`, { kind: 'product', productId: p.id })]);
  const nav: Keyboard[number] = [];
  if (list.page > 0) nav.push(button('◀️ Sebelumnya', { kind: 'catalog', page: list.page - 1 }));
  if (list.page < list.pages - 1) nav.push(button('Berikutnya ▶️', { kind: 'catalog', page: list.page + 1 }));
  if (nav.length) keyboard.push(nav);
  keyboard.push([button('🏠 Menu', { kind: 'home' })]);
  return { text: lines.join('\n'), keyboard };
}

export function productView(p: CatalogProduct, maxQty: number): { text: string; keyboard: Keyboard } {
  const lines = [`<b>${escapeHtml(p.name)}</b>`, `Harga: ${rupiah(p.price)}`, `Stok: ${p.stock > 0 ? p.stock : 'habis'}`];
  if (p.description) lines.push('', escapeHtml(p.description));
  if (p.terms) lines.push('', '📝 Produk ini memiliki SNK yang wajib diisi setelah pembelian.');
  const keyboard: Keyboard = [];
  const qtys = [1, 2, 3, 5, 10].filter((q) => q <= Math.min(p.stock, maxQty));
  if (qtys.length) {
    lines.push('', 'Pilih jumlah:');
    keyboard.push(qtys.map((q) => button(`${q}`, { kind: 'quantity', productId: p.id, quantity: q })));
  }
  keyboard.push([button('⬅️ Kembali', { kind: 'catalog', page: 0 })]);
  return { text: lines.join('\n'), keyboard };
}

export function confirmView(p: CatalogProduct, qty: number, balance: number): { text: string; keyboard: Keyboard } {
  const total = p.price * qty;
  const text = [
    '🧾 <b>Konfirmasi pesanan</b>',
    `${escapeHtml(p.name)} × ${qty}`,
    `Total: <b>${rupiah(total)}</b>`,
    `Saldo Anda: ${rupiah(balance)}`,
    '',
    'Pilih cara bayar:',
  ].join('\n');
  const keyboard: Keyboard = [[button('📱 Bayar QRIS', { kind: 'buy', productId: p.id, quantity: qty, pay: 'qris' })]];
  if (balance >= total) keyboard.push([button('💰 Bayar pakai saldo', { kind: 'buy', productId: p.id, quantity: qty, pay: 'balance' })]);
  keyboard.push([button('⬅️ Kembali', { kind: 'product', productId: p.id })]);
  return { text, keyboard };
}

export function invoiceCaption(o: { publicId: string; what: string; amount: number; total: number; expires: string }): string {
  return [
    `🧾 <b>Invoice ${escapeHtml(o.publicId)}</b>`,
    escapeHtml(o.what),
    `Harga: ${rupiah(o.amount)}`,
    `Total bayar (termasuk biaya): <b>${rupiah(o.total)}</b>`,
    `Bayar sebelum: <b>${escapeHtml(o.expires)}</b>`,
    '',
    'Scan QRIS di atas dengan aplikasi bank atau e-wallet. Barang dikirim otomatis setelah pembayaran terkonfirmasi.',
  ].join('\n');
}

/** The invoice as text, when its QR photo could not be sent: the amount, and buttons to retry or cancel. */
export function invoiceFallback(o: {
  publicId: string;
  what: string;
  amount: number;
  total: number;
  expires: string;
  kind: 'order' | 'deposit';
  id: string;
  payUrl?: string | undefined;
}): {
  text: string;
  keyboard: Keyboard;
} {
  return {
    text: [
      `🧾 <b>Invoice ${escapeHtml(o.publicId)}</b>`,
      escapeHtml(o.what),
      `Harga: ${rupiah(o.amount)}`,
      `Total bayar (termasuk biaya): <b>${rupiah(o.total)}</b>`,
      `Bayar sebelum: <b>${escapeHtml(o.expires)}</b>${o.kind === 'order' ? ' (stok ditahan sampai saat itu)' : ''}`,
      '',
      'Gambar QRIS belum bisa dikirim. Tekan <b>🔄 Kirim ulang QR</b> untuk mencoba lagi, atau <b>❌ Batalkan</b> bila tidak jadi.',
    ].join('\n'),
    keyboard: [[button('🔄 Kirim ulang QR', { kind: 'invoice', action: 'retry', invoice: o.kind, id: o.id })], ...invoiceKeyboard(o)],
  };
}

export function balanceView(balance: number, min: number): { text: string; keyboard: Keyboard } {
  const amounts = [10_000, 25_000, 50_000, 100_000].filter((a) => a >= min);
  if (amounts.length === 0) amounts.push(min);
  return {
    text: `💰 Saldo Anda: <b>${rupiah(balance)}</b>\n\nIsi saldo (deposit) dengan QRIS, lalu bayar pesanan langsung dari saldo.\n${T.depositUsage(min)}`,
    keyboard: [amounts.map((a) => button(rupiah(a), { kind: 'deposit', amount: a })), [button('🏠 Menu', { kind: 'home' })]],
  };
}

const STATUS_ID: Record<string, string> = {
  pending: 'menunggu pembayaran',
  paid: 'dibayar',
  delivered: 'terkirim',
  expired: 'kedaluwarsa',
  failed: 'gagal',
  cancelled: 'dibatalkan',
};

/** A buyer's latest orders, with a button to see the goods of each paid one again. */
export function ordersView(list: { id: string; publicId: string; status: string; total: number }[]): { text: string; keyboard: Keyboard } {
  const lines = ['📦 <b>Pesanan terakhir Anda</b>', ''];
  for (const o of list) lines.push(`<code>${escapeHtml(o.publicId)}</code>: ${rupiah(o.total)}, ${STATUS_ID[o.status] ?? o.status}`);
  const keyboard: Keyboard = list
    .filter((o) => o.status === 'paid' || o.status === 'delivered')
    .map((o) => [button(`Lihat ${o.publicId}`, { kind: 'order', orderId: o.id })]);
  keyboard.push([button('🏠 Menu', { kind: 'home' })]);
  return { text: lines.join('\n'), keyboard };
}
