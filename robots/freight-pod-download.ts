import type { Download, Page } from 'playwright-core';
import * as z from 'zod';
import { listEnv } from '../core/config';
import { staticEgressViolation } from '../core/egress-guard';
import { ENV } from '../core/env-names';
import { businessError, sessionEnded, technicalError, type ItemRobot, type JobSummary, type RobotContext } from '../core/robot';
import { clickToDownload, clickToNavigate, httpStatusFailure, loadPage, navigate, withPageLoadRetries } from './navigation';

/**
 * Logs in to a freight carrier's portal and downloads the proof of delivery (POD) PDF of each
 * invoice. Written against the portal's pages (see sandbox/freight-portal.ts):
 *   /login   form#login (username, password) → the search page, or p.error
 *   /search  ?invoice=N → table#result with a#pod-download, or p#not-found
 * A session that ends mid-job shows the login form instead of the page asked for: the robot says
 * so (sessionEnded), and the runtime signs in again and repeats the item. The runtime keeps the
 * signed-in state per owner, portal and credentials (sessionCredentials), so that later chunks
 * and jobs start signed in.
 */

/** Read once: the submit handler validates input with this schema on every request. */
const egressAllowHosts = listEnv(ENV.egressAllowHosts);

const STEP_TIMEOUT_MS = 30_000;
const MAX_INVOICES = 5000;
const PDF_MAGIC = '%PDF-';

const invoiceSchema = z
  .string()
  .trim()
  .min(1, 'must not be blank')
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, ".", "_" or "-"');

const freightPodInput = z.strictObject({
  portalUrl: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .superRefine((url, ctx) => {
      const violation = staticEgressViolation(url, egressAllowHosts);
      if (violation) ctx.addIssue({ code: 'custom', message: `URL is not allowed: ${violation}` });
    })
    .describe('The portal, e.g. https://portal.carrier.example/'),
  credentialsSecret: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[A-Za-z0-9/_+=.@-]+$/, 'must be a secret name')
    .describe('The portal credentials (PUT /secrets/{name}): "name" for your own, "shared/name" for shared ones; bound to the portal host'),
  invoices: z
    .array(invoiceSchema)
    .min(1)
    .max(MAX_INVOICES)
    // Each invoice is one work item; a repeated number would be the same item again.
    .transform((invoices) => [...new Set(invoices)])
    .describe(`Invoice numbers (1-${MAX_INVOICES}); repeats are dropped`),
});

export type FreightPodInput = z.infer<typeof freightPodInput>;


export const freightPodDownload: ItemRobot<FreightPodInput> = {
  name: 'freight-pod-download',
  version: '1.0.0',
  description: 'Signs in to a freight portal and downloads the proof-of-delivery PDF of each invoice, with a manifest (JSON and CSV).',
  input: freightPodInput,
  itemsField: 'invoices',
  portalUrl: (input) => input.portalUrl,
  credentialUses: (input) => [{ field: 'input.credentialsSecret', ref: input.credentialsSecret, url: input.portalUrl }],
  items: (input) => input.invoices.map((invoice) => ({ key: invoice })),

  login: (context, input) => logIn(context, input),
  sessionCredentials: (input) => input.credentialsSecret,
  // Each item is a search and a download on its own page; the portal's session serves them all.
  pagesPerSession: 4,

  async processItem(context, { key: invoice }, input) {
    // The search and the click that downloads are tried again together: a 503 may answer either.
    const download = await withPageLoadRetries(context.page, () => openPod(context.page, input.portalUrl, invoice));
    const body = await readDownload(download);
    if (!Buffer.from(body.subarray(0, PDF_MAGIC.length)).toString('latin1').startsWith(PDF_MAGIC)) {
      throw technicalError('POD_NOT_PDF', `The POD of invoice ${invoice} is not a PDF (${download.suggestedFilename()})`);
    }
    context.log.info('pod downloaded', { invoice, size: body.byteLength });
    return { file: { name: `POD-${invoice}.pdf`, contentType: 'application/pdf', body } };
  },

  async finish({ saveArtifact }, summary) {
    const rows = manifestRows(summary);
    await saveArtifact('manifest.json', 'application/json', Buffer.from(JSON.stringify({ succeeded: summary.succeeded, failed: summary.failed, invoices: rows }, null, 2)));
    await saveArtifact('manifest.csv', 'text/csv', Buffer.from(manifestCsv(rows)));
  },
};

async function logIn({ page, credentials }: RobotContext, { portalUrl, credentialsSecret }: FreightPodInput): Promise<void> {
  const account = await credentials(credentialsSecret);
  const loginUrl = new URL('/login', portalUrl).href;
  await navigate(page, loginUrl, { timeoutMs: STEP_TIMEOUT_MS });
  const form = page.locator('form#login');
  // Typed by the runtime, and only if the login page really is on a host the credentials are bound to.
  await account.fill(form.locator('input[name=username]'), 'username');
  await account.fill(form.locator('input[name=password]'), 'password');
  const response = await clickToNavigate(page, form.locator('button[type=submit]'), { timeoutMs: STEP_TIMEOUT_MS });
  if (await page.locator('p.error').count()) throw businessError('LOGIN_REJECTED', `The portal refused the credentials in ${credentialsSecret}`);
  if (response.status() >= 400) throw httpStatusFailure(loginUrl, response.status(), response.headers()['retry-after']);
  if (await showsLoginForm(page)) throw technicalError('LOGIN_FAILED', 'The portal showed the login form again after signing in');
}

/** Searches the invoice and clicks its POD link (one try: the caller retries); a business error when the portal does not know it. */
async function openPod(page: Page, portalUrl: string, invoice: string): Promise<Download> {
  const searchUrl = new URL(`/search?${new URLSearchParams({ invoice })}`, portalUrl).href;
  await loadPage(page, searchUrl, { timeoutMs: STEP_TIMEOUT_MS });
  if (await showsLoginForm(page)) throw sessionEnded();
  if (await page.locator('#not-found').count()) throw businessError('UNKNOWN_INVOICE', `The portal does not know invoice ${invoice}`);
  const link = page.locator('a#pod-download');
  if (!(await link.count())) throw technicalError('RESULT_UNREADABLE', `The search page for invoice ${invoice} shows neither a result nor "not found"`);
  const outcome = await clickToDownload(page, link, { timeoutMs: STEP_TIMEOUT_MS });
  if (outcome !== 'page') return outcome;
  if (await showsLoginForm(page)) throw sessionEnded();
  throw technicalError('POD_NOT_DOWNLOADED', `The POD link of invoice ${invoice} opened a page ("${await page.title()}") instead of a file`);
}

async function showsLoginForm(page: Page): Promise<boolean> {
  return (await page.locator('form#login').count()) > 0;
}

/** The browser keeps downloads on its side; read the file and delete it there. */
async function readDownload(download: Download): Promise<Uint8Array> {
  const failure = await download.failure();
  if (failure) throw technicalError('POD_DOWNLOAD_FAILED', `Download of ${download.suggestedFilename()} failed: ${failure}`);
  const chunks: Buffer[] = [];
  for await (const chunk of await download.createReadStream()) chunks.push(chunk as Buffer);
  await download.delete();
  return Buffer.concat(chunks);
}

interface ManifestRow {
  invoice: string;
  status: string;
  artifact: string;
  sha256: string;
  error: string;
}

function manifestRows(summary: JobSummary): ManifestRow[] {
  return summary.items.map((item) => ({
    invoice: item.key,
    status: item.status,
    artifact: item.artifact?.name ?? '',
    sha256: item.artifact?.sha256 ?? '',
    error: item.error ? `${item.error.code}: ${item.error.message}` : '',
  }));
}

const CSV_COLUMNS: readonly (keyof ManifestRow)[] = ['invoice', 'status', 'artifact', 'sha256', 'error'];

function manifestCsv(rows: readonly ManifestRow[]): string {
  const lines = [CSV_COLUMNS.join(','), ...rows.map((row) => CSV_COLUMNS.map((column) => csvField(row[column])).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}

/** RFC 4180 quoting; a leading = + - @ is neutralised so spreadsheets do not run it as a formula. */
function csvField(value: string): string {
  const safe = /^[=+\-@]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
