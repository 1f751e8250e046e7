import { h } from './dom.js';

/**
 * A form generated from a robot's input JSON Schema (an object schema). Supported field kinds:
 * enum → select, string (format uri → URL input), number/integer, boolean, array of an enum →
 * checkboxes, array of strings → textarea one value per line; anything else → a JSON textarea.
 *
 * read() returns `{ value, errors }`: errors are the fields the form itself could not parse, in
 * the API's shape (`{ field, message }` with the field's name), so both kinds show the same way.
 */
export function schemaForm(schema, { idPrefix = 'input' } = {}) {
  const properties = Object.entries(schema?.properties ?? {});
  const required = new Set(schema?.required ?? []);
  const fields = new Map(properties.map(([name, property]) => [name, createField(name, property, required.has(name), `${idPrefix}-${name}`)]));

  const element = h('div', { class: 'schema-form' }, [...fields.values()].map((field) => field.element));
  if (!fields.size) element.append(h('p', { class: 'hint' }, 'This robot takes no input fields. Use JSON to send anything else.'));

  return {
    element,
    /** Field names this form knows: to tell a field error it can place from one it cannot. */
    has: (name) => fields.has(name),
    read() {
      const value = {};
      const errors = [];
      for (const [name, field] of fields) {
        try {
          const fieldValue = field.read();
          if (fieldValue !== undefined) value[name] = fieldValue;
        } catch (error) {
          errors.push({ field: name, message: error.message });
        }
      }
      return { value, errors };
    },
    /** Fills the fields from an input object; refuses keys the schema does not describe. */
    write(value) {
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('The input must be a JSON object');
      const unknown = Object.keys(value).filter((name) => !fields.has(name));
      if (unknown.length) throw new Error(`The form has no field for: ${unknown.join(', ')}`);
      for (const [name, field] of fields) field.write(value[name]);
    },
    showError(name, message) {
      fields.get(name)?.showError(message);
    },
    clearErrors() {
      for (const field of fields.values()) field.showError(undefined);
    },
  };
}

function createField(name, property, isRequired, id) {
  const kind = fieldKind(property);
  const control = CONTROLS[kind](property, id);
  const error = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true });
  // The asterisk is for the eye; assistive technology reads aria-required instead.
  const label = h(kind === 'choices' ? 'legend' : 'label', kind === 'choices' ? {} : { for: id }, property.title ?? humanize(name), isRequired ? h('span', { class: 'required', 'aria-hidden': 'true' }, ' *') : null);
  if (isRequired) control.element.setAttribute('aria-required', 'true');
  const description = property.description?.replace(/([^.!?])$/, '$1.');
  const hint = [description, kind === 'lines' ? 'One value per line.' : null, kind === 'json' ? 'JSON.' : null].filter(Boolean).join(' ');
  const element = h(
    kind === 'choices' ? 'fieldset' : 'div',
    { class: `field field-${kind}`, dataset: { field: name } },
    label,
    control.element,
    hint ? h('p', { class: 'hint' }, hint) : null,
    error,
  );
  control.write(property.default);
  return {
    element,
    read: () => control.read(isRequired),
    write: (value) => control.write(value ?? property.default),
    showError: (message) => markFieldError(control.element, error, message),
  };
}

/** Shows (or clears, with no message) an error under a control and marks its `.field` invalid. */
export function markFieldError(control, errorElement, message) {
  errorElement.textContent = message ?? '';
  errorElement.hidden = !message;
  control.closest('.field')?.classList.toggle('invalid', Boolean(message));
  control.toggleAttribute('aria-invalid', Boolean(message));
  if (message) control.setAttribute('aria-describedby', errorElement.id);
}

function fieldKind(property) {
  const type = Array.isArray(property.type) ? property.type.find((t) => t !== 'null') : property.type;
  if (Array.isArray(property.enum)) return 'select';
  if (type === 'string') return 'text';
  if (type === 'number' || type === 'integer') return 'number';
  if (type === 'boolean') return 'boolean';
  if (type === 'array' && Array.isArray(property.items?.enum)) return 'choices';
  if (type === 'array' && property.items?.type === 'string') return 'lines';
  return 'json';
}

const CONTROLS = {
  select(property, id) {
    const element = h('select', { id }, h('option', { value: '' }, '—'), property.enum.map((option) => h('option', { value: String(option) }, String(option))));
    return {
      element,
      read: () => (element.value === '' ? undefined : property.enum.find((option) => String(option) === element.value)),
      write: (value) => (element.value = value === undefined ? '' : String(value)),
    };
  },
  text(property, id) {
    const type = property.format === 'uri' ? 'url' : property.format === 'email' ? 'email' : 'text';
    const element = h('input', { id, type, maxlength: property.maxLength, placeholder: type === 'url' ? 'https://' : undefined, autocomplete: 'off', spellcheck: false });
    return {
      element,
      read: () => (element.value === '' ? undefined : element.value.trim()),
      write: (value) => (element.value = value ?? ''),
    };
  },
  number(property, id) {
    const element = h('input', { id, type: 'number', min: property.minimum, max: property.maximum, step: property.type === 'integer' ? 1 : 'any' });
    return {
      element,
      read() {
        if (element.value === '') return undefined;
        const value = Number(element.value);
        if (!Number.isFinite(value)) throw new Error('must be a number');
        return value;
      },
      write: (value) => (element.value = value ?? ''),
    };
  },
  boolean(_property, id) {
    const element = h('input', { id, type: 'checkbox' });
    return { element, read: () => element.checked, write: (value) => (element.checked = value === true) };
  },
  choices(property, id) {
    const boxes = property.items.enum.map((option, index) => h('input', { type: 'checkbox', id: `${id}-${index}`, value: String(option) }));
    const element = h(
      'div',
      { class: 'choices', id },
      boxes.map((box, index) => h('label', { class: 'choice', for: box.id }, box, String(property.items.enum[index]))),
    );
    return {
      element,
      // The selection is explicit: an empty one is sent as [] so the API can say it is not enough.
      read: () => property.items.enum.filter((_option, index) => boxes[index].checked),
      write(value) {
        const selected = new Set((Array.isArray(value) ? value : []).map(String));
        for (const box of boxes) box.checked = selected.has(box.value);
      },
    };
  },
  lines(_property, id) {
    const element = h('textarea', { id, rows: 5, spellcheck: false });
    return {
      element,
      read(isRequired) {
        const lines = element.value.split('\n').map((line) => line.trim()).filter(Boolean);
        return lines.length || isRequired ? lines : undefined;
      },
      write: (value) => (element.value = Array.isArray(value) ? value.join('\n') : ''),
    };
  },
  json(_property, id) {
    const element = h('textarea', { id, rows: 6, class: 'code', spellcheck: false });
    return {
      element,
      read() {
        if (element.value.trim() === '') return undefined;
        try {
          return JSON.parse(element.value);
        } catch {
          throw new Error('is not valid JSON');
        }
      },
      write: (value) => (element.value = value === undefined ? '' : JSON.stringify(value, null, 2)),
    };
  },
};

const ACRONYMS = new Set(['url', 'urls', 'id', 'ids', 'api', 'pdf', 'png', 'csv', 'html', 'http']);

/** "callbackUrl" → "Callback URL", "max_pages" → "Max pages". */
function humanize(name) {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[\s_-]+/)
    .map((word) => word.toLowerCase())
    .map((word) => (ACRONYMS.has(word) ? word.toUpperCase().replace(/S$/, 's') : word));
  const sentence = words.join(' ');
  return sentence.charAt(0).toUpperCase() + sentence.slice(1);
}
