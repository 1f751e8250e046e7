import JSZip from 'jszip';

/**
 * Clears a failed item's evidence (Playwright trace zip, page HTML, screenshot) of secrets before
 * it is stored for the tenant to download. Removed: every value the job read from a secret, every
 * cookie value of the session, and every Authorization / Proxy-Authorization / Cookie / Set-Cookie
 * header value the trace recorded (the cookie values and credentials in them are then removed
 * wherever else they appear: a session that ended earlier in the item is only in those headers).
 *
 * A value is found in each encoding evidence stores it in: raw, percent-encoded (URLs, form
 * bodies with '+' for a space, also encoded twice), JSON-escaped (also twice: JSON inside JSON),
 * HTML character references, JavaScript \x escapes, and base64 in either alphabet (the value
 * alone, or from 8 bytes on inside other data such as user:password). A character may use a
 * different encoding than its neighbours, as encoders leave different characters alone.
 *
 * The trace stays loadable: its JSON-lines files (trace.trace, trace.network, trace.stacks) are
 * redacted value by value and serialised again, so every line stays JSON; a line that would still
 * show a value is dropped. Other text entries are redacted as text. A binary entry (not UTF-8:
 * images, screencast frames) that contains a value is dropped, and so is a whole evidence file
 * that cannot be cleared (a screenshot, an unreadable zip): evidence is best effort, secrets not.
 */

export const REDACTED = '[redacted]';

/** As in log masking (core/logger.ts): shorter values would blank out half of every file. */
const MIN_SECRET_LENGTH = 4;
/** A session identifier is long; a cookie as short as "lang=en" is a preference, not a credential. */
const MIN_COOKIE_LENGTH = 8;
/**
 * A shorter base64 run inside other data would match by chance: a value inside base64 (a Basic
 * header, whose value is removed whole anyway) is found from 8 bytes on, at every offset.
 */
const MIN_BASE64_LENGTH = 8;
/** Placeholder passes before matches are removed outright (a value such as "ed]" rebuilds itself from "[redacted]"). */
const PLACEHOLDER_PASSES = 3;

const SENSITIVE_HEADER = /^(?:authorization|proxy-authorization|cookie|set-cookie)$/i;
/** Playwright's JSON-lines files inside a trace zip. */
const JSON_LINES_ENTRY = /(?:^|\/)[^/]*\.(?:trace|network|stacks)$/;
const TEXT_CONTENT_TYPE = /^(?:text\/|application\/(?:json|xml|xhtml\+xml|javascript))/;

/** Finds and removes a set of values in all the encodings listed above. */
export class SecretMatcher {
  /** Over text (UTF-16 strings). */
  private readonly inText: RegExp;
  /** Over bytes read as latin1, one character per byte: raw values as their UTF-8 bytes. */
  private readonly inBytes: RegExp;

  private constructor(readonly values: readonly string[]) {
    const ordered = [...values].sort((a, b) => b.length - a.length);
    const source = (bytes: boolean) => ordered.map((value) => valuePattern(value, bytes)).concat(ordered.flatMap(base64Patterns));
    this.inText = new RegExp(source(false).join('|') || '(?!)', 'g');
    this.inBytes = new RegExp(source(true).join('|') || '(?!)');
  }

  /** Secrets as read (at least MIN_SECRET_LENGTH characters) and cookie values (at least MIN_COOKIE_LENGTH). */
  static of(secrets: Iterable<string>, cookieValues: Iterable<string> = []): SecretMatcher {
    const values = new Set<string>();
    for (const value of secrets) if (value.length >= MIN_SECRET_LENGTH) values.add(value);
    for (const value of cookieValues) if (value.length >= MIN_COOKIE_LENGTH) values.add(value);
    return new SecretMatcher([...values]);
  }

  /** `text` with every occurrence replaced by REDACTED, and how many there were. */
  redact(text: string): { text: string; replaced: number } {
    let replaced = 0;
    const replaceAll = (input: string, by: string) => input.replace(this.inText, () => (replaced++, by));
    let result = text;
    for (let pass = 0; pass < PLACEHOLDER_PASSES; pass++) {
      const before = replaced;
      result = replaceAll(result, REDACTED);
      if (replaced === before) return { text: result, replaced };
    }
    // Each pass shortens the text, so this ends.
    while (this.foundIn(result)) result = replaceAll(result, '');
    return { text: result, replaced };
  }

  foundIn(text: string): boolean {
    this.inText.lastIndex = 0;
    return this.inText.test(text);
  }

  foundInBytes(bytes: Uint8Array): boolean {
    return this.inBytes.test(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'));
  }
}

export interface EvidenceFile {
  name: string;
  contentType: string;
  body: Uint8Array;
}

export interface RedactionReport {
  /** Values searched for: secrets, cookie values, credentials from recorded headers. */
  values: number;
  /** Occurrences replaced, header values included. */
  replaced: number;
  /** Evidence files not stored at all. */
  droppedFiles: string[];
  /** Entries of trace zips left out, and lines of their JSON-lines files. */
  droppedEntries: number;
  droppedLines: number;
  bytesIn: number;
  bytesOut: number;
}

export interface SecretsToRemove {
  /** Every value the job read from a secret. */
  secrets: Iterable<string>;
  /** The session's cookie values at capture time. */
  cookieValues: Iterable<string>;
}

/** `files` cleared of `known` secrets and of the credentials their traces recorded; files that cannot be cleared are left out. */
export async function redactEvidence(files: readonly EvidenceFile[], known: SecretsToRemove): Promise<{ files: EvidenceFile[]; report: RedactionReport }> {
  const report: RedactionReport = { values: 0, replaced: 0, droppedFiles: [], droppedEntries: 0, droppedLines: 0, bytesIn: 0, bytesOut: 0 };
  const opened = await Promise.all(files.map(async (file) => ({ file, trace: isZip(file) ? await readZip(file.body) : undefined })));
  const recorded = new RecordedCredentials();
  for (const { trace } of opened) for (const entry of trace?.entries ?? []) if (JSON_LINES_ENTRY.test(entry.name)) recorded.collectFrom(entry.body);
  const matcher = SecretMatcher.of([...known.secrets, ...recorded.secrets], [...known.cookieValues, ...recorded.cookieValues]);
  report.values = matcher.values.length;

  const cleared: EvidenceFile[] = [];
  for (const { file, trace } of opened) {
    report.bytesIn += file.body.byteLength;
    const body = isZip(file) ? trace && (await redactZip(trace, matcher, report)) : redactFile(file, matcher, report);
    if (!body) {
      report.droppedFiles.push(file.name);
      continue;
    }
    report.bytesOut += body.byteLength;
    cleared.push({ ...file, body });
  }
  return { files: cleared, report };
}

function isZip(file: EvidenceFile): boolean {
  return file.contentType === 'application/zip';
}

/** A text file redacted, a binary one as it is if it holds no value; undefined when it must not be stored. */
function redactFile(file: EvidenceFile, matcher: SecretMatcher, report: RedactionReport): Uint8Array | undefined {
  const text = TEXT_CONTENT_TYPE.test(file.contentType) ? utf8(file.body) : undefined;
  if (text === undefined) return matcher.foundInBytes(file.body) ? undefined : file.body;
  const redacted = matcher.redact(text);
  report.replaced += redacted.replaced;
  return Buffer.from(redacted.text, 'utf8');
}

interface OpenedZip {
  zip: JSZip;
  entries: Array<{ name: string; body: Uint8Array }>;
}

async function readZip(body: Uint8Array): Promise<OpenedZip | undefined> {
  let zip: JSZip;
  try {
    zip = await JSZip.loadAsync(body);
  } catch {
    return undefined;
  }
  const files: JSZip.JSZipObject[] = [];
  zip.forEach((_path, file) => void (file.dir || files.push(file)));
  return { zip, entries: await Promise.all(files.map(async (file) => ({ name: file.name, body: await file.async('uint8array') }))) };
}

/**
 * The zip with its entries redacted. Only changed entries are compressed again: the others
 * (screencast frames, most resources) keep their compressed bytes, which is most of the time
 * a rewrite would take.
 */
async function redactZip({ zip, entries }: OpenedZip, matcher: SecretMatcher, report: RedactionReport): Promise<Uint8Array> {
  for (const folder of Object.values(zip.files)) if (folder.dir && matcher.foundIn(folder.name)) zip.remove(folder.name);
  for (const entry of entries) {
    const text = utf8(entry.body);
    if (matcher.foundIn(entry.name) || (text === undefined && matcher.foundInBytes(entry.body))) {
      zip.remove(entry.name);
      report.droppedEntries++;
    } else if (text !== undefined) {
      const redacted = JSON_LINES_ENTRY.test(entry.name) ? redactJsonLines(text, matcher, report) : countedRedact(matcher, text, report);
      if (redacted !== text) zip.file(entry.name, redacted, { date: zip.files[entry.name]?.date, createFolders: false });
    }
  }
  return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE', compressionOptions: { level: 6 } });
}

function countedRedact(matcher: SecretMatcher, text: string, report: RedactionReport): string {
  const redacted = matcher.redact(text);
  report.replaced += redacted.replaced;
  return redacted.text;
}

/** Each line parsed, its strings redacted and sensitive headers blanked, serialised again; a line still showing a value is dropped. */
function redactJsonLines(text: string, matcher: SecretMatcher, report: RedactionReport): string {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      lines.push(line);
      continue;
    }
    const parsed = parseJson(line);
    const redacted = parsed === undefined ? countedRedact(matcher, line, report) : JSON.stringify(redactJson(parsed, matcher, report));
    if (matcher.foundIn(redacted)) report.droppedLines++;
    else lines.push(redacted);
  }
  return lines.join('\n');
}

/**
 * Strings redacted; header values named Authorization, Cookie and so on replaced whole, in both
 * shapes Playwright records headers ({name, value} pairs and objects keyed by name), and so are
 * cookie values in HAR `cookies` lists and cookie results.
 */
function redactJson(value: unknown, matcher: SecretMatcher, report: RedactionReport, inCookies = false): unknown {
  if (typeof value === 'string') return countedRedact(matcher, value, report);
  if (Array.isArray(value)) return value.map((entry) => redactJson(entry, matcher, report, inCookies));
  if (!value || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const headerPair = typeof record.name === 'string' && SENSITIVE_HEADER.test(record.name);
  const blank = (entry: unknown) => {
    if (typeof entry === 'string' && entry !== REDACTED && entry !== '') report.replaced++;
    return REDACTED;
  };
  return Object.fromEntries(
    Object.entries(record).map(([key, entry]) => {
      const secretEntry = typeof entry === 'string' && (SENSITIVE_HEADER.test(key) || (key === 'value' && (headerPair || inCookies)));
      return [countedRedact(matcher, key, report), secretEntry ? blank(entry) : redactJson(entry, matcher, report, key === 'cookies')];
    }),
  );
}

/** Credentials the trace recorded in headers: cookie values, and Authorization values with what they encode. */
class RecordedCredentials {
  readonly secrets = new Set<string>();
  readonly cookieValues = new Set<string>();

  collectFrom(body: Uint8Array): void {
    const text = utf8(body);
    if (text === undefined) return;
    for (const line of text.split('\n')) {
      const parsed = line.trim() ? parseJson(line) : undefined;
      if (parsed !== undefined) this.walk(parsed, false);
    }
  }

  private walk(value: unknown, inCookies: boolean): void {
    if (Array.isArray(value)) {
      for (const entry of value) this.walk(entry, inCookies);
      return;
    }
    if (!value || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if (typeof record.name === 'string' && typeof record.value === 'string') {
      if (SENSITIVE_HEADER.test(record.name)) this.header(record.name, record.value);
      else if (inCookies) this.cookieValues.add(record.value);
    }
    for (const [key, entry] of Object.entries(record)) {
      if (typeof entry === 'string' && SENSITIVE_HEADER.test(key)) this.header(key, entry);
      else this.walk(entry, key === 'cookies');
    }
  }

  private header(name: string, value: string): void {
    const header = name.toLowerCase();
    if (header === 'cookie') {
      for (const pair of value.split(';')) this.cookie(pair);
    } else if (header === 'set-cookie') {
      // Playwright joins several Set-Cookie headers with newlines.
      for (const line of value.split('\n')) this.cookie(line.split(';')[0] ?? '');
    } else {
      this.authorization(value.trim());
    }
  }

  private cookie(pair: string): void {
    const separator = pair.indexOf('=');
    if (separator >= 0) this.cookieValues.add(pair.slice(separator + 1).trim());
  }

  private authorization(value: string): void {
    this.secrets.add(value);
    const [scheme = '', ...rest] = value.split(/\s+/);
    const credentials = rest.join(' ');
    if (!credentials) return;
    this.secrets.add(credentials);
    if (scheme.toLowerCase() !== 'basic') return;
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    this.secrets.add(decoded);
    // user:password; the user is identity, the password is not.
    if (decoded.includes(':')) this.secrets.add(decoded.slice(decoded.indexOf(':') + 1));
  }
}

const NAMED_REFERENCES: Record<string, string> = { '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos', '\u00a0': 'nbsp' };
/** What follows the backslash of JSON's short escapes (a backslash is escaped by one more). */
const JSON_SHORT_ESCAPES: Record<string, string> = { '"': '"', '\\': '', '/': '/', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't' };

/** A value, each character in any of its encodings. */
function valuePattern(value: string, bytes: boolean): string {
  return Array.from(value, (char) => charPattern(char, bytes)).join('');
}

function charPattern(char: string, bytes: boolean): string {
  const codePoint = char.codePointAt(0)!;
  const utf8Bytes = [...Buffer.from(char, 'utf8')];
  const alternatives = new Set<string>();
  alternatives.add(escapeRegex(bytes ? Buffer.from(char, 'utf8').toString('latin1') : char));
  // Bytes of a Latin-1 page (0xE9 for "é") read the same as the character.
  if (bytes && codePoint < 0x100) alternatives.add(escapeRegex(char));
  // Percent-encoding of the UTF-8 bytes, also applied again (%2540 for "@").
  alternatives.add(utf8Bytes.map((byte) => `%(?:25)*${hexPattern(byte, 2)}`).join(''));
  if (char === ' ') alternatives.add(String.raw`\+`);
  // HTML character references, also escaped again (&amp;lt;).
  const named = NAMED_REFERENCES[char];
  alternatives.add(`&(?:amp;)*(?:#0*${codePoint}|#[xX]0*${hexPattern(codePoint, 1)}${named ? `|${named}` : ''});`);
  // JSON escapes (UTF-16 units), also escaped again: any number of backslashes.
  const units = Array.from({ length: char.length }, (_, index) => char.charCodeAt(index));
  alternatives.add(units.map((unit) => String.raw`\\+u` + hexPattern(unit, 4)).join(''));
  const short = JSON_SHORT_ESCAPES[char];
  if (short !== undefined) alternatives.add(String.raw`\\+` + escapeRegex(short));
  // JavaScript string escapes in page scripts.
  if (codePoint < 0x100) alternatives.add(String.raw`\\+x` + hexPattern(codePoint, 2));
  return `(?:${[...alternatives].join('|')})`;
}

/**
 * A value's base64 at each of the three offsets it may start at, without the characters that
 * depend on its neighbours, in the standard and the URL-safe alphabet; '+' and '/' may be
 * percent- or JSON-escaped.
 */
function base64Patterns(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  // The value encoded alone, whatever its length (padding may be left off).
  const runs = new Set([bytes.toString('base64').replace(/=+$/, '')]);
  for (const offset of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const core = encoded.slice(offset === 0 ? 0 : 4, Math.floor((offset + bytes.length) / 3) * 4);
    if (core.length >= MIN_BASE64_LENGTH) runs.add(core);
  }
  const patterns = new Set<string>();
  for (const run of runs) {
    for (const alphabet of [run, run.replace(/\+/g, '-').replace(/\//g, '_')]) {
      patterns.add(
        Array.from(alphabet, (char) => (char === '+' ? String.raw`(?:\+|%2[bB])` : char === '/' ? String.raw`(?:\\*\/|%2[fF])` : escapeRegex(char))).join(''),
      );
    }
  }
  return [...patterns];
}

/** Hex digits of `value`, at least `width` of them, either case. */
function hexPattern(value: number, width: number): string {
  return Array.from(value.toString(16).padStart(width, '0'), (digit) => (/[a-f]/.test(digit) ? `[${digit}${digit.toUpperCase()}]` : digit)).join('');
}

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function utf8(body: Uint8Array): string | undefined {
  try {
    return decoder.decode(body);
  } catch {
    return undefined;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
