import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { InputInvalid, PayloadTooLarge, UnsupportedMediaType } from '../../core/errors';
import {
  MAX_COLUMNS,
  MAX_CSV_LINES,
  MAX_ITEM_ROWS,
  MAX_SHEET_CELLS,
  MAX_XLSX_ENTRIES,
  MAX_XLSX_INFLATED_BYTES,
  assertInflatesWithin,
  MAX_SPREADSHEET_BYTES,
  columnIndex,
  columnLetter,
  extractItems,
  parseCsv,
  readRows,
  type ExtractOptions,
  type ItemValidator,
} from '../../core/spreadsheet';
import { itemSchemaOf } from '../../core/intake';
import { isItemRobot } from '../../core/robot';
import { ROBOTS } from '../../robots';
import { csvOf, xlsxOf } from '../fixtures/sheets';
import { deflatedZeros, lyingEndRecordBomb, lyingSizeBomb, zipOf } from '../fixtures/zip-bombs';

/** Invoice numbers as the issue describes them: 6 to 12 digits. */
const sixToTwelveDigits: ItemValidator = (text) => (/^\d{6,12}$/.test(text) ? { ok: true, value: text } : { ok: false, message: 'must be 6 to 12 digits' });
const extract = (bytes: Uint8Array, options: Partial<ExtractOptions> = {}) => extractItems(bytes, { validate: sixToTwelveDigits, ...options });

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error as Error,
  );
}

describe('CSV', () => {
  it('parses quoted fields with delimiters, escaped quotes and line breaks, CRLF or LF', () => {
    expect(parseCsv('a,"b,c","say ""hi""","two\r\nlines"\r\nd,e\n')).toEqual([
      ['a', 'b,c', 'say "hi"', 'two\r\nlines'],
      ['d', 'e'],
    ]);
  });

  it('takes the delimiter from the first line: ; as Excel writes it in many locales', () => {
    expect(parseCsv('NF;Cliente\n"123456";"ACME, Ltda"')).toEqual([
      ['NF', 'Cliente'],
      ['123456', 'ACME, Ltda'],
    ]);
  });

  it('refuses an unterminated quote, naming the row', () => {
    expect(() => parseCsv('NF\n123456\n"7890')).toThrow(/Row 3 has a quoted field that never ends/);
  });

  it('reads a UTF-8 file with BOM and a Windows-1252 one alike', async () => {
    const utf8 = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Número;x\r\n123456;1\r\n', 'utf8')]);
    const latin = Buffer.from('Número;x\r\n123456;1\r\n', 'latin1');
    for (const bytes of [utf8, latin]) {
      const rows = await readRows(bytes);
      expect(rows.map((row) => row.cells.map((cell) => cell.text))).toEqual([
        ['Número', 'x'],
        ['123456', '1'],
      ]);
    }
  });

  it('numbers rows as records, like Excel when it opens the file', async () => {
    const result = await extract(csvOf(['Invoice,Note', '123456,"multi', 'line"', '12x,bad']));
    expect(result.items).toEqual(['123456']);
    expect(result.errors).toEqual([{ row: 3, value: '12x', message: 'must be 6 to 12 digits' }]);
  });
});

describe('XLSX cells', () => {
  it('keeps leading zeros of text cells and writes big numbers out in full', async () => {
    const bytes = await xlsxOf([['NOTA FISCAL'], ['000123456'], [123456789012], [12345678]], { numFmts: { A4: '0000000000' } });
    const result = await extract(bytes);
    expect(result.items).toEqual(['000123456', '123456789012', '0012345678']);
    expect(result.errors).toEqual([]);
  });

  it('uses formula results, rich text and hyperlink text', async () => {
    const bytes = await xlsxOf([
      ['Invoice'],
      [{ formula: '100000+23456', result: 123456 }],
      [{ richText: [{ text: '2345' }, { text: '67', font: { bold: true } }] }],
      [{ text: '345678', hyperlink: 'https://portal.example/345678' }],
    ]);
    expect((await extract(bytes)).items).toEqual(['123456', '234567', '345678']);
  });

  it('refuses dates, Excel errors, booleans and formulas without a result, with their row numbers', async () => {
    const bytes = await xlsxOf([
      ['Invoice'],
      [new Date(Date.UTC(2024, 0, 5))],
      [{ error: '#N/A' }],
      [true],
      [{ formula: 'B1*2' } as never],
      ['123456'],
    ]);
    const result = await extract(bytes);
    expect(result.items).toEqual(['123456']);
    expect(result.errors).toEqual([
      { row: 2, value: '2024-01-05', message: expect.stringContaining('date') },
      { row: 3, value: '#N/A', message: expect.stringContaining('#N/A') },
      { row: 4, value: 'TRUE', message: expect.stringContaining('TRUE/FALSE') },
      { row: 5, value: '=B1*2', message: expect.stringContaining('formula') },
    ]);
  });

  it('reads the first visible sheet', async () => {
    const bytes = await xlsxOf([['Invoice'], ['123456']], { hiddenFirstSheet: [['Invoice'], ['999999']] });
    expect((await extract(bytes)).items).toEqual(['123456']);
  });
});

describe('the item column', () => {
  it.each(['NOTA FISCAL', 'Nota Fiscal', 'nota_fiscal', 'NotaFiscal', 'NF', 'NF-e', 'Nº NF', 'Número da Nota Fiscal', 'Invoice', 'Invoice No', 'invoice number', 'Fatura'])(
    'finds a column headed %j by default',
    async (header) => {
      const result = await extract(csvOf([`Cliente;Data;${header}`, 'ACME;2024-01-05;123456']));
      expect(result.column).toMatchObject({ header, letter: 'C', headerRow: 1 });
      expect(result.items).toEqual(['123456']);
    },
  );

  it("accepts the robot's items field as a default header and looks under title rows", async () => {
    const result = await extract(csvOf(['Report of March', '', 'id,Customer Refs', 'x,123456']), { defaultHeaders: ['customer refs'] });
    expect(result.column).toMatchObject({ header: 'Customer Refs', letter: 'B', headerRow: 3 });
    expect(result.items).toEqual(['123456']);
  });

  it('does not take "Invoice date" for the invoice column', async () => {
    const error = await rejection(extract(csvOf(['Invoice date,Amount', '2024-01-05,10'])));
    expect(error).toBeInstanceOf(InputInvalid);
    expect((error as InputInvalid).details).toEqual({ fields: [{ field: 'column', message: expect.stringContaining('column letter') }] });
  });

  it('takes `column` as a letter of a column with data, else as a header name', async () => {
    const csv = csvOf(['NF,Codigo', '111111,222222']);
    expect((await extract(csv, { column: 'codigo' })).column).toMatchObject({ letter: 'B', header: 'Codigo', headerRow: 1 });
    expect((await extract(csv, { column: 'b' })).column).toMatchObject({ letter: 'B', header: 'Codigo', headerRow: 1 });
    // Column NF (the 378th) holds nothing: "NF" names the header.
    expect((await extract(csv, { column: 'NF' })).column).toMatchObject({ letter: 'A', header: 'NF' });
  });

  it('reads a sheet without headers by letter, keeping its first row', async () => {
    const result = await extract(csvOf(['123456,a', '234567,b']), { column: 'A' });
    expect(result.column).toEqual({ index: 0, letter: 'A', header: null, headerRow: null });
    expect(result.items).toEqual(['123456', '234567']);
  });

  it('refuses a `column` that is neither a header nor a letter', async () => {
    const error = await rejection(extract(csvOf(['Invoice', '123456']), { column: 'Customer' }));
    expect((error as InputInvalid).details).toEqual({ fields: [{ field: 'column', message: expect.any(String) }] });
  });

  it('converts column letters and indexes both ways', () => {
    expect(['A', 'Z', 'AA', 'AZ', 'XFD'].map(columnIndex)).toEqual([0, 25, 26, 51, 16383]);
    expect([0, 25, 26, 51, 16383].map(columnLetter)).toEqual(['A', 'Z', 'AA', 'AZ', 'XFD']);
  });
});

describe('items', () => {
  it('drops duplicates and blanks, counting them, and reports invalid cells with row numbers', async () => {
    const csv = csvOf(['NF;Cliente', '123456;a', ' 123456 ;b', ';c', '1.23457E+11;d', '12345;e', '234567;f', '234567;g']);
    const result = await extract(csv);
    expect(result).toMatchObject({ items: ['123456', '234567'], duplicatesDropped: 2, blanksDropped: 1 });
    expect(result.errors).toEqual([
      { row: 5, value: '1.23457E+11', message: expect.stringContaining('scientific notation') },
      { row: 6, value: '12345', message: 'must be 6 to 12 digits' },
    ]);
  });

  it('keeps the value the validator returns (e.g. a normalised one) and dedupes on it', async () => {
    const stripDots: ItemValidator = (text) => ({ ok: true, value: text.replace(/\./g, '') });
    const result = await extract(csvOf(['NF', '000.123.456', '000123456']), { validate: stripDots });
    expect(result).toMatchObject({ items: ['000123456'], duplicatesDropped: 1 });
  });
});

describe('limits and formats', () => {
  it(`refuses more than ${MAX_ITEM_ROWS} data rows`, async () => {
    const lines = ['Invoice', ...Array.from({ length: MAX_ITEM_ROWS + 1 }, (_unused, i) => String(100000 + i))];
    const error = await rejection(extract(csvOf(lines)));
    expect(error).toBeInstanceOf(InputInvalid);
    expect(error.message).toContain(`${MAX_ITEM_ROWS + 1} data rows`);
    expect((await extract(csvOf(lines.slice(0, -1)))).items).toHaveLength(MAX_ITEM_ROWS);
  });

  it('refuses files over the size limit with 413', async () => {
    await expect(readRows(Buffer.alloc(MAX_SPREADSHEET_BYTES + 1, 0x31))).rejects.toBeInstanceOf(PayloadTooLarge);
  });

  it.each([
    ['a PDF', Buffer.from('%PDF-1.7\n\x00\x01binary'), UnsupportedMediaType, /neither an .xlsx/],
    ['an old .xls', Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), UnsupportedMediaType, /\.xls files are not supported/],
    ['a zip that is no workbook', Buffer.from('PK\x03\x04 not really a zip'), InputInvalid, /not a readable .xlsx/],
    ['an empty file', Buffer.alloc(0), InputInvalid, /empty/],
  ])('refuses %s', async (_label, bytes, type, message) => {
    const error = await rejection(readRows(bytes));
    expect(error).toBeInstanceOf(type);
    expect(error.message).toMatch(message);
  });
});

describe('archive bombs: work is bounded by bytes actually inflated, and by time', () => {
  const MiB = 1024 * 1024;

  /** Refused how, how fast, and how much the heap grew meanwhile (printed: adversarial figures). */
  async function attempt(label: string, bytes: Uint8Array) {
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    const error = await rejection(extract(bytes));
    const ms = Math.round(performance.now() - started);
    const heapGrowthMiB = Math.round((process.memoryUsage().heapUsed - heapBefore) / MiB);
    console.log(`spreadsheet bomb: ${label} bytes=${bytes.length} ms=${ms} heapGrowthMiB=${heapGrowthMiB} -> ${error.message}`);
    return { error, ms, heapGrowthMiB };
  }

  it('refuses a 3 MB bomb whose end record claims one entry while 200 entries inflate to 3.2 GiB', async () => {
    const { error, ms, heapGrowthMiB } = await attempt('lying end record', lyingEndRecordBomb());

    expect(error).toBeInstanceOf(InputInvalid);
    expect(error.message).toBe(`The workbook expands to more than ${MAX_XLSX_INFLATED_BYTES / MiB} MB`);
    expect(ms).toBeLessThan(3000);
    expect(heapGrowthMiB).toBeLessThan(200);
  });

  it('refuses a 1 MB sheet that declares 1 KiB and inflates to 1 GiB', async () => {
    const { error, ms, heapGrowthMiB } = await attempt('lying size', lyingSizeBomb());

    expect(error.message).toBe(`The workbook expands to more than ${MAX_XLSX_INFLATED_BYTES / MiB} MB`);
    expect(ms).toBeLessThan(3000);
    expect(heapGrowthMiB).toBeLessThan(200);
  });

  it('counts what comes out, not what the headers claim: an entry that lies small but stays under the limit is refused as corrupt', async () => {
    const bytes = zipOf([{ name: 'xl/worksheets/sheet1.xml', deflated: deflatedZeros(2), declaredSize: 10 }]);
    await expect(assertInflatesWithin(bytes, { maxInflatedBytes: 4 * MiB, maxEntries: 10, deadlineMs: 2000 })).rejects.toThrow(/not a readable .xlsx/);
  });

  it('stops at the limit however the total is spread over entries', async () => {
    const entries = Array.from({ length: 5 }, (_unused, i) => ({ name: `xl/part${i}.xml`, deflated: deflatedZeros(1), declaredSize: MiB }));
    const limits = { maxInflatedBytes: 4 * MiB, maxEntries: 10, deadlineMs: 2000 };

    await expect(assertInflatesWithin(zipOf(entries.slice(0, 4)), limits)).resolves.toBeUndefined();
    await expect(assertInflatesWithin(zipOf(entries), limits)).rejects.toThrow('The workbook expands to more than 4 MB');
  });

  it('stops at the deadline', async () => {
    const bytes = zipOf([{ name: 'xl/a.xml', deflated: deflatedZeros(4), declaredSize: 4 * MiB }]);
    await expect(assertInflatesWithin(bytes, { maxInflatedBytes: 8 * MiB, maxEntries: 10, deadlineMs: -1 })).rejects.toThrow(/takes longer than/);
  });

  it(`refuses more than ${MAX_XLSX_ENTRIES} entries`, async () => {
    const empty = deflatedZeros(0);
    const bytes = zipOf(Array.from({ length: MAX_XLSX_ENTRIES + 1 }, (_unused, i) => ({ name: `x/${i}`, deflated: empty, declaredSize: 0 })));
    await expect(readRows(bytes)).rejects.toThrow(`The workbook holds more than ${MAX_XLSX_ENTRIES} files`);
  });

  it('refuses corrupt deflate data as unreadable, not with a crash', async () => {
    const bytes = zipOf([{ name: 'xl/workbook.xml', deflated: Buffer.from([0xff, 0xff, 0xff, 0xff]), declaredSize: 100 }]);
    const error = await rejection(readRows(bytes));
    expect(error).toBeInstanceOf(InputInvalid);
    expect(error.message).toMatch(/not a readable .xlsx/);
  });

  it('keeps a 4 MB CSV of line breaks, of delimiters or of rows within bounds', async () => {
    const newlines = await attempt('csv of line breaks', Buffer.alloc(MAX_SPREADSHEET_BYTES - 1, 0x0a));
    expect(newlines.error.message).toBe(`The CSV has more than ${MAX_CSV_LINES} lines, blank ones included`);
    const wide = await attempt('csv of one 4 MB row', Buffer.from(`Invoice${','.repeat(MAX_SPREADSHEET_BYTES - 20)}\n`));
    expect(wide.error.message).toBe(`Row 1 has more than ${MAX_COLUMNS} columns`);
    const tall = await attempt('csv of 550,000 rows', Buffer.from(`Invoice\n${'123456\n'.repeat(550_000)}`));
    expect(tall.error.message).toBe(`The sheet has more than ${MAX_ITEM_ROWS} data rows; the limit is ${MAX_ITEM_ROWS}`);
    const spaced = await attempt('csv of 5 rows among 200,000 blank lines', Buffer.from(`Invoice\n${'123456\n\n\n\n'.repeat(50_000)}`));
    expect(spaced.error.message).toMatch(/more than/);
    for (const { ms, heapGrowthMiB } of [newlines, wide, tall, spaced]) {
      expect(ms).toBeLessThan(3000);
      expect(heapGrowthMiB).toBeLessThan(300);
    }
  });

  it(`refuses a small workbook whose rows each reach column XFD once they pass ${MAX_SHEET_CELLS} cells`, async () => {
    const rows: (string | number | null)[][] = Array.from({ length: 200 }, (_unused, i) => [String(100000 + i), ...Array<null>(MAX_COLUMNS - 2).fill(null), 1]);
    const { error, ms } = await attempt('xlsx of 200 rows reaching column XFD', await xlsxOf(rows));
    expect(error.message).toBe(`The sheet has more than ${MAX_SHEET_CELLS} cells`);
    expect(ms).toBeLessThan(3000);
  });

  it('still reads a real 5000-row, 10-column workbook (about 2 MiB inflated)', async () => {
    const rows = Array.from({ length: 5001 }, (_unused, i) => Array.from({ length: 10 }, (_cell, j) => (i === 0 ? `Col ${j}` : j === 0 ? String(100000 + i) : `text ${i}`)));
    rows[0]![0] = 'Invoice';
    const sheet = await xlsxOf(rows);

    const extraction = await extract(sheet);
    expect(extraction.items).toHaveLength(5000);
  });
});

describe('robots that take items', () => {
  const itemRobots = ROBOTS.filter(isItemRobot);

  it.each(itemRobots.map((robot) => [robot.name, robot] as const))('%s exposes the element schema of its items field', (_name, robot) => {
    expect(itemSchemaOf(robot)).toBeInstanceOf(z.ZodType);
  });
});
