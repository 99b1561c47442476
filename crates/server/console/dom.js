// Element building without innerHTML: every server-provided string lands as text, never markup.

/** Builds an element: attrs (on* keys become listeners; true/false toggle boolean attributes). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form control: `control` gets the id the label points at. */
export function field(label, control, hint) {
  const id = control.id || `f-${control.name || Math.random().toString(36).slice(2)}`;
  control.id = id;
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  const inline = control.type === 'checkbox';
  return h('div', { class: inline ? 'field inline' : 'field' },
    inline ? [control, h('label', { for: id }, label)] : [h('label', { for: id }, label), control],
    hint ? h('span', { class: 'hint', id: hintId }, hint) : null);
}

/** A <select> from [value, text] pairs. */
export function select(name, options, selected) {
  return h('select', { name },
    options.map(([value, text]) => h('option', { value, selected: value === selected }, text)));
}

/** Re-renders `container` and puts focus back on the element with the same data-focus key. */
export function refreshKeepingFocus(container, render) {
  const active = document.activeElement;
  const key = container.contains(active) ? active?.dataset?.focus : undefined;
  render();
  if (key) container.querySelector(`[data-focus="${CSS.escape(key)}"]`)?.focus();
}

/** An API error as the user sees it: the OMS error_msg, with the code for reference. */
export function errorBox(err) {
  const code = err?.code && !String(err.code).startsWith('HTTP') ? ` (${err.code})` : '';
  return h('p', { class: 'error', role: 'alert' }, `${err?.message ?? err}${code}`);
}

/** A short message in the page's live region (announced by screen readers). */
export function flash(text, tone = 'notice') {
  const box = document.getElementById('flash');
  if (!box) return;
  fill(box, text ? h('p', { class: tone }, text) : null);
}
