import type { Sql } from '../db/connection.js';
import { afterSettlement, type FulfilDeps } from './fulfil.js';
import { GatewayError, type PaymentGateway } from './gateway.js';
import type { InvoiceMessage } from './invoice-messages.js';
import { cancelInvoice, type InvoiceKind, pendingInvoice, SETTLED_NOW, type SettleOutcome, settleInvoice } from './payments.js';

// What a buyer can do with an open invoice ("🔄 Cek status", "❌ Batalkan"), and the checks the
// expiry job makes while invoices are open: the gateway is asked, never a webhook's word.

type Deps = Omit<FulfilDeps, 'api'> & { api: FulfilDeps['api'] | undefined; gateway: PaymentGateway };

export type CheckResult =
  | { state: 'paid'; outcome: SettleOutcome }
  | { state: 'pending'; publicId: string }
  /** Paid, expired or cancelled already, or not the buyer's. */
  | { state: 'closed' }
  /** The gateway reports another amount or order: nothing granted, the owners told. */
  | { state: 'mismatch'; publicId: string };

const settledOrDone = (s: SettleOutcome) => SETTLED_NOW.has(s.outcome) || s.outcome === 'already_settled';

/**
 * "🔄 Cek status": asks the gateway about the buyer's own open invoice now and, when it is paid,
 * settles and fulfils it at once (goods or balance, the invoice out of the chat, the owners
 * told). Throws a GatewayError when the gateway cannot be asked.
 */
export async function checkInvoiceNow(deps: Deps, userId: string, kind: InvoiceKind, id: string): Promise<CheckResult> {
  const inv = await pendingInvoice(deps.sql, userId, kind, id);
  if (!inv) return { state: 'closed' };
  const s = await settleInvoice({ sql: deps.sql, gateway: deps.gateway }, inv.publicId);
  await afterSettlement(deps, s);
  if (settledOrDone(s)) return { state: 'paid', outcome: s };
  if (s.outcome === 'mismatch') return { state: 'mismatch', publicId: inv.publicId };
  return { state: 'pending', publicId: inv.publicId };
}

export type CancelResult =
  | { state: 'cancelled'; publicId: string; released: number; messages: InvoiceMessage[]; atGateway: 'cancelled' | 'unsupported' | 'failed' }
  | { state: 'paid'; outcome: SettleOutcome }
  | { state: 'closed' };

/**
 * "❌ Batalkan": the buyer's open invoice is cancelled at the gateway where it can be (so it can no
 * longer be paid), then in the shop: the stock goes back at once. A payment that beat the cancel
 * is honoured instead (the gateway is asked first and again when it refuses the cancel); one
 * that still arrives later is settled as a late payment.
 */
export async function cancelOpenInvoice(deps: Deps, userId: string, kind: InvoiceKind, id: string): Promise<CancelResult> {
  const inv = await pendingInvoice(deps.sql, userId, kind, id);
  if (!inv) return { state: 'closed' };
  const ask = async (): Promise<SettleOutcome | undefined> => {
    try {
      const s = await settleInvoice({ sql: deps.sql, gateway: deps.gateway }, inv.publicId);
      await afterSettlement(deps, s);
      return s;
    } catch (error) {
      deps.log.warn(`[payment] ${inv.publicId}: status not checked before the cancel: ${(error as Error).message}`);
      return undefined;
    }
  };
  const before = await ask();
  if (before && settledOrDone(before)) return { state: 'paid', outcome: before };
  let atGateway: 'cancelled' | 'unsupported' | 'failed' = 'unsupported';
  if (deps.gateway.cancel) {
    try {
      await deps.gateway.cancel({ orderId: inv.publicId, amount: inv.amount });
      atGateway = 'cancelled';
    } catch (error) {
      atGateway = 'failed';
      deps.log.warn(`[payment] ${inv.publicId}: the gateway did not cancel it: ${(error as Error).message}`);
      // Refused: perhaps paid meanwhile.
      if (error instanceof GatewayError && error.kind === 'rejected') {
        const after = await ask();
        if (after && settledOrDone(after)) return { state: 'paid', outcome: after };
      }
    }
  }
  const c = await cancelInvoice(deps.sql, userId, kind, id);
  if (!c) return { state: 'closed' };
  return { state: 'cancelled', ...c, atGateway };
}

/**
 * Open invoices and deposits (not yet due) whose turn has come, asked about at the gateway: the
 * first a minute after it was made, then 2, 4 … at most 5 minutes after the last check. Each is claimed (its next check moved)
 * before the gateway is called, so two bots never ask twice. Returns the outcomes settled now.
 */
export async function checkOpenInvoices(deps: Deps, now: Date, limit = 20): Promise<{ checked: number; settled: number; errors: number }> {
  const { sql } = deps;
  const due = await claimDue(sql, now, limit);
  let settled = 0;
  let errors = 0;
  for (const d of due) {
    try {
      const s = await settleInvoice({ sql, gateway: deps.gateway }, d);
      await afterSettlement(deps, s);
      if (SETTLED_NOW.has(s.outcome)) settled++;
    } catch (error) {
      errors++;
      deps.log.debug(`[payment] ${d}: open invoice not checked: ${(error as Error).message}`);
    }
  }
  return { checked: due.length, settled, errors };
}

async function claimDue(sql: Sql, now: Date, limit: number): Promise<string[]> {
  const next = (table: 'payments' | 'deposits') => sql`
    UPDATE ${sql(table)} t SET checks = t.checks + 1,
           next_check_at = ${now}::timestamptz + make_interval(secs => least(300, 60 * 2 ^ (t.checks + 1)))
      FROM (SELECT id FROM ${sql(table)}
             WHERE status = 'pending' AND expires_at > ${now}
               AND coalesce(next_check_at, created_at + interval '60 seconds') <= ${now}
             ORDER BY coalesce(next_check_at, created_at) LIMIT ${limit} FOR UPDATE SKIP LOCKED) d
     WHERE t.id = d.id
     RETURNING t.gateway_order_id`;
  const rows = [...(await next('payments')), ...(await next('deposits'))] as unknown as { gateway_order_id: string }[];
  return rows.map((r) => r.gateway_order_id);
}
