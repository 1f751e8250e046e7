import { h } from './dom.js';

/** Statuses a job or item never leaves (core/job.ts TERMINAL_STATUSES). */
export const TERMINAL_STATUSES = ['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED', 'TIMED_OUT'];
export const JOB_STATUSES = ['QUEUED', 'RUNNING', ...TERMINAL_STATUSES];

export const isTerminal = (status) => TERMINAL_STATUSES.includes(status);

/** "Timed out" for TIMED_OUT, "Running" for RUNNING. */
export function statusLabel(status) {
  const words = status.replace(/_/g, ' ').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function statusBadge(status) {
  return h('span', { class: `badge status-${status.toLowerCase().replace(/_/g, '-')}`, dataset: { status } }, statusLabel(status));
}

/** An error message block; `error` is an Error (ApiError, AuthError) or a string. */
export function errorBanner(error, { title } = {}) {
  const message = typeof error === 'string' ? error : error.message;
  const code = typeof error === 'string' ? undefined : error.code;
  return h('div', { class: 'banner error', role: 'alert' }, title ? h('strong', {}, title, ' ') : null, message, code ? h('code', { class: 'error-code' }, code) : null);
}

/**
 * Runs `refresh` again after `intervalMs` while `wanted()` holds, skipping ticks while the tab
 * is hidden. stop() when the view goes away.
 */
export function autoRefresh(refresh, wanted, intervalMs = 3000) {
  let timer;
  let stopped = false;
  const tick = async () => {
    timer = undefined;
    if (stopped) return;
    if (!document.hidden) await refresh().catch(() => undefined);
    schedule();
  };
  const schedule = () => {
    if (!stopped && !timer && wanted()) timer = setTimeout(tick, intervalMs);
  };
  return {
    schedule,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * A short, readable summary of a job input for the list: "30 invoices" for a list of items (the
 * input's longest array of texts), else its URL or first text value.
 */
export function inputSummary(input) {
  if (!input || typeof input !== 'object') return '';
  const lists = Object.entries(input).filter(([, value]) => Array.isArray(value) && value.length > 0 && value.every((entry) => typeof entry === 'string'));
  const [name, list] = lists.sort(([, a], [, b]) => b.length - a.length)[0] ?? [];
  if (list && !(name === 'formats' && lists.length === 1 && typeof input.url === 'string')) {
    return `${list.length} ${list.length === 1 ? name.replace(/s$/, '') : name}`;
  }
  const text = typeof input.url === 'string' ? input.url : Object.values(input).find((value) => typeof value === 'string');
  return text ?? '';
}

/** A progress bar with its counts in words (job.progress of the API), or null for jobs without items. */
export function progressBar(progress, { detailed = false } = {}) {
  if (!progress || !progress.total) return null;
  const done = progress.succeeded + progress.failed;
  const percent = Math.round((done / progress.total) * 100);
  const text = `${done} of ${progress.total} items` + (progress.failed ? ` (${progress.failed} failed)` : '');
  const extra = detailed
    ? [progress.itemsPerMinute ? `${progress.itemsPerMinute} items/min` : null, progress.etaSeconds !== undefined ? `about ${formatSeconds(progress.etaSeconds)} left` : null].filter(Boolean).join(' · ')
    : '';
  return h(
    'div',
    { class: 'progress' },
    h('progress', { max: String(progress.total), value: String(done), 'aria-label': `Progress: ${text}`, dataset: { done: String(done), total: String(progress.total) } }),
    h('span', { class: 'progress-text' }, `${percent}% · ${text}`, extra ? ` · ${extra}` : ''),
  );
}

export function formatSeconds(seconds) {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
