import JSZip from 'jszip';

/**
 * An independent scan for secrets in stored files: each value in the encodings evidence may hold
 * it in, computed with the platform's own encoders (not the redaction module's patterns), searched
 * for byte for byte in a file and, for a zip, in every entry as well.
 */

/** A value as each encoder writes it; `username` adds the Basic header credentials of username:value. */
export function encodingsOf(value: string, username?: string): Map<string, string> {
  const json = JSON.stringify(value).slice(1, -1);
  const encodings = new Map<string, string>([
    ['raw', value],
    ['encodeURIComponent', encodeURIComponent(value)],
    ['form-urlencoded', new URLSearchParams({ v: value }).toString().slice(2)],
    ['percent, lower-case hex', encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())],
    ['percent-encoded twice', encodeURIComponent(encodeURIComponent(value))],
    ['JSON-escaped', json],
    ['JSON-escaped twice', JSON.stringify(json).slice(1, -1)],
    ['JSON-escaped, ASCII only', json.replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)],
    ['HTML text', value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')],
    ['HTML attribute', value.replace(/&/g, '&amp;').replace(/"/g, '&quot;')],
    ['HTML numeric references', value.replace(/[^A-Za-z0-9]/gu, (char) => `&#${char.codePointAt(0)};`)],
    ['base64', Buffer.from(value).toString('base64')],
    ['base64url', Buffer.from(value).toString('base64url')],
  ]);
  if (username !== undefined) encodings.set('Basic credentials', Buffer.from(`${username}:${value}`).toString('base64'));
  // Identical spellings (a value without special characters) count once.
  const seen = new Set<string>();
  return new Map([...encodings].filter(([, text]) => !seen.has(text) && Boolean(seen.add(text))));
}

export interface Needle {
  /** What the value is, and in which encoding. */
  label: string;
  bytes: Buffer;
}

export function needlesFor(values: Record<string, string>, username?: string): Needle[] {
  return Object.entries(values).flatMap(([what, value]) =>
    [...encodingsOf(value, what === 'password' ? username : undefined)].map(([encoding, text]) => ({ label: `${what} (${encoding})`, bytes: Buffer.from(text, 'utf8') })),
  );
}

export function occurrences(haystack: Uint8Array, needle: Buffer): number {
  const buffer = Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength);
  let count = 0;
  for (let at = buffer.indexOf(needle); at >= 0; at = buffer.indexOf(needle, at + 1)) count++;
  return count;
}

export interface ScanResult {
  files: number;
  entries: number;
  bytes: number;
  leaks: Array<{ file: string; needle: string; count: number }>;
}

/** Every byte of every file, and of every entry of each zip among them. */
export async function scanFiles(files: Iterable<[string, Uint8Array]>, needles: readonly Needle[]): Promise<ScanResult> {
  const result: ScanResult = { files: 0, entries: 0, bytes: 0, leaks: [] };
  const scan = (name: string, body: Uint8Array) => {
    result.bytes += body.byteLength;
    for (const needle of needles) {
      const count = occurrences(body, needle.bytes);
      if (count) result.leaks.push({ file: name, needle: needle.label, count });
    }
  };
  for (const [name, body] of files) {
    result.files++;
    scan(name, body);
    if (Buffer.from(body.subarray(0, 4)).equals(Buffer.from('PK\x03\x04', 'latin1'))) {
      const zip = await JSZip.loadAsync(body);
      for (const entry of Object.values(zip.files).filter((file) => !file.dir)) {
        result.entries++;
        scan(`${name}!${entry.name}`, await entry.async('uint8array'));
      }
    }
  }
  return result;
}
