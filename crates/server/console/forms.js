// Forms: create a task or a group (choices from the region table), the credentials a start or
// retry needs (sent once, never stored), and the bandwidth-policy editor.

import { api } from './api.js';
import { errorBox, field, fill, flash, h, select } from './dom.js';

const OVERWRITE = [
  ['SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE', 'Overwrite if size or age differs (default)'],
  ['NO_OVERWRITE', 'Never overwrite'],
  ['CRC64_COMPARISON_OVERWRITE', 'Overwrite if CRC64 differs'],
  ['FULL_OVERWRITE', 'Always overwrite'],
];
const CHECK = [
  ['size_last_modified', 'Size and last modified (default)'],
  ['crc64', 'CRC64'],
  ['no_check', 'No check'],
];
const PRIORITY = [['', 'Default'], ['HIGH', 'High'], ['MEDIUM', 'Medium'], ['LOW', 'Low']];
const MIB = 1048576;
const MAX_WINDOWS = 5;

/** The region table as the API reports it: source vendors and their regions, destination regions. */
async function regionChoices() {
  const [sources, centers] = await Promise.all([
    api('GET', '/objectstorage/cloud-type?type=src'),
    api('GET', '/objectstorage/data-center'),
  ]);
  const regions = new Map();
  for (const vendor of centers ?? []) {
    regions.set(vendor.service_name, (vendor.region_list ?? []).map((r) => [r.value, r.description && r.description !== r.value ? `${r.value} — ${r.description}` : r.value]));
  }
  // Vendors OMS names plus any the table adds (a configured Local root), URL lists aside:
  // they need a list file, which this form does not ask for.
  const vendors = [...new Set([...(sources ?? []), ...regions.keys()])]
    .filter((vendor) => vendor !== 'URLSource' && (regions.get(vendor)?.length ?? 0) > 0);
  const destination = regions.get('HuaweiCloud') ?? regions.get('HEC') ?? [];
  return { vendors, regions, destination };
}

function text(name, attrs = {}) {
  return h('input', { type: 'text', name, autocomplete: 'off', spellcheck: 'false', ...attrs });
}

function secret(name) {
  return h('input', { type: 'password', name, autocomplete: 'new-password' });
}

/** Source fieldset: vendor, its regions, bucket, keys, what to copy. */
function sourceFieldset(prefix, choices, keysLabel, keysHint) {
  const vendor = select(`${prefix}-cloud_type`, choices.vendors.map((v) => [v, v]), choices.vendors[0]);
  vendor.id = `${prefix}-cloud-type`;
  const region = h('select', { name: `${prefix}-region`, id: `${prefix}-region` });
  const fillRegions = () => fill(region,
    (choices.regions.get(vendor.value) ?? []).map(([value, label]) => h('option', { value }, label)));
  vendor.addEventListener('change', fillRegions);
  fillRegions();
  return h('fieldset', {}, h('legend', {}, 'Source'),
    field('Cloud type', vendor),
    field('Region', region),
    field('Bucket', text(`${prefix}-bucket`, { id: `${prefix}-bucket`, required: true })),
    field('Access key (AK)', text(`${prefix}-ak`, { id: `${prefix}-ak` }), 'Leave empty for a local directory or a public bucket.'),
    field('Secret key (SK)', Object.assign(secret(`${prefix}-sk`), { id: `${prefix}-sk` })),
    field(keysLabel, h('textarea', { name: `${prefix}-object_key`, id: `${prefix}-object-key`, rows: 3 }), keysHint));
}

function destinationFieldset(prefix, choices) {
  const region = select(`${prefix}-region`, choices.destination, choices.destination[0]?.[0]);
  region.id = `${prefix}-region`;
  return h('fieldset', {}, h('legend', {}, 'Destination'),
    field('Region', region),
    field('Bucket', text(`${prefix}-bucket`, { id: `${prefix}-bucket`, required: true })),
    field('Access key (AK)', text(`${prefix}-ak`, { id: `${prefix}-ak` })),
    field('Secret key (SK)', Object.assign(secret(`${prefix}-sk`), { id: `${prefix}-sk` })),
    field('Key prefix at the destination', text(`${prefix}-save_prefix`, { id: `${prefix}-save-prefix` }), 'Optional; prepended to every key.'));
}

function optionsFieldset(prefix, editor) {
  const overwrite = select('object_overwrite_mode', OVERWRITE, OVERWRITE[0][0]);
  overwrite.id = `${prefix}-overwrite`;
  const check = select('consistency_check', CHECK, CHECK[0][0]);
  check.id = `${prefix}-check`;
  const priority = select('task_priority', PRIORITY, '');
  priority.id = `${prefix}-priority`;
  return h('fieldset', { class: 'wide' }, h('legend', {}, 'Options'),
    h('div', { class: 'two' },
      h('div', {},
        field('Description', text('description', { id: `${prefix}-description`, maxlength: 255 })),
        field('Overwrite', overwrite),
        field('Consistency check', check),
        prefix === 'task' ? field('Priority', priority) : null,
        field('Migrate objects modified since', h('input', { type: 'datetime-local', name: 'migrate_since', id: `${prefix}-since` }), 'Optional; older objects are skipped.'),
        field('Copy user metadata', h('input', { type: 'checkbox', name: 'enable_metadata_migration', id: `${prefix}-metadata` })),
        field('Record failed objects', h('input', { type: 'checkbox', name: 'enable_failed_object_recording', id: `${prefix}-record`, checked: true }))),
      h('div', {}, h('h3', { class: 'quiet' }, 'Bandwidth limit'), editor.element)));
}

function lines(value) {
  return value.split('\n').map((line) => line.trim()).filter((line) => line !== '');
}

function value(form, name) {
  return form.elements.namedItem(name)?.value ?? '';
}

function commonOptions(form, editor) {
  const body = {
    object_overwrite_mode: value(form, 'object_overwrite_mode'),
    consistency_check: value(form, 'consistency_check'),
    enable_metadata_migration: form.elements.namedItem('enable_metadata_migration').checked,
    enable_failed_object_recording: form.elements.namedItem('enable_failed_object_recording').checked,
    bandwidth_policy: editor.value(),
  };
  const description = value(form, 'description');
  if (description) body.description = description;
  const since = value(form, 'migrate_since');
  if (since) body.migrate_since = Math.floor(new Date(since).getTime() / 1000);
  const priority = form.elements.namedItem('task_priority')?.value;
  if (priority) body.task_priority = priority;
  return body;
}

function node(form, prefix, fields) {
  const out = {};
  for (const name of fields) out[name] = value(form, `${prefix}-${name}`);
  return out;
}

/** Submits `body()` with `send`; shows the OMS error_msg in the form on refusal. */
function wire(form, status, send) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    fill(status);
    try {
      await send();
    } catch (err) {
      fill(status, errorBox(err));
      status.querySelector('.error')?.focus?.();
    } finally {
      button.disabled = false;
    }
  });
}

async function withChoices(main, title, build) {
  fill(main, h('h1', {}, title), h('p', { class: 'quiet' }, 'Loading the region table…'));
  try {
    const choices = await regionChoices();
    build(choices);
  } catch (err) {
    fill(main, h('h1', {}, title), errorBox(err));
  }
}

/** The create-task form. */
export function newTaskView(main, navigate) {
  withChoices(main, 'New migration task', (choices) => {
    const editor = bandwidthEditor([], { idPrefix: 'task-bw' });
    const type = select('task_type', [['prefix', 'Prefixes (everything under each)'], ['object', 'Objects (exact keys; a trailing / is a folder)']], 'prefix');
    type.id = 'task-type';
    const status = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'grid', id: 'new-task-form', novalidate: true },
      h('fieldset', { class: 'wide' }, h('legend', {}, 'What to migrate'), field('Task type', type)),
      sourceFieldset('src', choices, 'Keys or prefixes', 'One per line; leave empty for the whole bucket.'),
      destinationFieldset('dst', choices),
      optionsFieldset('task', editor),
      h('div', { class: 'wide' }, status,
        h('div', { class: 'toolbar' }, h('button', { type: 'submit', id: 'create-task' }, 'Create task'),
          h('a', { href: '#/tasks' }, 'Cancel'))));
    wire(form, status, async () => {
      const keys = lines(value(form, 'src-object_key'));
      const body = {
        task_type: type.value,
        src_node: { ...node(form, 'src', ['cloud_type', 'region', 'bucket', 'ak', 'sk']), object_key: keys.length ? keys : [''] },
        dst_node: node(form, 'dst', ['region', 'bucket', 'ak', 'sk']),
        ...commonOptions(form, editor),
      };
      const savePrefix = value(form, 'dst-save_prefix');
      if (savePrefix) body.dst_node.save_prefix = savePrefix;
      const created = await api('POST', '/tasks', body);
      form.reset();
      flash(`Task ${created.task_name || created.id} created (id ${created.id}).`);
      navigate('#/tasks');
    });
    fill(main, h('h1', {}, 'New migration task'), form);
    type.focus();
  });
}

/** The create-group form (prefix groups: the service splits the source into tasks). */
export function newGroupView(main, navigate) {
  withChoices(main, 'New task group', (choices) => {
    const editor = bandwidthEditor([], { idPrefix: 'group-bw' });
    const status = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'grid', id: 'new-group-form', novalidate: true },
      sourceFieldset('gsrc', choices, 'Prefixes', 'One per line; leave empty for the whole bucket.'),
      destinationFieldset('gdst', choices),
      optionsFieldset('group', editor),
      h('div', { class: 'wide' }, status,
        h('div', { class: 'toolbar' }, h('button', { type: 'submit', id: 'create-group' }, 'Create group'),
          h('a', { href: '#/groups' }, 'Cancel'))));
    wire(form, status, async () => {
      const keys = lines(value(form, 'gsrc-object_key'));
      const body = {
        task_type: 'PREFIX',
        src_node: { ...node(form, 'gsrc', ['cloud_type', 'region', 'bucket', 'ak', 'sk']), object_key: keys.length ? keys : [''] },
        dst_node: node(form, 'gdst', ['region', 'bucket', 'ak', 'sk']),
        ...commonOptions(form, editor),
      };
      const savePrefix = value(form, 'gdst-save_prefix');
      if (savePrefix) body.dst_node.save_prefix = savePrefix;
      const created = await api('POST', '/taskgroups', body);
      form.reset();
      flash(`Task group ${created.group_id} created.`);
      navigate(`#/groups/${encodeURIComponent(created.group_id)}`);
    });
    fill(main, h('h1', {}, 'New task group'), form);
    form.querySelector('select')?.focus();
  });
}

/**
 * The credentials a start or retry sends. `onSend(body)` gets the OMS body; the inputs are
 * emptied whatever the answer, so secrets never outlive the request.
 */
export function credentialsForm({ id, title, submitLabel, dstRequired, failedOnly, onSend, onCancel }) {
  const status = h('div', { 'aria-live': 'polite' });
  const only = failedOnly === undefined ? null
    : h('input', { type: 'checkbox', name: 'migrate_failed_object', id: `${id}-failed-only`, checked: failedOnly });
  const form = h('form', { class: 'panel', id, novalidate: true },
    h('h2', {}, title),
    h('p', { class: 'hint' }, 'Credentials are sent with this request only; tern erases them when the run ends and the console never keeps them.'),
    h('div', { class: 'two' },
      h('div', {},
        field('Source AK', text('src_ak', { id: `${id}-src-ak` }), 'Leave both source fields empty when the source needs no keys.'),
        field('Source SK', Object.assign(secret('src_sk'), { id: `${id}-src-sk` }))),
      h('div', {},
        field(`Destination AK${dstRequired ? '' : ' (optional)'}`, text('dst_ak', { id: `${id}-dst-ak` })),
        field(`Destination SK${dstRequired ? '' : ' (optional)'}`, Object.assign(secret('dst_sk'), { id: `${id}-dst-sk` })))),
    only ? field('Only the failed objects', only) : null,
    status,
    h('div', { class: 'toolbar' }, h('button', { type: 'submit', id: `${id}-submit` }, submitLabel),
      h('button', { type: 'button', class: 'secondary', onclick: onCancel }, 'Cancel')));
  wire(form, status, async () => {
    const body = {};
    for (const name of ['src_ak', 'src_sk', 'dst_ak', 'dst_sk']) {
      const input = form.elements.namedItem(name).value;
      if (input !== '' || (dstRequired && name.startsWith('dst_'))) body[name] = input;
    }
    if (only) body.migrate_failed_object = only.checked;
    try {
      await onSend(body);
    } finally {
      for (const name of ['src_ak', 'src_sk', 'dst_ak', 'dst_sk']) form.elements.namedItem(name).value = '';
    }
  });
  return form;
}

/**
 * Rows of bandwidth windows ("hh:mm" start and end, MiB/s cap). With `onSave` it is a form of
 * its own with a Save button; without, `value()` gives the policy for an enclosing form.
 */
export function bandwidthEditor(policy, { idPrefix, onSave } = {}) {
  const rows = h('div', { class: 'bw-rows' });
  const status = h('div', { 'aria-live': 'polite' });
  let serial = 0;
  const addButton = h('button', { type: 'button', class: 'secondary', id: `${idPrefix}-add`, onclick: () => { addRow(); rows.lastElementChild?.querySelector('input')?.focus(); } }, 'Add window');
  function sync() {
    addButton.disabled = rows.children.length >= MAX_WINDOWS;
    if (!rows.children.length) fill(rows, h('p', { class: 'quiet bw-none' }, 'No limit.'));
  }
  function addRow(window = { start: '00:00', end: '23:59', max_bandwidth: 50 * MIB }) {
    rows.querySelector('.bw-none')?.remove();
    serial += 1;
    const id = `${idPrefix}-${serial}`;
    const row = h('div', { class: 'bw-row' },
      field('From', h('input', { type: 'time', name: 'start', id: `${id}-start`, value: window.start, required: true })),
      field('To', h('input', { type: 'time', name: 'end', id: `${id}-end`, value: window.end, required: true })),
      field('Limit (MiB/s)', h('input', { type: 'number', name: 'max', id: `${id}-max`, min: 1, max: 200, step: 1, value: Math.round(window.max_bandwidth / MIB), required: true })),
      h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove window ${serial}`, onclick: () => { row.remove(); sync(); addButton.focus(); } }, 'Remove'));
    rows.append(row);
    sync();
  }
  function value() {
    return [...rows.querySelectorAll('.bw-row')].map((row) => ({
      start: row.querySelector('[name="start"]').value,
      end: row.querySelector('[name="end"]').value,
      max_bandwidth: Math.round(Number(row.querySelector('[name="max"]').value) * MIB),
    }));
  }
  for (const window of policy ?? []) addRow(window);
  sync();
  const hint = h('p', { class: 'hint' }, 'Up to 5 windows that do not overlap, in UTC (the times tern applies them in); 1–200 MiB/s each.');
  if (!onSave) return { element: h('div', {}, rows, h('div', { class: 'toolbar' }, addButton), hint), value };
  const form = h('form', { class: 'panel', id: `${idPrefix}-form`, novalidate: true },
    h('h2', {}, 'Bandwidth policy'), hint, rows, status,
    h('div', { class: 'toolbar' }, addButton, h('button', { type: 'submit', id: `${idPrefix}-save` }, 'Save policy')));
  wire(form, status, async () => {
    await onSave(value());
    fill(status, h('p', { class: 'notice' }, 'Bandwidth policy saved.'));
  });
  return { element: form, value };
}
