/**
 * The env file format, read the way the tools our users copy these files between read it:
 * Docker Compose's `env_file` and python-dotenv (the original bot's pydantic-settings).
 *
 * - `KEY=value`, optionally `export KEY=value`; blank lines and lines starting with `#` are skipped.
 * - A UTF-8 byte order mark and CRLF line ends are accepted.
 * - Unquoted values end at the line end; a `#` starts a comment only after whitespace, so
 *   `BACKUP_ENCRYPTION_PASSWORD=TokoRahasia#2024` is the whole password. Surrounding whitespace is
 *   trimmed.
 * - `'single quoted'` values are literal and may span lines; `"double quoted"` ones may span lines
 *   and decode `\n`, `\t`, `\r`, `\"` and `\\`. After the closing quote only a comment may follow.
 *
 * Where those readers disagree the value is refused, never guessed: a `$` that Compose (and, for
 * `${…}`, python-dotenv) would expand in an unquoted or double-quoted value must be written in
 * single quotes. Problems name the file, line and key, never the value.
 */

export interface EnvFileEntry {
  key: string;
  value: string;
  line: number;
}

export interface ParsedEnvFile {
  values: Record<string, string>;
  entries: EnvFileEntry[];
  /** Lines that cannot be read unambiguously: the file is refused. */
  problems: string[];
  /** Worth telling, not fatal (a key set twice). */
  warnings: string[];
}

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_.]*$/;
/** `$NAME`, `${…}` and `$$`: what Compose interpolates. */
const INTERPOLATION_RE = /\$(?:[A-Za-z_{]|\$)/;

function decodeDoubleQuoted(raw: string): string {
  return raw.replace(/\\([nrt"\\])/g, (_m, c: string) => ({ n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' })[c] ?? c);
}

/** Index of the closing double quote (not escaped by a backslash), or -1. */
function closingDoubleQuote(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i;
  }
  return -1;
}

export function parseEnvFile(text: string, file = 'env file'): ParsedEnvFile {
  const src = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).replace(/\r\n?/g, '\n');
  const lines = src.split('\n');
  const values: Record<string, string> = {};
  const entries: EnvFileEntry[] = [];
  const problems: string[] = [];
  const warnings: string[] = [];
  const firstLine = new Map<string, number>();

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const where = `${file} line ${lineNo}`;
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/^export\s+/.test(line)) line = line.replace(/^export\s+/, '');
    const eq = line.indexOf('=');
    if (eq < 0) {
      problems.push(`${where}: no "=" (expected KEY=value)`);
      continue;
    }
    const key = line.slice(0, eq).trim();
    if (!KEY_RE.test(key)) {
      problems.push(`${where}: ${JSON.stringify(key.slice(0, 40))} is not a setting name (letters, digits and _)`);
      continue;
    }
    let rest = line.slice(eq + 1).trimStart();
    let value: string;
    const quote = rest[0];
    if (quote === "'" || quote === '"') {
      // A quoted value may continue on the following lines.
      let body = rest.slice(1);
      let close = quote === '"' ? closingDoubleQuote(body, 0) : body.indexOf("'");
      let j = i;
      while (close < 0 && j + 1 < lines.length) {
        j++;
        body += `\n${lines[j]}`;
        close = quote === '"' ? closingDoubleQuote(body, 0) : body.indexOf("'");
      }
      if (close < 0) {
        problems.push(`${where}: ${key} has an opening ${quote} without a closing one`);
        i = j;
        continue;
      }
      const after = body.slice(close + 1).trim();
      i = j;
      if (after !== '' && !after.startsWith('#')) {
        problems.push(`${where}: ${key} has text after its closing quote; put the whole value inside the quotes`);
        continue;
      }
      const raw = body.slice(0, close);
      if (quote === '"' && INTERPOLATION_RE.test(raw)) {
        problems.push(
          `${where}: ${key} contains "$", which Docker Compose and python-dotenv expand inside double quotes; use single quotes to keep it literally`,
        );
        continue;
      }
      value = quote === '"' ? decodeDoubleQuoted(raw) : raw;
    } else {
      // A comment starts at a # that follows whitespace (Compose, python-dotenv).
      const m = /\s#/.exec(rest);
      if (m) rest = rest.slice(0, m.index);
      value = rest.trim();
      if (INTERPOLATION_RE.test(value)) {
        problems.push(
          `${where}: ${key} contains "$", which Docker Compose expands in unquoted values; put the value in single quotes ('…') to keep it literally`,
        );
        continue;
      }
    }
    const seen = firstLine.get(key);
    if (seen !== undefined) warnings.push(`${where}: ${key} is set again (line ${seen}); the later value wins`);
    else firstLine.set(key, lineNo);
    values[key] = value;
    entries.push({ key, value, line: lineNo });
  }
  return { values, entries, problems, warnings };
}

/** Levenshtein distance, for "did you mean" on misspelt setting names. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The known name closest to `name`, when it is close enough to be a typo. */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}
