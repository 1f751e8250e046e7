const PDF_MAGIC = '%PDF-';

/** A fast run must not be a broken one: every POD is a PDF that names its own invoice. */
export function assertPod(invoice: string, body: Uint8Array): void {
  const text = Buffer.from(body).toString('latin1');
  if (!text.startsWith(PDF_MAGIC)) throw new Error(`POD of invoice ${invoice} is not a PDF: ${JSON.stringify(text.slice(0, 20))}`);
  if (!text.includes(`Invoice ${invoice}`)) throw new Error(`POD of invoice ${invoice} does not name its invoice`);
}
