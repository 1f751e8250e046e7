import { confirmDialog, formatBytes, formatDuration, formatTime, h, replaceChildren } from './dom.js';
import { autoRefresh, errorBanner, inputSummary, isTerminal, JOB_STATUSES, progressBar, statusBadge, statusLabel } from './ui.js';

const PAGE_SIZE = 25;

/**
 * The jobs list: a status filter, "load more" paging with nextToken, and a refresh every few
 * seconds while a listed job is still queued or running. Admins see every owner's jobs (the API
 * decides what a caller sees).
 */
export function jobsView({ api, session, navigate }, params) {
  const isAdmin = Boolean(session.user?.isAdmin);
  const status = JOB_STATUSES.includes(params.get('status')) ? params.get('status') : '';
  let jobs = [];
  let nextToken;
  let pagesLoaded = 1;

  const filter = h(
    'select',
    { id: 'status-filter', onchange: () => navigate(filter.value ? `#/jobs?status=${filter.value}` : '#/jobs') },
    h('option', { value: '' }, 'All statuses'),
    JOB_STATUSES.map((value) => h('option', { value }, statusLabel(value))),
  );
  filter.value = status;
  const live = h('span', { class: 'live', hidden: true }, h('span', { class: 'pulse' }), 'Live');
  const message = h('div', { class: 'messages' });
  const body = h('tbody');
  const loading = h('p', { class: 'loading' }, 'Loading jobs…');
  const table = h(
    'table',
    { class: 'table jobs-table cards', hidden: true },
    h('thead', {}, h('tr', {}, jobColumns(isAdmin).map((title) => h('th', { scope: 'col' }, title)))),
    body,
  );
  const empty = h('div', { class: 'empty', hidden: true }, h('p', {}, status ? `No ${statusLabel(status).toLowerCase()} jobs.` : 'No jobs yet.'), h('a', { class: 'button primary', href: '#/new' }, 'Submit a job'));
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => loadMore() }, 'Load more');
  const refreshButton = h('button', { type: 'button', class: 'button ghost', onclick: () => refresh() }, 'Refresh');

  const element = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'jobs-title' },
    h(
      'div',
      { class: 'panel-header' },
      h('h1', { id: 'jobs-title' }, 'Jobs'),
      h('div', { class: 'toolbar' }, live, h('label', { class: 'inline', for: 'status-filter' }, 'Status'), filter, refreshButton, h('a', { class: 'button primary', href: '#/new' }, 'New job')),
    ),
    message,
    loading,
    h('div', { class: 'table-wrap' }, table),
    empty,
    h('div', { class: 'panel-footer' }, more),
  );

  const poller = autoRefresh(() => refresh(), () => jobs.some((job) => !isTerminal(job.status)));

  /** Reloads as many pages as are shown, so a refresh neither drops nor duplicates rows. */
  async function refresh() {
    try {
      const fresh = [];
      let token;
      for (let page = 0; page < pagesLoaded; page++) {
        const result = await api.listJobs({ status, limit: PAGE_SIZE, nextToken: token });
        fresh.push(...result.jobs);
        token = result.nextToken;
        if (!token) break;
      }
      jobs = fresh;
      nextToken = token;
      render();
    } catch (error) {
      loading.remove();
      replaceChildren(message, errorBanner(error, { title: 'Could not load jobs.' }));
    }
    poller.schedule();
  }

  async function loadMore() {
    more.disabled = true;
    try {
      const result = await api.listJobs({ status, limit: PAGE_SIZE, nextToken });
      jobs = [...jobs, ...result.jobs];
      nextToken = result.nextToken;
      pagesLoaded++;
      render();
    } catch (error) {
      replaceChildren(message, errorBanner(error, { title: 'Could not load more jobs.' }));
    } finally {
      more.disabled = false;
    }
    poller.schedule();
  }

  function render() {
    loading.remove();
    replaceChildren(message);
    replaceChildren(body, jobs.map((job) => jobRow(job, isAdmin, navigate)));
    table.hidden = jobs.length === 0;
    empty.hidden = jobs.length > 0;
    more.hidden = !nextToken;
    live.hidden = !jobs.some((job) => !isTerminal(job.status));
  }

  void refresh();
  return { element, title: 'Jobs', dispose: () => poller.stop() };
}

function jobColumns(isAdmin) {
  return ['Status', 'Job', 'Robot', ...(isAdmin ? ['Owner'] : []), 'Input', 'Progress', 'Created', 'Duration'];
}

/** A whole row opens the job; its link keeps it reachable by keyboard. */
function jobRow(job, isAdmin, navigate) {
  const href = `#/jobs/${encodeURIComponent(job.jobId)}`;
  const summary = inputSummary(job.input);
  const labels = jobColumns(isAdmin);
  const cells = [
    h('td', {}, statusBadge(job.status)),
    h('td', {}, h('a', { href, class: 'mono job-link', title: job.jobId }, shortId(job.jobId))),
    h('td', {}, job.robot),
    ...(isAdmin ? [h('td', { class: 'mono truncate', title: job.owner ?? '' }, job.owner ?? '—')] : []),
    h('td', { class: 'truncate', title: summary }, summary),
    h('td', {}, progressBar(job.progress) ?? (isTerminal(job.status) ? '—' : statusLabel(job.status))),
    h('td', { class: 'nowrap', title: job.createdAt }, formatTime(job.createdAt)),
    h('td', { class: 'nowrap' }, job.startedAt ? formatDuration(job.startedAt, isTerminal(job.status) ? job.updatedAt : new Date().toISOString()) : '—'),
  ];
  cells.forEach((td, index) => td.setAttribute('data-label', labels[index]));
  return h(
    'tr',
    {
      class: 'clickable',
      dataset: { jobId: job.jobId, status: job.status },
      onclick: (event) => {
        if (!event.target.closest('a')) navigate(href);
      },
    },
    cells,
  );
}

/**
 * One job: status, attempts, error, artifacts with download links and checksums, work items
 * when the API has them, and the input. Cancel while it runs; retry once it failed, if the API
 * offers retries. Refreshes itself until the job is finished.
 */
export function jobDetailView({ api, navigate }, jobId) {
  let job;
  // One key per page view and scope: a second click replays the first retry instead of starting another.
  const retryKeys = { technical: crypto.randomUUID(), 'all-failed': crypto.randomUUID() };
  const content = h('div', { class: 'detail' }, h('p', { class: 'loading' }, 'Loading job…'));
  const message = h('div', { class: 'messages' });
  const actions = h('div', { class: 'toolbar' });
  const heading = h('h1', { id: 'job-title' }, 'Job ', h('span', { class: 'mono' }, shortId(jobId)));
  const itemsSection = api.has('GET /jobs/{jobId}/items') ? itemsPanel(api, jobId) : undefined;
  const element = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'job-title' },
    h('a', { class: 'back', href: '#/jobs' }, '← All jobs'),
    h('div', { class: 'panel-header' }, heading, actions),
    message,
    content,
  );
  const poller = autoRefresh(() => load(), () => job && !isTerminal(job.status));

  async function load() {
    try {
      job = await api.getJob(jobId);
      render();
      replaceChildren(message);
    } catch (error) {
      replaceChildren(message, errorBanner(error, { title: error.status === 404 ? 'Job not found.' : 'Could not load the job.' }));
      if (!job) replaceChildren(content);
    }
    poller.schedule();
  }

  function render() {
    replaceChildren(heading, 'Job ', h('span', { class: 'mono' }, shortId(job.jobId)), ' ', statusBadge(job.status));
    replaceChildren(actions, actionButtons());
    replaceChildren(
      content,
      h(
        'dl',
        { class: 'facts' },
        fact('Job ID', h('span', { class: 'mono selectable' }, job.jobId)),
        fact('Robot', job.robot),
        fact('Status', statusBadge(job.status)),
        fact('Attempts', String(job.attempts)),
        fact('Created', formatTime(job.createdAt)),
        fact('Updated', formatTime(job.updatedAt)),
        isTerminal(job.status) ? fact('Took', formatDuration(job.createdAt, job.updatedAt)) : null,
        job.progress ? fact('Progress', progressBar(job.progress, { detailed: true })) : null,
        job.retryOf ? fact('Retry of', h('a', { href: `#/jobs/${encodeURIComponent(job.retryOf)}`, class: 'mono' }, shortId(job.retryOf))) : null,
        job.retries?.length ? fact('Retried as', job.retries.map((id, i) => [i ? ', ' : '', h('a', { href: `#/jobs/${encodeURIComponent(id)}`, class: 'mono retry-link' }, shortId(id))])) : null,
        job.callbackUrl ? fact('Callback', h('span', { class: 'mono' }, job.callbackUrl)) : null,
        job.webhook ? fact('Webhook', webhookSummary(job.webhook)) : null,
      ),
      job.error ? errorPanel(job.error) : null,
      artifactsPanel(job.artifacts ?? [], isTerminal(job.status) && api.has('POST /jobs/{jobId}/archive') ? downloadAllButton() : null),
      itemsSection?.element,
      inputPanel(job.input),
    );
    if (isTerminal(job.status)) itemsSection?.load();
    else itemsSection?.load({ quiet: true });
  }

  /** Built on demand: the link is fresh for 15 minutes, so it is fetched at the click, not at page load. */
  function downloadAllButton() {
    return h('button', { type: 'button', class: 'button small', onclick: (event) => downloadAll(event.currentTarget) }, 'Download all (ZIP)');
  }

  async function downloadAll(button) {
    button.disabled = true;
    const label = button.textContent;
    button.textContent = 'Preparing ZIP…';
    try {
      const archive = await api.archiveJob(job.jobId);
      replaceChildren(message);
      const link = h('a', { href: archive.url, download: archive.name, class: 'download-all', hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (error) {
      replaceChildren(message, errorBanner(error, { title: 'Could not prepare the ZIP.' }));
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  function actionButtons() {
    const buttons = [];
    if (!isTerminal(job.status)) {
      buttons.push(h('button', { type: 'button', class: 'button danger', onclick: (event) => cancel(event.currentTarget) }, 'Cancel job'));
    }
    // Retry is offered for finished jobs that did not succeed, where the API has the route; the
    // API answers 409 with the reason when there is nothing to retry.
    // Technical failures by default: business failures (unknown invoices) would fail again.
    if (['FAILED', 'TIMED_OUT', 'CANCELLED', 'PARTIAL'].includes(job.status) && api.has('POST /jobs/{jobId}/retry')) {
      buttons.push(
        h('button', { type: 'button', class: 'button primary', onclick: (event) => retry(event.currentTarget, 'technical') }, 'Retry technical failures'),
        h('button', { type: 'button', class: 'button', onclick: (event) => retry(event.currentTarget, 'all-failed') }, 'Retry all failed'),
      );
    }
    return buttons;
  }

  async function cancel(button) {
    const confirmed = await confirmDialog({
      title: 'Cancel this job?',
      message: `Job ${job.jobId} stops at the robot's next checkpoint. Files already produced are kept.`,
      confirmLabel: 'Cancel job',
      danger: true,
    });
    if (confirmed) await act(button, () => api.cancelJob(job.jobId), 'Could not cancel the job.');
  }

  /** A retry is a new job (finished jobs never change): open it. */
  async function retry(button, scope) {
    await act(button, () => api.retryJob(job.jobId, retryKeys[scope], scope), 'Could not retry the job.', (retried) => navigate(`#/jobs/${encodeURIComponent(retried.jobId)}`));
  }

  async function act(button, call, failureTitle, onDone = (updated) => ((job = updated), render())) {
    button.disabled = true;
    try {
      onDone(await call());
      replaceChildren(message);
    } catch (error) {
      replaceChildren(message, errorBanner(error, { title: failureTitle }));
      // A 409 (say, cancel just after the job finished): show its current state.
      if (error.status === 409) await load();
    } finally {
      button.disabled = false;
    }
    poller.schedule();
  }

  void load();
  return { element, title: `Job ${shortId(jobId)}`, dispose: () => poller.stop() };
}

/** Big inputs (5,000 invoices) stay collapsed: the page must not grow 100,000 px tall. */
function inputPanel(input) {
  const text = JSON.stringify(input, null, 2);
  const big = text.length > 2000;
  return h(
    'details',
    { class: 'card input-card', open: !big },
    h('summary', {}, h('h2', { class: 'inline-heading' }, 'Input'), big ? h('span', { class: 'muted' }, ` ${inputSummary(input)} · ${Math.round(text.length / 1024)} KB, click to show`) : null),
    h('pre', { class: 'code json' }, text),
  );
}

function fact(term, ...description) {
  return h('div', { class: 'fact' }, h('dt', {}, term), h('dd', {}, ...description));
}

function webhookSummary(webhook) {
  const text = `${webhook.status.toLowerCase()} after ${webhook.attempts} attempt${webhook.attempts === 1 ? '' : 's'}`;
  return h('span', { title: webhook.lastError ?? '' }, text);
}

function errorPanel(error) {
  return h(
    'div',
    { class: `card error-card type-${String(error.type).toLowerCase()}` },
    h('h2', {}, 'Error'),
    h('p', { class: 'error-meta' }, h('span', { class: 'badge' }, error.type), ' ', h('code', {}, error.code)),
    h('p', { class: 'error-message' }, error.message),
    h('p', { class: 'hint' }, error.type === 'BUSINESS' ? 'A business error: the input or the target data needs attention; retrying as is will not help.' : 'A technical error: retrying may succeed.'),
  );
}

function artifactsPanel(artifacts, downloadAll) {
  return h(
    'div',
    { class: 'card' },
    h('div', { class: 'card-header' }, h('h2', {}, 'Files ', h('span', { class: 'count' }, String(artifacts.length))), downloadAll),
    artifacts.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'table artifacts-table cards' },
            h('thead', {}, h('tr', {}, ['Name', 'Type', 'Size', 'SHA-256'].map((title) => h('th', { scope: 'col' }, title)))),
            h('tbody', {}, artifacts.map(artifactRow)),
          ),
        )
      : h('p', { class: 'hint' }, 'No files yet.'),
  );
}

function artifactRow(artifact) {
  return h(
    'tr',
    { dataset: { artifact: artifact.name } },
    h('td', { 'data-label': 'Name' }, downloadLink(artifact)),
    h('td', { 'data-label': 'Type' }, artifact.contentType),
    h('td', { class: 'numeric nowrap', 'data-label': 'Size' }, formatBytes(artifact.size)),
    h('td', { 'data-label': 'SHA-256' }, h('code', { class: 'hash selectable', title: artifact.sha256 }, artifact.sha256)),
  );
}

/** A presigned link (short-lived: the page refetches the job for a fresh one). */
function downloadLink(file) {
  return file.url ? h('a', { href: file.url, class: 'download', target: '_blank', rel: 'noopener noreferrer' }, file.name) : h('span', {}, file.name);
}

/**
 * Work items of a job (GET /jobs/{jobId}/items), shown only when the job has any. A missing
 * route (404) hides the panel rather than failing the page.
 */
function itemsPanel(api, jobId) {
  let items = [];
  let nextToken;
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => fetchPage(nextToken, true) }, 'Load more items');
  const message = h('div', { class: 'messages' });
  const count = h('span', { class: 'count' });
  const element = h(
    'div',
    { class: 'card', hidden: true },
    h('h2', {}, 'Items ', count),
    message,
    h(
      'div',
      { class: 'table-wrap' },
      h('table', { class: 'table items-table cards' }, h('thead', {}, h('tr', {}, ['Item', 'Status', 'Attempts', 'Result', 'Error'].map((title) => h('th', { scope: 'col' }, title)))), body),
    ),
    more,
  );

  async function fetchPage(token, append, quiet = false) {
    try {
      const page = await api.listItems(jobId, { nextToken: token });
      items = append ? [...items, ...(page.items ?? [])] : (page.items ?? []);
      nextToken = page.nextToken;
      replaceChildren(body, items.map(itemRow));
      replaceChildren(count, String(items.length) + (nextToken ? '+' : ''));
      replaceChildren(message);
      more.hidden = !nextToken;
      element.hidden = items.length === 0;
    } catch (error) {
      if (error.status === 404 || quiet) return;
      element.hidden = false;
      replaceChildren(message, errorBanner(error, { title: 'Could not load the items.' }));
    }
  }

  return { element, load: ({ quiet } = {}) => fetchPage(undefined, false, quiet) };
}

function itemRow(item) {
  return h(
    'tr',
    { dataset: { item: item.key } },
    h('td', { class: 'mono', 'data-label': 'Item' }, item.key),
    h('td', { 'data-label': 'Status' }, statusBadge(item.status)),
    h('td', { class: 'numeric', 'data-label': 'Attempts' }, String(item.attempts ?? 0)),
    h('td', { 'data-label': 'Result' }, item.artifact ? downloadLink(item.artifact) : '—', item.evidence?.length ? h('div', { class: 'evidence' }, 'Evidence: ', item.evidence.map((file) => [downloadLink(file), ' '])) : null),
    h('td', { 'data-label': 'Error' }, item.error ? h('span', { title: item.error.message }, h('code', {}, item.error.code), ' ', item.error.message) : '—'),
  );
}

function shortId(jobId) {
  return jobId.length > 13 ? `${jobId.slice(0, 8)}…` : jobId;
}
