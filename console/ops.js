import { confirmDialog, formatTime, h, replaceChildren } from './dom.js';
import { autoRefresh, errorBanner, progressBar, statusBadge } from './ui.js';

/**
 * Operations (admins only; the API answers 403 to others): the robot queue and its DLQ, running
 * jobs, last hour's throughput, portal session slots, and a redrive of dead letters (one or all,
 * confirmed). Refreshes every few seconds while open.
 */
export function operationsView({ api, session }) {
  const message = h('div', { class: 'messages' });
  const summary = h('div', { class: 'stats' }, h('p', { class: 'loading' }, 'Loading operations…'));
  const inFlight = h('div', { class: 'card' });
  const slots = h('div', { class: 'card' });
  const deadLetters = h('div', { class: 'card', id: 'dead-letters' });
  const element = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'ops-title' },
    h('div', { class: 'panel-header' }, h('h1', { id: 'ops-title' }, 'Operations'), h('button', { type: 'button', class: 'button ghost', onclick: () => refresh() }, 'Refresh')),
    message,
    summary,
    deadLetters,
    inFlight,
    slots,
  );
  if (!session.user?.isAdmin) {
    replaceChildren(element, h('h1', { id: 'ops-title' }, 'Operations'), errorBanner('Only administrators can see operations.'));
    return { element, title: 'Operations', dispose() {} };
  }
  const poller = autoRefresh(() => refresh(), () => true, 5000);
  // A load failure's banner goes with the next good load; a redrive's outcome stays until the next action.
  let loadFailed = false;

  async function refresh() {
    try {
      const [overview, dlq] = await Promise.all([api.operationsOverview(), api.listDeadLetters()]);
      render(overview, dlq.messages);
      if (loadFailed) replaceChildren(message);
      loadFailed = false;
    } catch (error) {
      loadFailed = true;
      replaceChildren(message, errorBanner(error, { title: 'Could not load operations.' }));
    }
    poller.schedule();
  }

  function render(overview, letters) {
    const { robot, deadLetter } = overview.queues;
    const { throughput } = overview;
    replaceChildren(
      summary,
      stat('Queued messages', robot.visible, robot.oldestQueuedJobAgeSeconds !== undefined ? `oldest job waiting ${ageText(robot.oldestQueuedJobAgeSeconds)}` : 'none waiting', 'queue-visible'),
      stat('Taken by workers', robot.inFlight, 'messages in flight', 'queue-in-flight'),
      stat('Dead letters', deadLetter.visible + deadLetter.inFlight, deadLetter.inFlight ? `${deadLetter.inFlight} being reprocessed` : 'in the DLQ', 'dlq-depth'),
      stat('Finished, last hour', throughput.jobsFinished, `jobs · ${throughput.itemsFinished} items`, 'throughput'),
    );
    replaceChildren(deadLetters, h('div', { class: 'card-header' }, h('h2', {}, 'Dead-letter queue ', h('span', { class: 'count' }, String(letters.length))), letters.length ? h('button', { type: 'button', class: 'button', onclick: (event) => redrive(event.currentTarget) }, 'Redrive all') : null), letters.length ? list(letters.map(letterCard)) : h('p', { class: 'hint' }, 'No dead letters.'));
    replaceChildren(inFlight, h('h2', {}, 'Running jobs ', h('span', { class: 'count' }, String(overview.inFlight.length))), overview.inFlight.length ? list(overview.inFlight.map(runningCard)) : h('p', { class: 'hint' }, 'No job is running.'));
    replaceChildren(slots, h('h2', {}, 'Portal session slots'), overview.portalSlots.length ? list(overview.portalSlots.map(slotCard)) : h('p', { class: 'hint' }, 'No portal session is held.'));
  }

  function letterCard(letter) {
    return h(
      'li',
      { class: 'row-card', dataset: { messageId: letter.messageId, jobId: letter.jobId ?? '' } },
      h('div', { class: 'row-card-main' }, letter.jobId ? jobLink(letter.jobId) : h('span', { class: 'mono' }, letter.messageId), ' ', letter.job ? statusBadge(letter.job.status) : null, ' ', h('span', { class: 'muted' }, taskText(letter))),
      h('p', { class: 'row-card-text' }, letter.reason),
      h('p', { class: 'row-card-meta' }, `${letter.receiveCount} receives`, letter.sentAt ? ` · first sent ${formatTime(letter.sentAt)}` : '', letter.job ? ` · owner ${letter.job.owner} · ${letter.job.robot}` : ''),
      h('button', { type: 'button', class: 'button small', onclick: (event) => redrive(event.currentTarget, letter) }, 'Redrive'),
    );
  }

  async function redrive(button, letter) {
    const confirmed = await confirmDialog({
      title: letter ? 'Redrive this message?' : 'Redrive every dead letter?',
      message: letter
        ? `The message of job ${letter.jobId ?? letter.messageId} goes back to the robot queue; a worker resumes the job from its checkpoints.`
        : 'Every message in the dead-letter queue goes back to the robot queue; workers resume their jobs from their checkpoints.',
      confirmLabel: 'Redrive',
    });
    if (!confirmed) return;
    button.disabled = true;
    try {
      const { redriven } = await api.redriveDeadLetters(letter?.messageId);
      replaceChildren(message, h('div', { class: 'banner success', role: 'status' }, redriven.length ? `Redriven: ${redriven.length} message${redriven.length === 1 ? '' : 's'}.` : 'Nothing to redrive: the message is gone already.'));
      await refresh();
    } catch (error) {
      replaceChildren(message, errorBanner(error, { title: 'Could not redrive.' }));
    } finally {
      button.disabled = false;
    }
  }

  void refresh();
  return { element, title: 'Operations', dispose: () => poller.stop() };
}

function stat(label, value, note, id) {
  return h('div', { class: 'stat', dataset: { stat: id } }, h('div', { class: 'stat-value' }, String(value)), h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-note' }, note));
}

function list(items) {
  return h('ul', { class: 'row-cards' }, items);
}

function runningCard(job) {
  return h(
    'li',
    { class: 'row-card', dataset: { jobId: job.jobId } },
    h('div', { class: 'row-card-main' }, jobLink(job.jobId), ' ', statusBadge(job.status), ' ', h('span', { class: 'muted' }, job.robot)),
    h('p', { class: 'row-card-meta' }, `owner ${job.owner} · attempt ${job.attempts}`, job.lastAttemptRuntime ? ` on ${job.lastAttemptRuntime}` : '', job.startedAt ? ` · started ${formatTime(job.startedAt)}` : ''),
    progressBar(job.progress),
  );
}

function slotCard(host) {
  return h(
    'li',
    { class: 'row-card', dataset: { host: host.host } },
    h('div', { class: 'row-card-main' }, h('span', { class: 'mono' }, host.host), ' ', h('strong', {}, `${host.held} of ${host.cap}`), ' sessions held'),
    h('p', { class: 'row-card-meta' }, host.holders.map((holder, i) => [i ? ', ' : '', `slot ${holder.slot}: `, jobLink(holder.jobId)])),
  );
}

function jobLink(jobId) {
  return h('a', { href: `#/jobs/${encodeURIComponent(jobId)}`, class: 'mono', title: jobId }, `${jobId.slice(0, 8)}…`);
}

function taskText(letter) {
  if (letter.task === 'chunk') return `chunk ${letter.chunk}`;
  if (letter.task === 'finish') return 'finish step';
  return letter.task === 'job' ? 'whole job' : 'unreadable message';
}

function ageText(seconds) {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
