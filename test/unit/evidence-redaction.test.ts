import fc from 'fast-check';
import JSZip from 'jszip';
import { describe, expect, it } from 'vitest';
import { REDACTED, SecretMatcher, redactEvidence, type EvidenceFile } from '../../runtime/evidence-redaction';
import { encodingsOf, needlesFor, scanFiles } from '../support/secret-scan';

const USERNAME = 'pod-robot';
const PASSWORD = 'p@ss w0rd&"<>+%é';
const SECRET_JSON = JSON.stringify({ username: USERNAME, password: PASSWORD });
/** Known to the runtime: the context's cookie when the item failed. */
const CURRENT_COOKIE = 'Cur-9f3Kq_x7LmZ2vB8nT4wYp';
/** Only in the trace: the session that ended earlier in the item. */
const OLD_COOKIE = 'Old-Zt6Hc1_Rk0sUe5mXa3dQj';
/** Only in the trace: a Basic header of credentials the runtime never saw. */
const OTHER_PASSWORD = 'An0ther/Secret+42?';

describe('SecretMatcher', () => {
  const matcher = SecretMatcher.of([PASSWORD]);

  it.each([...encodingsOf(PASSWORD, USERNAME)])('removes the password %s', (_encoding, encoded) => {
    const { text, replaced } = matcher.redact(`before ${encoded} after`);

    expect(replaced).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(encoded);
    expect(matcher.foundIn(text)).toBe(false);
    expect(text.startsWith('before ')).toBe(true);
  });

  it('replaces exactly the value and leaves its neighbours', () => {
    expect(matcher.redact(`"password":"${JSON.stringify(PASSWORD).slice(1, -1)}","next":"/search"`).text).toBe(`"password":"${REDACTED}","next":"/search"`);
    expect(matcher.redact(`password=${new URLSearchParams({ p: PASSWORD }).toString().slice(2)}&next=%2F`).text).toBe(`password=${REDACTED}&next=%2F`);
  });

  it('finds raw values in bytes as UTF-8, not only in text', () => {
    const binary = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00]), Buffer.from(PASSWORD, 'utf8'), Buffer.from([0x80])]);

    expect(matcher.foundInBytes(binary)).toBe(true);
    expect(matcher.foundInBytes(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x80]))).toBe(false);
  });

  it('ignores secrets under 4 and cookie values under 8 characters, as log masking does', () => {
    const short = SecretMatcher.of(['abc', 'abcd'], ['en-US', 'true', 'abcdefgh1']);
    expect(short.values).toEqual(['abcd', 'abcdefgh1']);
  });

  it('does not rebuild a value from the placeholder', () => {
    const tricky = SecretMatcher.of(['cted]', 'd][re']);
    const { text } = tricky.redact('x cted] y d][re z');
    expect(tricky.foundIn(text)).toBe(false);
  });

  it('removes random values in every encoding (property)', () => {
    const unit = fc.constantFrom(...'aZ09 "\'\\/&<>+%=?#;:@\n\té€😀-_.*~!'.split(/(?:)/u));
    let checks = 0;
    fc.assert(
      fc.property(fc.string({ unit, minLength: 4, maxLength: 24 }), fc.string({ maxLength: 8 }), (value, context) => {
        const random = SecretMatcher.of([value]);
        // Inside other base64 data (user:password), a value is found from 8 bytes on.
        for (const encoded of encodingsOf(value, Buffer.byteLength(value) >= 8 ? USERNAME : undefined).values()) {
          checks++;
          const { text } = random.redact(`${context}${encoded}${context}`);
          if (text.includes(encoded) || random.foundIn(text)) return false;
        }
        return true;
      }),
      { seed: 8, numRuns: 300 },
    );
    console.info(`redaction property: ${checks} encoded values (300 random values × their encodings), 0 survived`);
  });
});

describe('redactEvidence', () => {
  const basic = `Basic ${Buffer.from(`${USERNAME}:${OTHER_PASSWORD}`).toString('base64')}`;
  const traceLines = [
    { type: 'context-options', version: 8, options: { viewport: { width: 1280, height: 720 } } },
    { type: 'before', callId: 'c1', class: 'Frame', method: 'fill', params: { selector: 'input[name=password]', value: PASSWORD } },
    { type: 'frame-snapshot', snapshot: { html: ['INPUT', { __playwright_value_: PASSWORD, name: 'password' }] } },
    { type: 'before', callId: 'c2', class: 'Route', method: 'fulfill', params: { headers: [{ name: 'set-cookie', value: `portal_session=${CURRENT_COOKIE}; HttpOnly` }] } },
    { type: 'after', callId: 'c3', result: { cookies: [{ name: 'portal_session', value: CURRENT_COOKIE }] } },
    { type: 'before', callId: 'c4', class: 'Frame', method: 'goto', params: { url: 'http://portal/search?invoice=404123' } },
  ];
  const networkLines = [
    {
      type: 'resource-snapshot',
      snapshot: {
        request: {
          method: 'POST',
          url: 'http://portal/login',
          cookies: [{ name: 'portal_session', value: OLD_COOKIE }],
          headers: [
            { name: 'Cookie', value: `portal_session=${OLD_COOKIE}; lang=en` },
            { name: 'Authorization', value: basic },
          ],
          postData: { text: '', params: [{ name: 'password', value: PASSWORD }], _file: 'resources/form.dat' },
        },
        response: {
          headers: [{ name: 'Set-Cookie', value: `portal_session=${CURRENT_COOKIE}; HttpOnly; Path=/` }],
          cookies: [{ name: 'portal_session', value: CURRENT_COOKIE }],
        },
      },
    },
  ];

  async function traceZip(extra: Record<string, Uint8Array> = {}): Promise<Uint8Array> {
    const zip = new JSZip();
    zip.file('trace.trace', traceLines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    zip.file('trace.network', networkLines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    zip.file('resources/form.dat', `username=${USERNAME}&password=${new URLSearchParams({ p: PASSWORD }).toString().slice(2)}&next=%2Fsearch`);
    zip.file('resources/page.html', `<p>Invoice 404123 not found</p><p>debug: session ${OLD_COOKIE}, auth ${OTHER_PASSWORD}</p>`);
    zip.file('resources/frame.jpeg', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x80]), Buffer.from(PASSWORD)]));
    zip.file('resources/clean.jpeg', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x80, 0x81, 0x82]));
    for (const [name, body] of Object.entries(extra)) zip.file(name, body);
    return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
  }

  const pageHtml = `<html><body><input name="password" value="${PASSWORD.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"><p>Invoice 404123 not found</p></body></html>`;
  const secrets = { secrets: [SECRET_JSON, PASSWORD], cookieValues: [CURRENT_COOKIE] };
  const needles = needlesFor({ password: PASSWORD, 'other password': OTHER_PASSWORD, 'old cookie': OLD_COOKIE, 'current cookie': CURRENT_COOKIE }, USERNAME);

  it('clears the trace, the HTML and the headers, and keeps the trace loadable', async () => {
    const files: EvidenceFile[] = [
      { name: 'screenshot.png', contentType: 'image/png', body: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x80, 0x81]) },
      { name: 'page.html', contentType: 'text/html', body: Buffer.from(pageHtml) },
      { name: 'trace.zip', contentType: 'application/zip', body: await traceZip() },
    ];
    const before = await scanFiles(files.map((file) => [file.name, file.body]), needles);

    const { files: cleared, report } = await redactEvidence(files, secrets);

    const after = await scanFiles(cleared.map((file) => [file.name, file.body]), needles);
    console.info(
      `evidence redaction (synthetic trace): occurrences before=${before.leaks.reduce((sum, leak) => sum + leak.count, 0)} after=${after.leaks.length}; ` +
        `values=${report.values} replaced=${report.replaced} droppedEntries=${report.droppedEntries} droppedLines=${report.droppedLines}`,
    );
    expect(before.leaks.length).toBeGreaterThan(0);
    expect(after.leaks).toEqual([]);
    expect(cleared.map((file) => file.name)).toEqual(['screenshot.png', 'page.html', 'trace.zip']);
    expect(Buffer.from(cleared[1]!.body).toString()).toBe(pageHtml.replace(/value="[^"]*"/, `value="${REDACTED}"`));

    const zip = await JSZip.loadAsync(cleared[2]!.body);
    expect(Object.values(zip.files).filter((file) => !file.dir).map((file) => file.name).sort()).toEqual(['resources/clean.jpeg', 'resources/form.dat', 'resources/page.html', 'trace.network', 'trace.trace']);
    const lines = async (name: string) => (await zip.file(name)!.async('string')).split('\n').filter(Boolean).map((line) => JSON.parse(line));
    const trace = await lines('trace.trace');
    expect(trace).toHaveLength(traceLines.length);
    expect(trace[1].params).toEqual({ selector: 'input[name=password]', value: REDACTED });
    expect(trace[5].params.url).toBe('http://portal/search?invoice=404123');
    const [network] = await lines('trace.network');
    expect(network.snapshot.request.headers).toEqual([
      { name: 'Cookie', value: REDACTED },
      { name: 'Authorization', value: REDACTED },
    ]);
    expect(network.snapshot.response.cookies).toEqual([{ name: 'portal_session', value: REDACTED }]);
    // The username is identity, not a secret.
    await expect(zip.file('resources/form.dat')!.async('string')).resolves.toBe(`username=${USERNAME}&password=${REDACTED}&next=%2Fsearch`);
    await expect(zip.file('resources/page.html')!.async('string')).resolves.toContain(`session ${REDACTED}, auth ${REDACTED}`);
    expect(report).toMatchObject({ droppedFiles: [], droppedEntries: 1, droppedLines: 0 });
  });

  it('drops what it cannot clear: a screenshot holding a value, a trace that is no zip', async () => {
    const files: EvidenceFile[] = [
      { name: 'screenshot.png', contentType: 'image/png', body: Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x80]), Buffer.from(PASSWORD)]) },
      { name: 'trace.zip', contentType: 'application/zip', body: Buffer.from('PK not a zip') },
    ];

    const { files: cleared, report } = await redactEvidence(files, secrets);

    expect(cleared).toEqual([]);
    expect(report.droppedFiles).toEqual(['screenshot.png', 'trace.zip']);
  });

  it('changes nothing when there is nothing to remove', async () => {
    const body = Buffer.from('<p>Invoice 404123 not found</p>');

    const { files: cleared, report } = await redactEvidence([{ name: 'page.html', contentType: 'text/html', body }], { secrets: [], cookieValues: [] });

    expect(Buffer.from(cleared[0]!.body).equals(body)).toBe(true);
    expect(report).toMatchObject({ values: 0, replaced: 0 });
  });
});
