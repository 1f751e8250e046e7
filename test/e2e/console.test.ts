import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import sparticuzChromium from '@sparticuz/chromium';
import JSZip from 'jszip';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { LOCAL_USERS } from '../../local/local-users';
import type { LocalOutputs } from '../../local/stack';

/** The admin console in a real Chromium against the running local stack, as an admin would use it. */
const outputs: LocalOutputs = inject('outputs');
const [clientUser, adminUser] = LOCAL_USERS as [(typeof LOCAL_USERS)[number], (typeof LOCAL_USERS)[number]];
/** Screenshots of the main views for a human to look at (git-ignored); CONSOLE_SCREENSHOT_DIR for another folder. */
const screenshotDir = process.env.CONSOLE_SCREENSHOT_DIR ?? path.join(process.cwd(), 'test-output', 'console');
const screenshot = async (page: Page, name: string) => {
  await mkdir(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
};
const PHONE = { width: 390, height: 844 };

let browser: Browser;
let context: BrowserContext;
/** Page errors and console errors (CSP violations show up here): a clean run has none. */
let pageErrors: string[];
let clientJobId: string;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: await sparticuzChromium.executablePath(),
    // One browser serves several contexts here: --single-process would die with the first one.
    args: sparticuzChromium.args.filter((arg) => arg !== '--single-process'),
    headless: true,
  });
});

afterAll(async () => {
  await browser?.close();
});

async function openConsole(viewport = { width: 1280, height: 800 }): Promise<Page> {
  context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(outputs.ConsoleUrl);
  return page;
}

afterEach(async () => {
  await context?.close();
});

async function signIn(page: Page, user: { username: string; password: string }): Promise<void> {
  await page.getByLabel('Email or username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Jobs' }).waitFor();
}

const jobIdOf = (page: Page) => decodeURIComponent(new URL(page.url()).hash.replace(/^#\/jobs\//, ''));

describe('admin console', () => {
  it('is served with its config, a strict CSP, and the API allows it as a CORS origin', async () => {
    const index = await fetch(outputs.ConsoleUrl);
    expect(index.status).toBe(200);
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src 'self' ${outputs.ApiUrl} ${outputs.CognitoEndpoint}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');

    const config = await (await fetch(`${outputs.ConsoleUrl}/config.json`)).json();
    expect(config).toMatchObject({ apiUrl: outputs.ApiUrl, userPoolClientId: outputs.UserPoolClientId, cognitoEndpoint: outputs.CognitoEndpoint });
    expect(config.routes).toContain('POST /jobs/{jobId}/cancel');
    expect((await fetch(`${outputs.ConsoleUrl}/..%2Fpackage.json`)).status).toBe(404);

    const preflight = await fetch(`${outputs.ApiUrl}/jobs`, {
      method: 'OPTIONS',
      headers: { origin: outputs.ConsoleUrl, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBe(outputs.ConsoleUrl);
    expect(preflight.headers.get('access-control-allow-headers')?.split(',')).toEqual(expect.arrayContaining(['authorization', 'content-type', 'idempotency-key']));
  });

  it('says why a sign-in failed', async () => {
    const page = await openConsole();
    await page.getByLabel('Email or username').fill(clientUser.username);
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Sign-in failed/);
  });

  it('submits a web-snapshot job from the form and shows it finish with a downloadable PDF', async () => {
    const page = await openConsole();
    await signIn(page, clientUser);
    await page.getByRole('link', { name: 'New job' }).first().click();
    await page.getByRole('textbox', { name: 'URL', exact: true }).fill(`${outputs.SandboxUrl}/article`);
    expect(await page.getByRole('checkbox', { name: 'pdf' }).isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    clientJobId = jobIdOf(page);

    // The list refreshes itself until the job is finished.
    await page.getByRole('link', { name: 'All jobs' }).click();
    const row = page.locator(`tr[data-job-id="${clientJobId}"]`);
    await row.locator('[data-status="SUCCEEDED"]').waitFor({ timeout: 60_000 });
    await screenshot(page, 'jobs');

    await row.getByRole('link').click();
    const artifact = page.locator('tr[data-artifact="snapshot.pdf"]');
    await artifact.waitFor();
    await screenshot(page, 'job-detail');
    const href = await artifact.getByRole('link', { name: 'snapshot.pdf' }).getAttribute('href');
    const shownSha256 = await artifact.locator('code.hash').textContent();
    const bytes = Buffer.from(await (await fetch(href!)).arrayBuffer());
    expect(bytes.subarray(0, 4).toString()).toBe('%PDF');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(shownSha256);

    // Download all: one ZIP built server-side, holding the same PDF.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download all (ZIP)' }).click()]);
    expect(download.suggestedFilename()).toBe('all-files.zip');
    const zip = await JSZip.loadAsync(await readFile((await download.path())!));
    const zipped = await zip.file('snapshot.pdf')!.async('nodebuffer');
    expect(createHash('sha256').update(zipped).digest('hex')).toBe(shownSha256);
    expect(pageErrors).toEqual([]);
  });

  it('shows the API field error next to the field for a refused URL', async () => {
    const page = await openConsole();
    await signIn(page, clientUser);
    await page.goto(`${outputs.ConsoleUrl}/#/new`);
    await page.getByRole('textbox', { name: 'URL', exact: true }).fill('http://169.254.169.254/latest/meta-data/');
    await page.getByRole('button', { name: 'Submit job' }).click();
    const fieldError = page.locator('[data-field="url"] .field-error');
    await fieldError.waitFor();
    expect(await fieldError.textContent()).toMatch(/not allowed/);
    expect(await page.getByRole('textbox', { name: 'URL', exact: true }).getAttribute('aria-invalid')).not.toBeNull();
    await screenshot(page, 'field-error');
    expect(page.url()).toMatch(/#\/new$/);

    // The same input, as JSON: the form's values carry over.
    await page.getByRole('button', { name: 'JSON' }).click();
    expect(JSON.parse(await page.getByLabel('Input as JSON').inputValue())).toEqual({ url: 'http://169.254.169.254/latest/meta-data/', formats: ['pdf'] });
  });

  it('cancels a running job after confirmation', async () => {
    const page = await openConsole();
    await signIn(page, clientUser);
    await page.goto(`${outputs.ConsoleUrl}/#/new`);
    await page.getByRole('textbox', { name: 'URL', exact: true }).fill(`${outputs.SandboxUrl}/slow?ms=20000`);
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel job' }).click();
    await page.locator('h1 [data-status="CANCELLED"]').waitFor({ timeout: 30_000 });
    expect(await page.getByRole('button', { name: 'Cancel job' }).count()).toBe(0);
  });

  it("lets an admin see the client's job with its owner, and open Operations", async () => {
    const page = await openConsole();
    await signIn(page, adminUser);
    expect(await page.locator('.badge.admin').textContent()).toBe('admin');
    const row = page.locator(`tr[data-job-id="${clientJobId}"]`);
    await row.waitFor();
    expect(await page.getByRole('columnheader', { name: 'Owner' }).count()).toBe(1);
    expect(await row.locator('td[data-label="Owner"]').textContent()).toMatch(/^[0-9a-f-]{36}$/);
    await screenshot(page, 'jobs-admin');

    await page.getByRole('link', { name: 'Operations' }).click();
    await page.getByRole('heading', { name: 'Operations' }).waitFor();
    await page.locator('[data-stat="throughput"] .stat-value').waitFor();
    expect(Number(await page.locator('[data-stat="throughput"] .stat-value').textContent())).toBeGreaterThanOrEqual(1);
    await page.getByRole('heading', { name: /Dead-letter queue/ }).waitFor();
    await screenshot(page, 'operations');
    expect(pageErrors).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it('keeps a client out of Operations: no link, and the page says why', async () => {
    const page = await openConsole(PHONE);
    await signIn(page, clientUser);
    expect(await page.getByRole('link', { name: 'Operations' }).count()).toBe(0);
    // At 390 px the jobs are cards: no sideways scrolling.
    await page.locator(`tr[data-job-id="${clientJobId}"] td[data-label="Progress"]`).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, 'jobs-phone');
    await page.locator(`tr[data-job-id="${clientJobId}"] td[data-label="Robot"]`).click();
    await page.locator('tr[data-artifact="snapshot.pdf"]').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, 'job-detail-phone');
    await page.goto(`${outputs.ConsoleUrl}/#/ops`);
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Only administrators/);
  });
});
