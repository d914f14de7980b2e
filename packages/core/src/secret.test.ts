import { inspect } from 'node:util';
import { Redactor, redactPatterns, Secret } from './secret.js';

describe('Secret', () => {
  it('prints as **redacted** in every form and reveals only on request', () => {
    const s = new Secret('hunter2-hunter2');
    expect(`${s}`).toBe('**redacted**');
    expect(JSON.stringify({ s })).toBe('{"s":"**redacted**"}');
    expect(inspect({ s })).not.toContain('hunter2');
    expect(s.reveal()).toBe('hunter2-hunter2');
  });
});

describe('Redactor', () => {
  it('scrubs registered values, URL-encoded forms and secret-shaped strings', () => {
    const r = new Redactor().add('p@ss w0rd!').add(new Secret('another-secret'));
    const text = r.redact(
      'url postgresql://u:p%40ss%20w0rd!@h/db and p@ss w0rd! and another-secret; token 123456789:AAHfakeTokenValue0123456789abcdefghij; key AGE-SECRET-KEY-1QQQQ',
    );
    expect(text).not.toContain('w0rd');
    expect(text).not.toContain('another-secret');
    expect(text).not.toContain('AAHfakeTokenValue');
    expect(text).not.toContain('AGE-SECRET-KEY-1QQQQ');
  });

  it('hides the password of any URL even when not registered', () => {
    expect(redactPatterns('postgres://admin:topsecret@db:5432/x')).toBe('postgres://admin:**redacted**@db:5432/x');
  });
});
