import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sparticuzChromium from '@sparticuz/chromium';
import { chromium, type Browser, type BrowserContext, type BrowserServer, type Page } from 'playwright-core';
import { guardContextEgress, type EgressPolicy } from './egress-route';

export interface WorkerBrowserOptions {
  /** A Chromium binary; unset means @sparticuz/chromium's bundled one. */
  executablePath?: string;
  /** How long close() and a job's context close may take before the process is killed. */
  closeTimeoutMs?: number;
  /** Default timeout of every page action, so a robot cannot wait forever. */
  actionTimeoutMs?: number;
}

/**
 * A browser context of its own, behind the egress guard, with its first page; more pages of the
 * same context (same cookies: one signed-in portal session) on demand. close() discards everything.
 */
export interface JobSession {
  page: Page;
  /** Another page of the same context. */
  newPage(): Promise<Page>;
  /** Closes `page` and opens a fresh one in its place: a page's renderer grows with every page it loaded. */
  replacePage(page: Page): Promise<Page>;
  /**
   * Starts recording a Playwright trace (screenshots + DOM snapshots) for one item's try, in
   * sessions opened with `traceItems`. A trace covers the whole context, so one item at a time:
   * false (nothing recorded) when tracing is off or another item's trace is running.
   */
  startItemTrace(title: string): Promise<boolean>;
  /** Ends the running trace: its zip when `keep` (a failed item's evidence), nothing otherwise. */
  stopItemTrace(keep: boolean): Promise<Uint8Array | undefined>;
  /** The values of the context's cookies now (the portal session among them): never shown in evidence. */
  cookieValues(): Promise<string[]>;
  close(): Promise<void>;
}

export interface SessionOptions {
  /** Items may record a trace (startItemTrace); the runtime does so only for retried tries. */
  traceItems?: boolean;
}

/** What the worker needs from the browser (and what unit tests fake). */
export interface JobSessions {
  open(policy: EgressPolicy, options?: SessionOptions): Promise<JobSession>;
}

/**
 * Chromium never reaches the network itself: every request is fulfilled by the egress guard,
 * and anything that would bypass routing (preconnects, WebRTC, WebSockets) meets a proxy that
 * does not exist. `<-loopback>` stops Chromium's implicit proxy bypass for loopback.
 */
const FAIL_CLOSED_PROXY_ARGS = [
  '--proxy-server=http://127.0.0.1:9',
  '--proxy-bypass-list=<-loopback>',
  '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
];

/**
 * Flags of @sparticuz/chromium a shared, multi-tenant browser must not run with:
 * --single-process (closing a context would kill the browser) and the ones that switch off
 * the same-origin policy between the pages of different sites.
 */
const DROPPED_SPARTICUZ_ARGS = new Set(['--single-process', '--disable-web-security', '--allow-running-insecure-content']);

/**
 * One Chromium per worker process, launched on first use and again after it disconnects
 * (crash, kill). Launched as a BrowserServer so that a hanging close can be ended with SIGKILL;
 * Playwright removes the profile and download directories when the process exits.
 */
export class WorkerBrowser implements JobSessions {
  private running?: Promise<RunningBrowser>;
  private readonly closeTimeoutMs: number;
  private readonly actionTimeoutMs: number;

  constructor(private readonly options: WorkerBrowserOptions = {}) {
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.actionTimeoutMs = options.actionTimeoutMs ?? 30_000;
  }

  async open(policy: EgressPolicy, options: SessionOptions = {}): Promise<JobSession> {
    const running = this.ensureRunning();
    const context = await (await running).browser.newContext({ acceptDownloads: true, serviceWorkers: 'block' });
    // Trace zips pass through here on their way to S3; removed with the session.
    const scratch = await mkdtemp(path.join(tmpdir(), 'roboport-job-'));
    const close = async () => {
      await this.closeContext(context, running);
      await rm(scratch, { recursive: true, force: true });
    };
    try {
      context.setDefaultTimeout(this.actionTimeoutMs);
      await guardContextEgress(context, policy);
      const page = await context.newPage();
      const cookieValues = async () => (await context.cookies()).map((cookie) => cookie.value);
      const newPage = () => context.newPage();
      const replacePage = async (old: Page) => {
        await old.close().catch(() => undefined);
        return context.newPage();
      };
      return { page, newPage, replacePage, close, cookieValues, ...itemTracing(context, scratch, options.traceItems === true) };
    } catch (error) {
      await close();
      throw error;
    }
  }

  /** Closes the browser gracefully, or kills it once the deadline passes. */
  async close(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.forget(running);
    const server = await running.then(({ server }) => server).catch(() => undefined);
    if (server && !(await withinDeadline(server.close(), this.closeTimeoutMs))) await server.kill();
  }

  private ensureRunning(): Promise<RunningBrowser> {
    if (!this.running) {
      const launching: Promise<RunningBrowser> = this.launch(() => this.forget(launching));
      launching.catch(() => this.forget(launching));
      this.running = launching;
    }
    return this.running;
  }

  /** Only forgets `running` if it is still the current browser: a newer one may have replaced it. */
  private forget(running: Promise<RunningBrowser>): void {
    if (this.running === running) this.running = undefined;
  }

  private async launch(onDisconnected: () => void): Promise<RunningBrowser> {
    const server = await chromium.launchServer({
      executablePath: this.options.executablePath ?? (await sparticuzChromium.executablePath()),
      args: [...sparticuzChromium.args.filter((arg) => !DROPPED_SPARTICUZ_ARGS.has(arg)), ...FAIL_CLOSED_PROXY_ARGS],
      headless: true,
      // The control endpoint must never be reachable from outside this host.
      host: '127.0.0.1',
      // The worker's own signal handler drains first and closes the browser last (main.ts): Playwright's
      // default would kill Chromium under the running jobs at SIGTERM, failing their items instead of
      // handing their messages back.
      handleSIGTERM: false,
      handleSIGINT: false,
      handleSIGHUP: false,
    });
    try {
      const browser = await chromium.connect(server.wsEndpoint());
      browser.on('disconnected', onDisconnected);
      return { server, browser };
    } catch (error) {
      await server.kill();
      throw error;
    }
  }

  /** A context that will not close means a wedged browser: kill it, the next job relaunches. */
  private async closeContext(context: BrowserContext, running: Promise<RunningBrowser>): Promise<void> {
    if (await withinDeadline(context.close(), this.closeTimeoutMs)) return;
    this.forget(running);
    await (await running).server.kill();
  }
}

/**
 * Tracing started and stopped around the tries that want it, so that untraced items pay nothing
 * (a running trace screenshots and snapshots every action); a discarded trace costs no file.
 */
function itemTracing(context: BrowserContext, scratch: string, enabled: boolean): Pick<JobSession, 'startItemTrace' | 'stopItemTrace'> {
  let traces = 0;
  let running = false;
  return {
    async startItemTrace(title) {
      if (!enabled || running) return false;
      running = true;
      try {
        await context.tracing.start({ screenshots: true, snapshots: true, title });
      } catch (error) {
        running = false;
        throw error;
      }
      return true;
    },
    async stopItemTrace(keep) {
      if (!running) return undefined;
      running = false;
      if (!keep) {
        await context.tracing.stop();
        return undefined;
      }
      const file = path.join(scratch, `trace-${++traces}.zip`);
      await context.tracing.stop({ path: file });
      try {
        return await readFile(file);
      } finally {
        await rm(file, { force: true });
      }
    },
  };
}

interface RunningBrowser {
  server: BrowserServer;
  browser: Browser;
}

/** true when `work` settled before the deadline (a rejection counts as settled). */
async function withinDeadline(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([work.then(() => true, () => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
