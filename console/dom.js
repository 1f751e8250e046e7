/**
 * DOM building without innerHTML: every string becomes a text node or an attribute value, so
 * data from the API (job input, error messages, file names) can never turn into markup.
 */

/**
 * h('a', { href, class: 'x', onclick }, 'text', childNode, [more], null)
 * Attributes starting with "on" become event listeners; `false`/null/undefined are skipped.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    // Properties, not attributes, for live state (a textarea's value, a checkbox's checked).
    else if (name === 'value' || (name in element && typeof value !== 'string')) element[name] = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

const SIZE_UNITS = ['B', 'KB', 'MB', 'GB'];

export function formatBytes(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${SIZE_UNITS[unit]}`;
}

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function formatTime(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTimeFormat.format(date);
}

/** "3 s", "2 min", "1 h 5 min" between two ISO timestamps. */
export function formatDuration(fromIso, toIso) {
  const ms = new Date(toIso).getTime() - new Date(fromIso).getTime();
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * A modal confirmation (native <dialog>): resolves true when the user confirms. Escape, the
 * cancel button and a click outside resolve false.
 */
export function confirmDialog({ title, message, confirmLabel, danger = false }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title' });
    // The content sits in a padded body: a click whose target is the dialog itself hit the backdrop.
    dialog.append(
      h(
        'div',
        { class: 'dialog-body' },
        h('h2', { id: 'dialog-title' }, title),
        h('p', {}, message),
        h(
          'div',
          { class: 'dialog-actions' },
          h('button', { type: 'button', class: 'button', onclick: () => dialog.close('cancel') }, 'Keep it'),
          h('button', { type: 'button', class: `button ${danger ? 'danger' : 'primary'}`, onclick: () => dialog.close('confirm') }, confirmLabel),
        ),
      ),
    );
    dialog.addEventListener('click', (event) => {
      if (event.target === dialog) dialog.close('cancel');
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'confirm');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
