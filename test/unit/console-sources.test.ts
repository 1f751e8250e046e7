import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The console renders API data (job input, error messages, file names) that other users wrote:
 * it must build the DOM from text only and run no inline or generated code, or one job's input
 * could run script in an admin's session.
 */
const consoleDir = path.resolve(import.meta.dirname, '../../console');
const scripts = readdirSync(consoleDir).filter((name) => name.endsWith('.js'));

describe('console sources', () => {
  it.each(scripts)('%s never turns strings into markup or code', (name) => {
    const source = readFileSync(path.join(consoleDir, name), 'utf8');
    expect(source).not.toMatch(/\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setTimeout\(\s*['"`]/);
  });

  it('loads its code from files only, under a restrictive CSP', () => {
    const html = readFileSync(path.join(consoleDir, 'index.html'), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).toMatch(/http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self';/);
  });
});
