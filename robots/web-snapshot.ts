import type { Page } from 'playwright-core';
import * as z from 'zod';
import { staticEgressViolation } from '../core/egress-guard';
import { listEnv } from '../core/config';
import { ENV } from '../core/env-names';
import type { SimpleRobot } from '../core/robot';
import { navigate } from './navigation';

/** Read once: the submit handler validates input with this schema on every request. */
const egressAllowHosts = listEnv(ENV.egressAllowHosts);

const NAVIGATION_TIMEOUT_MS = 30_000;

const SNAPSHOT_FORMATS = ['pdf', 'png'] as const;
type SnapshotFormat = (typeof SNAPSHOT_FORMATS)[number];

const CAPTURES: Record<SnapshotFormat, { name: string; contentType: string; capture(page: Page): Promise<Uint8Array> }> = {
  pdf: { name: 'snapshot.pdf', contentType: 'application/pdf', capture: (page) => page.pdf({ format: 'A4', printBackground: true }) },
  png: { name: 'snapshot.png', contentType: 'image/png', capture: (page) => page.screenshot({ fullPage: true, type: 'png' }) },
};

const webSnapshotInput = z.strictObject({
  url: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .superRefine((url, ctx) => {
      const violation = staticEgressViolation(url, egressAllowHosts);
      if (violation) ctx.addIssue({ code: 'custom', message: `URL is not allowed: ${violation}` });
    })
    .describe('The http(s) page to capture'),
  formats: z
    .array(z.enum(SNAPSHOT_FORMATS))
    .min(1)
    .refine((formats) => new Set(formats).size === formats.length, 'formats must not repeat')
    .default(['pdf'])
    .describe('Files to produce: pdf (printed page) and/or png (full-page screenshot)'),
});

export type WebSnapshotInput = z.infer<typeof webSnapshotInput>;

export const webSnapshot: SimpleRobot<WebSnapshotInput> = {
  name: 'web-snapshot',
  version: '1.0.0',
  description: 'Opens a web page and saves it as PDF and/or a full-page PNG screenshot.',
  input: webSnapshotInput,
  async run({ page, log, saveArtifact }, { url, formats }) {
    const response = await navigate(page, url, { timeoutMs: NAVIGATION_TIMEOUT_MS });
    log.info('page loaded', { status: response?.status() });
    for (const format of formats) {
      const { name, contentType, capture } = CAPTURES[format];
      await saveArtifact(name, contentType, await capture(page));
    }
    return { status: 'SUCCEEDED' };
  },
};
