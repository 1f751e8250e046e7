import { h, replaceChildren } from './dom.js';
import { markFieldError, schemaForm } from './schema-form.js';
import { errorBanner } from './ui.js';

/**
 * Submitting a job: pick a robot, fill the form generated from its input JSON Schema (or edit
 * the input as raw JSON), optionally a callback URL. Field errors of a 400 appear next to their
 * fields. One Idempotency-Key per distinct submission, so a double click or a retry after a
 * network failure never creates a second job.
 */
export function submitView({ api, navigate }, params) {
  let robots = [];
  let form;
  let mode = 'form';
  let lastAttempt;

  const robotSelect = h('select', { id: 'robot', required: true, onchange: () => selectRobot(robotSelect.value) });
  const robotError = h('p', { class: 'field-error', id: 'robot-error', role: 'alert', hidden: true });
  const description = h('p', { class: 'hint robot-description' });
  const fieldsHost = h('div', { class: 'fields' });
  const jsonEditor = h('textarea', { id: 'input-json', class: 'code', rows: 14, spellcheck: 'false', hidden: true, 'aria-label': 'Input as JSON' });
  const formTab = h('button', { type: 'button', class: 'segment', 'aria-pressed': 'true', onclick: () => switchMode('form') }, 'Form');
  const jsonTab = h('button', { type: 'button', class: 'segment', 'aria-pressed': 'false', onclick: () => switchMode('json') }, 'JSON');
  const callbackUrl = h('input', { id: 'callback-url', type: 'url', placeholder: 'https://example.com/hooks/roboport', autocomplete: 'off', spellcheck: 'false' });
  const callbackError = h('p', { class: 'field-error', id: 'callback-url-error', role: 'alert', hidden: true });
  const message = h('div', { class: 'messages' });
  const submitButton = h('button', { type: 'submit', class: 'button primary' }, 'Submit job');

  const element = h(
    'section',
    { class: 'panel narrow', 'aria-labelledby': 'submit-title' },
    h('a', { class: 'back', href: '#/jobs' }, '← All jobs'),
    h('div', { class: 'panel-header' }, h('h1', { id: 'submit-title' }, 'New job')),
    h(
      'form',
      { class: 'form', novalidate: true, onsubmit: (event) => (event.preventDefault(), submit()) },
      h('div', { class: 'field' }, h('label', { for: 'robot' }, 'Robot'), robotSelect, description, robotError),
      h(
        'fieldset',
        { class: 'input-group' },
        h('legend', {}, 'Input'),
        h('div', { class: 'segmented', role: 'group', 'aria-label': 'Edit input as' }, formTab, jsonTab),
        fieldsHost,
        jsonEditor,
      ),
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'callback-url' }, 'Callback URL ', h('span', { class: 'optional' }, '(optional)')),
        callbackUrl,
        h('p', { class: 'hint' }, 'Roboport calls this URL when the job finishes.'),
        callbackError,
      ),
      message,
      h('div', { class: 'form-actions' }, submitButton, h('a', { class: 'button ghost', href: '#/jobs' }, 'Cancel')),
    ),
  );

  async function load() {
    try {
      ({ robots } = await api.listRobots());
      replaceChildren(robotSelect, robots.map((robot) => h('option', { value: robot.name }, robot.name)));
      const wanted = params.get('robot');
      selectRobot(robots.some((robot) => robot.name === wanted) ? wanted : robots[0]?.name);
    } catch (error) {
      replaceChildren(message, errorBanner(error, { title: 'Could not load the robots.' }));
    }
  }

  function selectRobot(name) {
    const robot = robots.find((candidate) => candidate.name === name);
    robotSelect.value = name ?? '';
    description.textContent = robot ? `${robot.description ?? ''}${robot.version ? ` (version ${robot.version})` : ''}` : '';
    form = schemaForm(robot?.inputSchema ?? {});
    replaceChildren(fieldsHost, form.element);
    jsonEditor.value = JSON.stringify(form.read().value, null, 2);
    clearErrors();
  }

  /** Carries the input across: form → JSON always; JSON → form only if it fits the form. */
  function switchMode(next) {
    if (next === mode) return;
    clearErrors();
    if (next === 'json') {
      jsonEditor.value = JSON.stringify(form.read().value, null, 2);
    } else {
      try {
        form.write(JSON.parse(jsonEditor.value || '{}'));
      } catch (error) {
        replaceChildren(message, errorBanner(`${error.message}. Fix the JSON or keep editing it as JSON.`, { title: 'Cannot show this input as a form.' }));
        return;
      }
    }
    mode = next;
    fieldsHost.hidden = mode !== 'form';
    jsonEditor.hidden = mode !== 'json';
    formTab.setAttribute('aria-pressed', String(mode === 'form'));
    jsonTab.setAttribute('aria-pressed', String(mode === 'json'));
  }

  function readInput() {
    if (mode === 'form') return form.read();
    try {
      return { value: JSON.parse(jsonEditor.value || '{}'), errors: [] };
    } catch (error) {
      return { value: undefined, errors: [{ field: 'input', message: `is not valid JSON (${error.message})` }] };
    }
  }

  async function submit() {
    clearErrors();
    const input = readInput();
    if (input.errors.length) return showFieldErrors(input.errors.map(({ field, message }) => ({ field: field === 'input' ? field : `input.${field}`, message })));
    const submission = { robot: robotSelect.value, input: input.value, ...(callbackUrl.value.trim() ? { callbackUrl: callbackUrl.value.trim() } : {}) };
    const body = JSON.stringify(submission);
    if (lastAttempt?.body !== body) lastAttempt = { body, key: crypto.randomUUID() };

    submitButton.disabled = true;
    submitButton.textContent = 'Submitting…';
    try {
      const job = await api.submitJob(submission, lastAttempt.key);
      navigate(`#/jobs/${encodeURIComponent(job.jobId)}`);
    } catch (error) {
      const fields = error.fields ?? [];
      replaceChildren(message, errorBanner(fields.length ? { message: 'Check the fields marked below.', code: error.code } : error, { title: 'The job was not submitted.' }));
      showFieldErrors(fields);
    } finally {
      submitButton.disabled = false;
      submitButton.textContent = 'Submit job';
    }
  }

  /** Places each `{ field: 'input.url' }` next to its control; the rest are listed together. */
  function showFieldErrors(fields) {
    const unplaced = [];
    for (const { field, message: text } of fields) {
      const [head, name] = String(field).split('.');
      if (head === 'robot') markFieldError(robotSelect, robotError, text);
      else if (head === 'callbackUrl') markFieldError(callbackUrl, callbackError, text);
      else if (head === 'input' && name && mode === 'form' && form.has(name)) form.showError(name, text);
      else unplaced.push(`${field}: ${text}`);
    }
    if (unplaced.length) message.append(h('ul', { class: 'banner error field-list', role: 'alert' }, unplaced.map((line) => h('li', {}, line))));
    element.querySelector('.invalid input, .invalid select, .invalid textarea')?.focus();
  }

  function clearErrors() {
    replaceChildren(message);
    form?.clearErrors();
    markFieldError(robotSelect, robotError, undefined);
    markFieldError(callbackUrl, callbackError, undefined);
  }

  void load();
  return { element, title: 'New job', dispose: () => undefined };
}
