/**
 * A minimal, valid PDF 1.4 document: one A4 page of Helvetica text lines, uncompressed so the
 * text can be found in the bytes. Enough for a sandbox to serve real PDFs without a library.
 * The output is a pure function of its input (no dates, no ids): the same lines give the same
 * bytes, hence the same sha256.
 */
export interface PdfLine {
  text: string;
  /** Font size in points; 11 when absent. */
  size?: number;
}

const PAGE = { width: 595, height: 842, margin: 72 };
const LINE_SPACING = 1.5;

export function renderPdf({ title, lines }: { title: string; lines: readonly PdfLine[] }): Buffer {
  const content = textStream(lines);
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${PAGE.width} ${PAGE.height}] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    `<< /Title ${pdfString(title)} /Producer (Roboport sandbox) >>`,
  ];

  // The second line's high bytes mark the file as binary for transfer tools (PDF spec 7.5.2).
  let body = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  objects.forEach((object, index) => {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xrefOffset = Buffer.byteLength(body, 'latin1');
  // Every xref entry is exactly 20 bytes, its end of line included.
  const entries = ['0000000000 65535 f \n', ...offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`)];
  body += `xref\n0 ${objects.length + 1}\n${entries.join('')}`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n${xrefOffset}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

function textStream(lines: readonly PdfLine[]): string {
  const operations = ['BT'];
  let y = PAGE.height - PAGE.margin;
  for (const { text, size = 11 } of lines) {
    operations.push(`/F1 ${size} Tf`, `1 0 0 1 ${PAGE.margin} ${y} Tm`, `${pdfString(text)} Tj`);
    y -= Math.round(size * LINE_SPACING);
  }
  operations.push('ET');
  return operations.join('\n');
}

/** A PDF literal string; characters outside printable ASCII become '?', so one char is one byte. */
function pdfString(text: string): string {
  return `(${text.replace(/[^\x20-\x7e]/g, '?').replace(/[\\()]/g, (char) => `\\${char}`)})`;
}
