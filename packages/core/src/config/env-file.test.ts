import { closestName, parseEnvFile } from './env-file.js';

describe('parseEnvFile', () => {
  const values = (text: string) => {
    const r = parseEnvFile(text, '.env');
    expect(r.problems).toEqual([]);
    return r.values;
  };

  it('keeps a # that does not follow whitespace, and drops a comment that does', () => {
    expect(values('P=TokoRahasia#2024\nQ=abc #comment\nR=abc\t# tab comment\n')).toEqual({ P: 'TokoRahasia#2024', Q: 'abc', R: 'abc' });
  });

  it('takes single quotes literally and decodes escapes in double quotes, both over several lines', () => {
    expect(values('A=\'x # y \\n\'\nB="l1\\nl2\\t\\"q\\" \\\\"\nC=\'multi\nline\'\nD="two\nlines" # after\n')).toEqual({
      A: 'x # y \\n',
      B: 'l1\nl2\t"q" \\',
      C: 'multi\nline',
      D: 'two\nlines',
    });
  });

  it('reads a byte order mark, CRLF, export, blank and comment lines, spaces around =', () => {
    expect(values('\ufeff# c\r\n\r\nexport A=1\r\n  B = two words  \r\nC=\r\n')).toEqual({ A: '1', B: 'two words', C: '' });
  });

  it('refuses what Compose would interpolate, naming line and key but not the value', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${Y} in an env file is the case under test.
    const r = parseEnvFile('A=ok\nPASS=ab$cdef\nQ="x${Y}"\nR=\'$fine\'\nS=cost 5$\n', '/srv/t/.env');
    expect(r.problems).toHaveLength(2);
    expect(r.problems[0]).toMatch(/^\/srv\/t\/\.env line 2: PASS contains "\$"/);
    expect(r.problems[1]).toMatch(/line 3: Q contains "\$"/);
    expect(r.problems.join(' ')).not.toContain('cdef');
    expect(r.values).toMatchObject({ A: 'ok', R: '$fine', S: 'cost 5$' });
  });

  it('reports lines without =, bad names, unclosed quotes and text after a closing quote', () => {
    const r = parseEnvFile('JUSTAKEY\n1BAD=x\nV="a" b\n', 'f');
    expect(r.problems.map((p) => p.replace(/:.*/, ''))).toEqual(['f line 1', 'f line 2', 'f line 3']);
    // A quote that never closes takes the rest of the file (values may span lines), then fails.
    expect(parseEnvFile("A=1\nU='open\nB=2\n", 'f').problems).toEqual(["f line 2: U has an opening ' without a closing one"]);
  });

  it('warns when a key is set twice; the later value wins', () => {
    const r = parseEnvFile('A=1\nA=2\n', 'f');
    expect(r.values.A).toBe('2');
    expect(r.warnings[0]).toMatch(/line 2: A is set again \(line 1\)/);
  });
});

describe('closestName', () => {
  it('suggests the setting a typo was meant to be, and nothing for unrelated names', () => {
    const known = ['BACKUP_KEEP', 'BACKUP_KEEP_DAILY', 'BACKUP_LOCAL_DIR'];
    expect(closestName('BACKUP_KEPP', known)).toBe('BACKUP_KEEP');
    expect(closestName('BACKUP_KEEP_DAYLY', known)).toBe('BACKUP_KEEP_DAILY');
    expect(closestName('GRAFANA_URL', known)).toBeUndefined();
  });
});
