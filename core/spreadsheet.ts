import { Readable } from 'node:stream';
import type { CellValue } from 'exceljs';
import { InputInvalid, PayloadTooLarge, UnsupportedMediaType } from './errors';

/**
 * Spreadsheet intake, pure: reads an .xlsx or .csv upload into rows of cell text, finds the
 * column that holds the work items and turns its cells into validated, deduplicated items with
 * row-numbered errors. No I/O; the robot-specific parts (item schema) come in as arguments.
 */

/**
 * Upload limit. API Gateway takes 10 MB, but the Lambda event holding the base64 body may not
 * exceed 6 MB: 4 MiB of file (5.33 MiB in base64) leaves room for the form fields and headers.
 * A 5000-row sheet is about 60 KB.
 */
export const MAX_SPREADSHEET_BYTES = 4 * 1024 * 1024;
/** Data rows below the header; bounds the job size and the parsing work. */
export const MAX_ITEM_ROWS = 5000;
/** Headers are looked for in the first rows with content, under title rows if any. */
export const HEADER_SEARCH_ROWS = 10;
/** Excel's own width (column XFD); a row claiming more columns is no sheet. */
export const MAX_COLUMNS = 16384;
/**
 * Cells (up to each row's last non-empty one) the rows with content may hold together: the
 * sheet as read is kept in memory, so this bounds it even for a small file whose every row has
 * one cell far to the right. 5000 rows of 400 columns.
 */
export const MAX_SHEET_CELLS = 2_000_000;
/** More rows with content than this are more than MAX_ITEM_ROWS below any header: refused as they come. */
const MAX_CONTENT_ROWS = MAX_ITEM_ROWS + HEADER_SEARCH_ROWS;
/**
 * Lines of a CSV, blank ones included: a sheet of 5,000 items has no business with more, and a file of
 * nothing but line breaks is refused after a bounded amount of work instead of millions of empty rows.
 */
export const MAX_CSV_LINES = 100_000;
/**
 * What the entries of an .xlsx may inflate to, all together, counted while inflating (never
 * taken from the archive's own size fields). It bounds what exceljs then parses: about 0.25 s
 * and 30 MB of memory per MiB of sheet XML, so at most ~2 s and ~250 MB for the densest sheet
 * (numbers in every cell). A 5000-row sheet of 20 columns inflates to about 4 MiB.
 */
export const MAX_XLSX_INFLATED_BYTES = 8 * 1024 * 1024;
/** Files in the archive; a workbook has a few dozen, and each costs exceljs work however small. */
export const MAX_XLSX_ENTRIES = 1000;
/** Inflating stops here whatever it has reached (it takes ~0.1 s for MAX_XLSX_INFLATED_BYTES). */
export const XLSX_INFLATE_DEADLINE_MS = 2000;

export interface InflationLimits {
  maxInflatedBytes: number;
  maxEntries: number;
  deadlineMs: number;
}

const XLSX_LIMITS: InflationLimits = { maxInflatedBytes: MAX_XLSX_INFLATED_BYTES, maxEntries: MAX_XLSX_ENTRIES, deadlineMs: XLSX_INFLATE_DEADLINE_MS };

/**
 * Headers that name an invoice column by default, compared after normalizeHeader() and with
 * number words (no, nr, num, number, numero, n) dropped: "NOTA FISCAL", "Nota_Fiscal", "Nº NF",
 * "NF-e", "Número da NF", "Invoice", "Invoice No", "invoice number", "Fatura" all match.
 */
export const DEFAULT_ITEM_HEADERS = [
  'nota fiscal',
  'notas fiscais',
  'nota fiscal eletronica',
  'nf',
  'nfe',
  'nf e',
  'invoice',
  'invoices',
  'fatura',
  'faturas',
] as const;
const NUMBER_WORDS = new Set(['n', 'no', 'nr', 'nro', 'num', 'number', 'numero', 'da', 'de', 'do', 'of']);

export type SpreadsheetFormat = 'xlsx' | 'csv';

/** One row with content; `cells[i]` is column i (0 = A), text '' when empty. */
export interface SheetRow {
  number: number;
  cells: SheetCell[];
}

export interface SheetCell {
  text: string;
  /** Why the cell cannot be an item whatever the robot: a date, an Excel error, TRUE/FALSE. */
  refusal?: string;
}

export interface ItemColumn {
  /** 0-based column index. */
  index: number;
  letter: string;
  /** The header cell's text; null when a letter was given and the sheet has no header. */
  header: string | null;
  headerRow: number | null;
}

export type ItemCheck = { ok: true; value: unknown } | { ok: false; message: string };
/** Validates one cell's text as an item; the returned value is what the job receives. */
export type ItemValidator = (text: string) => ItemCheck;

export interface RowError {
  row: number;
  value: string;
  message: string;
}

export interface ItemExtraction {
  column: ItemColumn;
  items: unknown[];
  duplicatesDropped: number;
  blanksDropped: number;
  errors: RowError[];
}

export interface ExtractOptions {
  /** A column letter or a header name (see locateItemColumn). */
  column?: string;
  /** Extra normalized header names to accept by default (e.g. the robot's items field). */
  defaultHeaders?: readonly string[];
  validate: ItemValidator;
}

/** Reads, locates the item column and extracts the items of an uploaded file. */
export async function extractItems(bytes: Uint8Array, options: ExtractOptions): Promise<ItemExtraction> {
  const rows = await readRows(bytes);
  const column = locateItemColumn(rows, options);
  const dataRows = rows.filter((row) => row.number > (column.headerRow ?? 0));
  if (dataRows.length > MAX_ITEM_ROWS) throw tooManyRows(`${dataRows.length}`);
  return { column, ...collectItems(dataRows, column.index, options.validate) };
}

export async function readRows(bytes: Uint8Array): Promise<SheetRow[]> {
  if (bytes.length === 0) throw fileInvalid('The file is empty');
  if (bytes.length > MAX_SPREADSHEET_BYTES) {
    throw new PayloadTooLarge(`The file is ${bytes.length} bytes; the limit is ${MAX_SPREADSHEET_BYTES}`);
  }
  return sniffFormat(bytes) === 'xlsx' ? readXlsxRows(bytes) : csvRows(decodeCsv(bytes));
}

/** Decides by content, not by file name: an .xlsx is a zip, a CSV is text. */
export function sniffFormat(bytes: Uint8Array): SpreadsheetFormat {
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return 'xlsx';
  if (startsWith(bytes, [0xd0, 0xcf, 0x11, 0xe0])) {
    throw new UnsupportedMediaType('Old Excel .xls files are not supported; save the sheet as .xlsx or .csv');
  }
  if (looksLikeText(bytes)) return 'csv';
  throw new UnsupportedMediaType('The file is neither an .xlsx workbook nor a CSV text file');
}

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.every((byte, i) => bytes[i] === byte);
}

const UTF16LE_BOM = [0xff, 0xfe];

function looksLikeText(bytes: Uint8Array): boolean {
  if (startsWith(bytes, UTF16LE_BOM)) return true;
  // Control bytes other than tab, line feed, form feed and carriage return mean binary data.
  return !bytes.some((byte) => byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0c && byte !== 0x0d);
}

/** UTF-8 (BOM optional), UTF-16LE ("Unicode text" exports), else Windows-1252 (Excel's "CSV" on Windows). */
export function decodeCsv(bytes: Uint8Array): string {
  if (startsWith(bytes, UTF16LE_BOM)) return new TextDecoder('utf-16le').decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

function csvRows(text: string): SheetRow[] {
  const rows = new SheetRows();
  let number = 0;
  for (const fields of csvRecords(text)) {
    number++;
    // Blank lines only count: a file of line breaks keeps nothing in memory.
    if (fields.some((field) => field.trim() !== '')) rows.add({ number, cells: fields.map((field) => ({ text: field })) });
  }
  return rows.rows;
}

/** The rows with content of a sheet as they are read, refused as soon as they pass the sheet limits. */
class SheetRows {
  readonly rows: SheetRow[] = [];
  private cells = 0;

  add(row: SheetRow): void {
    if (!hasContent(row)) return;
    if (this.rows.length === MAX_CONTENT_ROWS) throw tooManyRows(`more than ${MAX_ITEM_ROWS}`);
    this.cells += row.cells.length;
    if (this.cells > MAX_SHEET_CELLS) throw fileInvalid(`The sheet has more than ${MAX_SHEET_CELLS} cells`);
    this.rows.push(row);
  }
}

function tooManyRows(count: string): InputInvalid {
  return fileInvalid(`The sheet has ${count} data rows; the limit is ${MAX_ITEM_ROWS}`);
}

function hasContent(row: SheetRow): boolean {
  return row.cells.some((cell) => cell.text.trim() !== '');
}

/**
 * RFC 4180 records with the delimiter of the first line (`;` as Excel writes in many locales,
 * `,` or tab): quoted fields may hold delimiters, `""` and line breaks; CRLF or LF endings.
 * A record is one spreadsheet row, as Excel numbers them when it opens the file.
 */
export function parseCsv(text: string): string[][] {
  return [...csvRecords(text)];
}

/** The records of parseCsv one by one, so that a caller keeps only those it needs. */
function* csvRecords(text: string): Generator<string[]> {
  const delimiter = detectDelimiter(text);
  let records = 0;
  let record: string[] = [];
  const push = (field: string) => {
    if (record.length === MAX_COLUMNS) throw fileInvalid(`Row ${records + 1} has more than ${MAX_COLUMNS} columns`);
    record.push(field);
  };
  let field = '';
  let quoted = false;
  let quoteOpenedOnRecord = 0;
  for (let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char !== '"') {
        field += char;
      } else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else {
        quoted = false;
      }
    } else if (char === '"' && field.trim() === '') {
      quoted = true;
      quoteOpenedOnRecord = records + 1;
      field = '';
    } else if (char === delimiter) {
      push(field);
      field = '';
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[i + 1] === '\n') i++;
      push(field);
      if (++records > MAX_CSV_LINES) throw fileInvalid(`The CSV has more than ${MAX_CSV_LINES} lines, blank ones included`);
      yield record;
      record = [];
      field = '';
    } else {
      field += char;
    }
  }
  if (quoted) throw fileInvalid(`Row ${quoteOpenedOnRecord} has a quoted field that never ends`);
  if (field !== '' || record.length > 0) {
    push(field);
    yield record;
  }
}

function detectDelimiter(text: string): string {
  const firstLine = text.slice(0, text.search(/\r|\n|$/)).replace(/"[^"]*"/g, '');
  const counts = [';', ',', '\t'].map((delimiter) => ({ delimiter, count: firstLine.split(delimiter).length - 1 }));
  const best = counts.reduce((a, b) => (b.count > a.count ? b : a));
  return best.count > 0 ? best.delimiter : ',';
}

async function readXlsxRows(bytes: Uint8Array): Promise<SheetRow[]> {
  await assertInflatesWithin(bytes, XLSX_LIMITS);
  // Loaded on demand: exceljs costs ~0.4 s to import, which JSON submissions need not pay.
  const { default: ExcelJS } = await import('exceljs');
  const workbook = new ExcelJS.Workbook();
  try {
    await workbook.xlsx.load(new Uint8Array(bytes).buffer);
  } catch {
    throw fileInvalid('The file is not a readable .xlsx workbook');
  }
  const sheet = workbook.worksheets.find((candidate) => candidate.state === 'visible') ?? workbook.worksheets[0];
  if (!sheet) throw fileInvalid('The workbook has no worksheet');
  const rows = new SheetRows();
  sheet.eachRow((row, number) => {
    // Only the cells the file holds: a lone cell in column XFD does not make 16383 empty ones.
    const cells: SheetCell[] = [];
    row.eachCell((cell, column) => {
      if (column > MAX_COLUMNS) throw fileInvalid(`Row ${number} has more than ${MAX_COLUMNS} columns`);
      while (cells.length < column - 1) cells.push(EMPTY_CELL);
      cells.push(readCell(cell.value, cell.numFmt));
    });
    rows.add({ number, cells });
  });
  return rows.rows;
}

const EMPTY_CELL: SheetCell = Object.freeze({ text: '' });

/**
 * What a cell stands for. Numbers never become `1.23457E+11`: integers are written out in full,
 * and a zero-padded number format ("000000000") keeps its leading zeros. Formulas give their
 * cached result; dates, errors and TRUE/FALSE are refused as items (Excel turned them into
 * something else than the number that was typed).
 */
export function readCell(value: CellValue, numFmt?: string): SheetCell {
  if (value === null || value === undefined) return { text: '' };
  if (typeof value === 'string') return { text: value };
  if (typeof value === 'number') return { text: numberText(value, numFmt) };
  if (typeof value === 'boolean') return { text: value ? 'TRUE' : 'FALSE', refusal: 'is a TRUE/FALSE cell' };
  if (value instanceof Date) return { text: dateText(value), refusal: 'is a date cell; format the column as text and type the value again' };
  if ('richText' in value) return { text: value.richText.map((run) => run.text).join('') };
  if ('error' in value) return { text: value.error, refusal: `is the Excel error ${value.error}` };
  if ('formula' in value || 'sharedFormula' in value) {
    if (value.result !== undefined) return readCell(value.result, numFmt);
    const formula = 'formula' in value ? value.formula : value.sharedFormula;
    return { text: `=${formula ?? ''}`, refusal: 'is a formula the file holds no result for; open and save it in Excel' };
  }
  // A hyperlink's text may itself be rich text.
  if ('hyperlink' in value) return readCell(value.text as CellValue, numFmt);
  return { text: '' };
}

function numberText(value: number, numFmt: string | undefined): string {
  if (!Number.isInteger(value)) return String(value);
  const digits = BigInt(value).toString();
  return numFmt && /^0+$/.test(numFmt) ? digits.padStart(numFmt.length, '0') : digits;
}

function dateText(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
}

/**
 * The item column: `column` as a letter when the sheet has data in that column (so "B" means
 * column B, while "NF", column 378, names a header), else as a header name in the first rows
 * with content. Without `column`: the first header that names invoices (DEFAULT_ITEM_HEADERS)
 * or the robot's items field. By letter, the column's first value is its header unless it is
 * itself a valid item (a sheet without headers).
 */
export function locateItemColumn(rows: readonly SheetRow[], options: ExtractOptions): ItemColumn {
  const headerRows = rows.slice(0, HEADER_SEARCH_ROWS);
  if (options.column !== undefined) {
    const index = /^[A-Za-z]{1,3}$/.test(options.column) ? columnIndex(options.column) : -1;
    if (rows.some((row) => (row.cells[index]?.text ?? '').trim() !== '')) return letterColumn(rows, index, options.validate);
    const wanted = normalizeHeader(options.column);
    const named = findHeader(headerRows, (cell) => normalizeHeader(cell) === wanted);
    if (named) return named;
    throw new InputInvalid(`No header named "${options.column}" in the first ${HEADER_SEARCH_ROWS} rows, and no column ${options.column} with data`, {
      fields: [{ field: 'column', message: 'must name a header of the sheet or a column letter such as B' }],
    });
  }
  const accepted = new Set([...DEFAULT_ITEM_HEADERS, ...(options.defaultHeaders ?? []).map(headerKey)]);
  const found = findHeader(headerRows, (cell) => accepted.has(headerKey(cell)));
  if (found) return found;
  throw new InputInvalid(`No column header names invoices (NOTA FISCAL, NF, Invoice, Fatura ...) in the first ${HEADER_SEARCH_ROWS} rows`, {
    fields: [{ field: 'column', message: 'is required when no header names the items: give a header name or a column letter such as B' }],
  });
}

function findHeader(rows: readonly SheetRow[], matches: (cell: string) => boolean): ItemColumn | undefined {
  for (const row of rows) {
    const index = row.cells.findIndex((cell) => cell.text.trim() !== '' && matches(cell.text));
    if (index >= 0) return { index, letter: columnLetter(index), header: row.cells[index]!.text.trim(), headerRow: row.number };
  }
  return undefined;
}

function letterColumn(rows: readonly SheetRow[], index: number, validate: ItemValidator): ItemColumn {
  const first = rows.find((row) => (row.cells[index]?.text ?? '').trim() !== '');
  const text = first?.cells[index]?.text.trim() ?? '';
  const isHeader = first !== undefined && !checkCell(first.cells[index]!, validate).ok;
  return { index, letter: columnLetter(index), header: isHeader ? text : null, headerRow: isHeader ? first.number : null };
}

function collectItems(rows: readonly SheetRow[], index: number, validate: ItemValidator): Omit<ItemExtraction, 'column'> {
  const items: unknown[] = [];
  const seen = new Set<string>();
  const errors: RowError[] = [];
  let duplicatesDropped = 0;
  let blanksDropped = 0;
  for (const row of rows) {
    const cell = row.cells[index] ?? { text: '' };
    if (cell.text.trim() === '') {
      blanksDropped++;
      continue;
    }
    const check = checkCell(cell, validate);
    if (!check.ok) {
      errors.push({ row: row.number, value: cell.text.trim(), message: check.message });
      continue;
    }
    const identity = JSON.stringify(check.value);
    if (seen.has(identity)) {
      duplicatesDropped++;
      continue;
    }
    seen.add(identity);
    items.push(check.value);
  }
  return { items, duplicatesDropped, blanksDropped, errors };
}

function checkCell(cell: SheetCell, validate: ItemValidator): ItemCheck {
  if (cell.refusal) return { ok: false, message: cell.refusal };
  const text = cell.text.trim();
  // A CSV saved from Excel may already hold numbers cut to scientific notation.
  if (/^\d(\.\d+)?E[+-]?\d+$/i.test(text)) {
    return { ok: false, message: 'is a number shortened to scientific notation; format the column as text and export again' };
  }
  return validate(text);
}

/** Lowercase ASCII words: accents, case, punctuation, underscores and camelCase do not matter. */
export function normalizeHeader(text: string): string {
  return text
    .replace(/(\p{Ll})(\p{Lu})/gu, '$1 $2')
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

/** A header without its number words: "Nº da Nota Fiscal" → "nota fiscal". */
function headerKey(text: string): string {
  return normalizeHeader(text)
    .split(' ')
    .filter((word) => !NUMBER_WORDS.has(word))
    .join(' ');
}

export function columnIndex(letters: string): number {
  return [...letters.toUpperCase()].reduce((index, letter) => index * 26 + letter.charCodeAt(0) - 64, 0) - 1;
}

export function columnLetter(index: number): string {
  let letters = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) letters = String.fromCharCode(65 + ((n - 1) % 26)) + letters;
  return letters;
}

/**
 * Inflates every entry exceljs would read, as a stream, counting the bytes that actually come
 * out, and refuses the file once they pass `maxInflatedBytes` or the deadline passes. The
 * archive is read by JSZip, the very reader exceljs loads workbooks with, so the entries
 * counted here are exactly those exceljs inflates next (however many the end record claims,
 * whatever sizes the headers declare, overlapping or not). Memory stays at one chunk at a time.
 */
export async function assertInflatesWithin(bytes: Uint8Array, limits: InflationLimits): Promise<void> {
  const deadline = Date.now() + limits.deadlineMs;
  const { default: JSZip } = await import('jszip');
  let zip: InstanceType<typeof JSZip>;
  try {
    // Reads the directory only: JSZip inflates an entry when it is asked for its content.
    zip = await JSZip.loadAsync(bytes);
  } catch {
    throw fileInvalid('The file is not a readable .xlsx workbook');
  }
  const entries = Object.values(zip.files).filter((entry) => !entry.dir);
  if (entries.length > limits.maxEntries) throw fileInvalid(`The workbook holds more than ${limits.maxEntries} files`);
  let inflated = 0;
  for (const entry of entries) {
    // JSZip's stream is an old-style readable-stream one: wrapped, it is async-iterable.
    const content = new Readable().wrap(entry.nodeStream('nodebuffer'));
    try {
      for await (const chunk of content) {
        inflated += (chunk as Buffer).length;
        if (inflated > limits.maxInflatedBytes) throw fileInvalid(`The workbook expands to more than ${limits.maxInflatedBytes / 1024 / 1024} MB`);
        if (Date.now() > deadline) throw fileInvalid(`The workbook takes longer than ${limits.deadlineMs / 1000} s to unpack`);
      }
    } catch (error) {
      if (error instanceof InputInvalid) throw error;
      // Corrupt deflate data, an unknown compression method, a size that does not match.
      throw fileInvalid('The file is not a readable .xlsx workbook');
    } finally {
      content.destroy();
    }
  }
}

function fileInvalid(message: string): InputInvalid {
  return new InputInvalid(message, { fields: [{ field: 'file', message }] });
}
