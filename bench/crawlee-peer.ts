import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Configuration, PlaywrightCrawler, log as crawleeLog } from '@crawlee/playwright';
import sparticuzChromium from '@sparticuz/chromium';
import { chromium, type Download } from 'playwright-core';
import { assertPod } from './pod-check';
import type { PortalTarget } from './worker-harness';

/**
 * The peer a user would pick instead of Roboport: a Crawlee PlaywrightCrawler written the way its
 * docs suggest for a site behind a login. One request signs in (the crawl's one browser keeps
 * the cookie in its persistent context), then one request per invoice opens the search page and
 * clicks the POD link, `concurrency` pages at once. Same Chromium binary and flags as the worker.
 */
export interface PeerOptions {
  concurrency: number;
  /** A Chromium binary; unset means @sparticuz/chromium's, as the worker. */
  executablePath?: string;
}

/** Flags the worker drops from @sparticuz/chromium's (runtime/browser.ts): a browser with several pages must not run in one process. */
const DROPPED_ARGS = new Set(['--single-process']);

export async function crawlPods(portal: PortalTarget, invoices: readonly string[], options: PeerOptions): Promise<void> {
  crawleeLog.setLevel(crawleeLog.LEVELS.WARNING);
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'roboport-crawlee-'));
  const downloaded = new Set<string>();
  const crawler: PlaywrightCrawler = new PlaywrightCrawler(
    {
      minConcurrency: options.concurrency,
      maxConcurrency: options.concurrency,
      maxRequestRetries: 3,
      // Cookies live in the browser's one persistent context: no session rotation, no fingerprints.
      useSessionPool: false,
      persistCookiesPerSession: false,
      launchContext: {
        launcher: chromium,
        userDataDir,
        launchOptions: {
          executablePath: options.executablePath ?? (await sparticuzChromium.executablePath()),
          args: sparticuzChromium.args.filter((arg) => !DROPPED_ARGS.has(arg)),
          headless: true,
          acceptDownloads: true,
        },
      },
      browserPoolOptions: { useFingerprints: false, retireBrowserAfterPageCount: Number.MAX_SAFE_INTEGER, maxOpenPagesPerBrowser: Math.max(20, options.concurrency) },
      async requestHandler({ page, request }) {
        if (request.label === 'login') {
          await page.fill('form#login input[name=username]', portal.username);
          await page.fill('form#login input[name=password]', portal.password);
          await Promise.all([page.waitForURL(/\/search/), page.click('form#login button[type=submit]')]);
          await crawler.addRequests(invoices.map((invoice) => ({ url: new URL(`/search?invoice=${invoice}`, portal.url).href, label: 'pod', userData: { invoice } })));
          return;
        }
        const invoice = String(request.userData.invoice);
        const [download] = await Promise.all([page.waitForEvent('download'), page.click('a#pod-download')]);
        assertPod(invoice, await readDownload(download));
        downloaded.add(invoice);
      },
    },
    new Configuration({ persistStorage: false, purgeOnStart: true }),
  );
  try {
    const stats = await crawler.run([{ url: new URL('/login', portal.url).href, label: 'login' }]);
    const missing = invoices.filter((invoice) => !downloaded.has(invoice));
    if (stats.requestsFailed > 0 || missing.length > 0) {
      throw new Error(`crawlee: ${stats.requestsFailed} requests failed, ${missing.length} PODs missing (${missing.slice(0, 5).join(', ')})`);
    }
  } finally {
    await crawler.teardown();
    await rm(userDataDir, { recursive: true, force: true });
  }
}

async function readDownload(download: Download): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of await download.createReadStream()) chunks.push(chunk as Buffer);
  await download.delete();
  return Buffer.concat(chunks);
}
