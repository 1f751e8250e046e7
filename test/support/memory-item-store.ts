import type { ItemArtifact, ItemPage, ItemStatus, ItemStore, JobItem } from '../../core/items';
import { isItemSettled } from '../../core/items';
import type { JobError } from '../../core/job';

/** In-memory ItemStore with the adapter's rules (submission order, no overwritten success), for unit tests. */
export class MemoryItemStore implements ItemStore {
  readonly items = new Map<string, JobItem>();

  /** Test setup: puts items as they would be after a run. */
  seed(...items: JobItem[]): this {
    for (const item of items) this.items.set(`${item.jobId}\n${item.key}`, structuredClone(item));
    return this;
  }

  async ensureItems(jobId: string, keys: readonly string[], now: string): Promise<void> {
    keys.forEach((key, position) => {
      if (!this.items.has(`${jobId}\n${key}`)) this.seed({ jobId, key, position, status: 'PENDING', attempts: 0, updatedAt: now });
    });
  }

  async get(jobId: string, key: string): Promise<JobItem | undefined> {
    const item = this.items.get(`${jobId}\n${key}`);
    return item && structuredClone(item);
  }

  async getMany(jobId: string, keys: readonly string[]): Promise<Map<string, JobItem>> {
    const found = new Map<string, JobItem>();
    for (const key of keys) {
      const item = this.items.get(`${jobId}\n${key}`);
      if (item) found.set(key, structuredClone(item));
    }
    return found;
  }

  async list(jobId: string, query: { limit: number; nextToken?: string; status?: ItemStatus }): Promise<ItemPage> {
    const all = [...this.items.values()]
      .filter((item) => item.jobId === jobId && (!query.status || item.status === query.status))
      .sort((a, b) => a.position - b.position);
    const start = query.nextToken ? Number(query.nextToken) : 0;
    const next = start + query.limit;
    return { items: all.slice(start, next).map((item) => structuredClone(item)), ...(next < all.length ? { nextToken: String(next) } : {}) };
  }

  async beginItem(jobId: string, key: string, now: string): Promise<JobItem | undefined> {
    const item = this.items.get(`${jobId}\n${key}`);
    if (!item || isItemSettled(item)) return undefined;
    Object.assign(item, { attempts: item.attempts + 1, updatedAt: now });
    return structuredClone(item);
  }

  async markSucceeded(jobId: string, key: string, artifact: ItemArtifact | undefined, now: string): Promise<ItemStatus | undefined> {
    const item = this.items.get(`${jobId}\n${key}`);
    if (!item || item.status === 'SUCCEEDED') return undefined;
    const previous = item.status;
    Object.assign(item, { status: 'SUCCEEDED', updatedAt: now, ...(artifact ? { artifact } : {}), error: undefined, evidence: undefined });
    return previous;
  }

  async markFailed(jobId: string, key: string, error: JobError, evidence: readonly ItemArtifact[], now: string): Promise<ItemStatus | undefined> {
    const item = this.items.get(`${jobId}\n${key}`);
    if (!item || item.status === 'SUCCEEDED') return undefined;
    const previous = item.status;
    Object.assign(item, { status: 'FAILED', error, evidence: [...evidence], updatedAt: now });
    return previous;
  }
}

export function makeItem(overrides: Partial<JobItem> & Pick<JobItem, 'key'>): JobItem {
  return { jobId: '00000000-0000-4000-8000-000000000001', position: 0, status: 'PENDING', attempts: 0, updatedAt: '2026-11-23T10:00:00.000Z', ...overrides };
}
