import { type CatalogEntry, PRODUCT_CODE } from '@botctl/core';
import { parse } from 'csv-parse/sync';

// The catalog file `botctl catalog import` reads and `catalog export` writes: CSV with a header
// row, or JSON (an array of objects), with the columns below. csv-parse reads the CSV (quotes,
// commas and newlines inside fields, CRLF, a BOM), so a sheet saved by a spreadsheet imports as is.

export type CatalogFormat = 'csv' | 'json';

export const CATALOG_COLUMNS = ['code', 'name', 'price', 'description', 'category', 'terms', 'active'] as const;
const REQUIRED = ['code', 'name', 'price'] as const;

export interface CatalogProblem {
  /** The file's line (CSV) or the array index + 1 (JSON). */
  line: number;
  message: string;
}

export interface ReadCatalog {
  entries: CatalogEntry[];
  problems: CatalogProblem[];
}

/** The format from a file name: .json is JSON, anything else CSV. */
export function catalogFormatOf(file: string): CatalogFormat {
  return /\.json$/i.test(file) ? 'json' : 'csv';
}

const TRUE = new Set(['true', '1', 'yes', 'ya', 'y', 'aktif']);
const FALSE = new Set(['false', '0', 'no', 'tidak', 'n', 'nonaktif']);

/**
 * Reads a catalog file; every bad row is a problem with its line, and nothing is returned as an
 * entry from a file with problems (the import applies all of it or nothing).
 */
export function readCatalog(text: string, format: CatalogFormat): ReadCatalog {
  const problems: CatalogProblem[] = [];
  let records: { line: number; fields: Record<string, unknown> }[] = [];
  if (format === 'json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      return { entries: [], problems: [{ line: 1, message: `not JSON: ${(error as Error).message}` }] };
    }
    if (!Array.isArray(data)) return { entries: [], problems: [{ line: 1, message: 'a JSON catalog is an array of products' }] };
    data.forEach((d, i) => {
      if (d && typeof d === 'object' && !Array.isArray(d)) records.push({ line: i + 1, fields: d as Record<string, unknown> });
      else problems.push({ line: i + 1, message: 'each product is an object' });
    });
  } else {
    let rows: { record: Record<string, string>; info: { lines: number } }[];
    try {
      rows = parse(text, {
        bom: true,
        columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
        info: true,
        skip_empty_lines: true,
        trim: false,
      }) as typeof rows;
    } catch (error) {
      const e = error as Error & { lines?: number };
      return { entries: [], problems: [{ line: e.lines ?? 1, message: e.message.replace(/^Invalid Record Length: /, '') }] };
    }
    records = rows.map((r) => ({ line: r.info.lines, fields: r.record }));
    const header = rows[0] ? Object.keys(rows[0].record) : [];
    for (const h of header)
      if (!(CATALOG_COLUMNS as readonly string[]).includes(h))
        problems.push({ line: 1, message: `unknown column "${h}" (columns: ${CATALOG_COLUMNS.join(', ')})` });
    for (const r of REQUIRED) if (rows.length && !header.includes(r)) problems.push({ line: 1, message: `the column "${r}" is missing` });
  }

  const entries: CatalogEntry[] = [];
  const firstLine = new Map<string, number>();
  for (const { line, fields } of records) {
    const bad = (message: string) => problems.push({ line, message });
    if (format === 'json') {
      for (const k of Object.keys(fields))
        if (!(CATALOG_COLUMNS as readonly string[]).includes(k)) bad(`unknown field "${k}" (fields: ${CATALOG_COLUMNS.join(', ')})`);
    }
    const str = (k: string) => {
      const v = fields[k];
      return v === undefined || v === null ? '' : typeof v === 'string' ? v : String(v);
    };
    const code = str('code').trim();
    const name = str('name').trim();
    const priceText = str('price').trim();
    const before = problems.length;
    if (!PRODUCT_CODE.test(code)) bad(code ? `code "${code}" must be letters, digits, - and _ (at most 32)` : 'code is empty');
    if (!name) bad('name is empty');
    else if (name.length > 100) bad('name is longer than 100 characters');
    const price = /^\d+$/.test(priceText) ? Number(priceText) : Number.NaN;
    if (!Number.isSafeInteger(price) || price <= 0) bad(`price "${priceText}" must be a whole number of rupiah above 0 (15000, no dots or "Rp")`);
    let active = true;
    const activeText = (typeof fields.active === 'boolean' ? String(fields.active) : str('active')).trim().toLowerCase();
    if (activeText) {
      if (TRUE.has(activeText)) active = true;
      else if (FALSE.has(activeText)) active = false;
      else bad(`active "${activeText}" must be true or false`);
    }
    if (code && PRODUCT_CODE.test(code)) {
      const seen = firstLine.get(code);
      if (seen !== undefined) bad(`code "${code}" is already on line ${seen}`);
      else firstLine.set(code, line);
    }
    if (problems.length > before) continue;
    entries.push({ code, name, price, description: str('description').trim(), category: str('category').trim(), terms: str('terms').trim(), active });
  }
  return problems.length ? { entries: [], problems: problems.sort((a, b) => a.line - b.line) } : { entries, problems };
}

/** The catalog as CSV (header row; fields quoted when they hold a comma, quote or newline) or JSON. */
export function writeCatalog(entries: CatalogEntry[], format: CatalogFormat): string {
  if (format === 'json') return `${JSON.stringify(entries, null, 2)}\n`;
  const cell = (v: string | number | boolean) => {
    const s = String(v);
    return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const lines = [CATALOG_COLUMNS.join(','), ...entries.map((e) => CATALOG_COLUMNS.map((c) => cell(e[c])).join(','))];
  return `${lines.join('\n')}\n`;
}
