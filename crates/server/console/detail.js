// One task or one group: live counters, error reason, failed objects (paged), the actions the
// status allows, and the bandwidth-policy editor.

import { api, every, query } from './api.js';
import { errorBox, fill, flash, h, refreshKeepingFocus } from './dom.js';
import {
  GROUP_STATUS, TASK_STATUS, bytes, count, duration, plural, speed, time,
} from './format.js';
import { bandwidthEditor, credentialsForm } from './forms.js';
import { REFRESH_MS, groupEta, groupProgress, progressCell, statusPill, taskTable } from './lists.js';

const FAILED_PAGE = 50;

function counters(pairs) {
  return h('dl', { class: 'counters' },
    pairs.filter(Boolean).map(([label, value, key]) =>
      h('div', { 'data-counter': key }, h('dt', {}, label), h('dd', {}, value))));
}

function nodeText(node) {
  if (!node) return '–';
  const parts = [node.cloud_type, node.region, node.bucket].filter(Boolean).join(' / ');
  const keys = (node.object_key ?? []).filter((k) => k !== '');
  if (!keys.length) return parts;
  // A list task may name thousands of keys; a few say what the task is.
  const shown = keys.slice(0, 3).join(', ');
  return keys.length > 3 ? `${parts} (${shown} and ${keys.length - 3} more)` : `${parts} (${shown})`;
}

/**
 * The action bar: buttons whose enabled state follows the status on every refresh, and one
 * panel where a form (credentials, delete confirmation) opens below them.
 */
function actionBar(actions) {
  const panel = h('div', { id: 'action-panel' });
  const buttons = actions.map((action) => {
    const button = h('button', { type: 'button', id: action.id, class: action.tone ?? '' }, action.label);
    button.addEventListener('click', () => action.run(panel, button));
    return { action, button };
  });
  const element = h('div', {}, h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Actions' }, buttons.map((b) => b.button)), panel);
  return {
    element,
    panel,
    update(status) {
      for (const { action, button } of buttons) button.disabled = !action.allowed(status);
    },
  };
}

function confirmPanel(panel, { id, question, label, onConfirm, back }) {
  const status = h('div', { 'aria-live': 'polite' });
  const yes = h('button', { type: 'button', class: 'danger', id }, label);
  const no = h('button', { type: 'button', class: 'secondary', onclick: () => { fill(panel); back.focus(); } }, 'Cancel');
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try { await onConfirm(); } catch (err) { fill(status, errorBox(err)); yes.disabled = false; }
  });
  fill(panel, h('div', { class: 'panel', role: 'alertdialog', 'aria-label': question },
    h('p', {}, question), status, h('div', { class: 'toolbar' }, yes, no)));
  yes.focus();
}

function openCredentials(panel, back, options) {
  const form = credentialsForm({
    ...options,
    onCancel: () => { fill(panel); back.focus(); },
    onSend: async (body) => {
      await options.onSend(body);
      fill(panel);
      flash(options.done);
      back.focus();
    },
  });
  fill(panel, form);
  form.querySelector('input')?.focus();
}

/** Simple POST/PUT without a body, reported in the flash area. */
async function plain(method, path, done) {
  try {
    await api(method, path);
    flash(done);
  } catch (err) {
    flash(`${err.message}${err.code ? ` (${err.code})` : ''}`, 'error');
  }
}

/** The paged failed-object list of one task (tern's /failed-objects route). */
function failedObjects(taskId) {
  const body = h('div', { id: 'failed-objects' });
  const markers = [''];
  async function load() {
    try {
      const page = await api('GET', `/tasks/${taskId}/failed-objects${query({ limit: FAILED_PAGE, marker: markers[markers.length - 1] })}`);
      const rows = page.failed_objects ?? [];
      const pageNo = markers.length;
      refreshKeepingFocus(body, () => fill(body,
        h('table', { id: 'failed-objects-table' },
          h('caption', { class: 'quiet' }, `Page ${pageNo}`),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col', class: 'num' }, 'Size'),
            h('th', { scope: 'col' }, 'Code'), h('th', { scope: 'col' }, 'Reason'))),
          h('tbody', {}, rows.length ? rows.map((row) => h('tr', { 'data-key': row.key },
            h('td', { class: 'mono' }, row.key), h('td', { class: 'num' }, bytes(row.size)),
            h('td', { class: 'mono' }, row.error_code), h('td', {}, row.error_msg)))
            : h('tr', {}, h('td', { colspan: 4, class: 'quiet' }, 'No failed objects.')))),
        h('div', { class: 'pager' },
          h('button', { type: 'button', class: 'secondary', 'data-focus': 'failed-first', disabled: markers.length === 1,
            onclick: () => { markers.length = 1; load(); } }, 'First page'),
          h('button', { type: 'button', class: 'secondary', 'data-focus': 'failed-next', id: 'failed-next', disabled: !page.next_marker,
            onclick: () => { markers.push(page.next_marker); load(); } }, 'Next page'))));
    } catch (err) {
      fill(body, errorBox(err));
    }
  }
  return { element: body, load };
}

/** One migration task. */
export function taskView(main, navigate, taskId) {
  const title = h('h1', {}, `Task ${taskId}`);
  const summary = h('div', { class: 'panel', id: 'task-summary' }, h('p', { class: 'quiet' }, 'Loading…'));
  const path = `/tasks/${encodeURIComponent(taskId)}`;
  const bar = actionBar([
    { id: 'task-start', label: 'Start', allowed: (s) => s === 3 || s === 4,
      run: (panel, back) => openCredentials(panel, back, { id: 'start-form', title: 'Start the task', submitLabel: 'Start',
        dstRequired: true, done: `Task ${taskId} started.`, onSend: (body) => api('POST', `${path}/start`, body) }) },
    { id: 'task-stop', label: 'Stop', allowed: (s) => s === 2,
      run: () => plain('POST', `${path}/stop`, `Task ${taskId} is stopping.`) },
    { id: 'task-retry', label: 'Retry failed objects', allowed: (s) => s === 4,
      run: (panel, back) => openCredentials(panel, back, { id: 'retry-form', title: 'Retry the task', submitLabel: 'Retry',
        dstRequired: true, failedOnly: true, done: `Task ${taskId} restarted.`, onSend: (body) => api('POST', `${path}/start`, body) }) },
    { id: 'task-delete', label: 'Delete', tone: 'danger', allowed: (s) => ![2, 6, 7].includes(s),
      run: (panel, back) => confirmPanel(panel, { id: 'task-delete-confirm', question: `Delete task ${taskId}? Its ledger and counters go with it.`,
        label: 'Delete task', back, onConfirm: async () => { await api('DELETE', path); flash(`Task ${taskId} deleted.`); navigate('#/tasks'); } }) },
  ]);
  const bandwidth = h('div', { id: 'task-bandwidth' });
  const failed = failedObjects(encodeURIComponent(taskId));
  fill(main, h('p', {}, h('a', { href: '#/tasks' }, '← All tasks')), title, summary, bar.element, bandwidth,
    h('h2', { id: 'failed-objects-heading' }, 'Failed objects'), failed.element);
  let first = true;
  let lastFailed = -1;
  return every(REFRESH_MS, async () => {
    let task;
    try {
      task = await api('GET', path);
    } catch (err) {
      fill(summary, errorBox(err));
      return;
    }
    fill(title, task.name || `Task ${task.id}`, ' ', statusPill(TASK_STATUS, task.status));
    const running = task.status === 2 || task.status === 6;
    fill(summary,
      counters([
        ['Progress', progressCell(task.progress, 'task progress'), 'progress'],
        ['Speed', running ? speed(task.migrate_speed) : '–', 'speed'],
        ['ETA', running ? duration(task.left_time) : '–', 'eta'],
        ['Elapsed', duration(task.total_time), 'elapsed'],
        ['Objects', count(task.total_num), 'total_num'],
        ['Succeeded', count(task.successful_num), 'successful_num'],
        ['Failed', count(task.failed_num), 'failed_num'],
        ['Skipped', count(task.skipped_num), 'skipped_num'],
        ['Total size', bytes(task.total_size), 'total_size'],
        ['Migrated', bytes(task.complete_size), 'complete_size'],
        ['Transferred', bytes(task.real_size), 'real_size'],
        ['Started', time(task.start_time), 'start_time'],
        ['Type', task.task_type ?? '–', 'task_type'],
        ['Priority', task.task_priority ?? '–', 'task_priority'],
        ['Source', nodeText(task.src_node), 'src'],
        ['Destination', nodeText({ ...task.dst_node, object_key: [] }) + (task.dst_node?.save_prefix ? ` (prefix ${task.dst_node.save_prefix})` : ''), 'dst'],
      ]),
      task.error_reason?.error_code ? h('p', { class: 'error', id: 'task-error-reason' },
        `${task.error_reason.error_msg} (${task.error_reason.error_code})`) : null,
      task.failed_object_record?.list_file_key ? h('p', { class: 'quiet' }, 'Failed-object list in the destination bucket: ',
        h('span', { class: 'mono' }, task.failed_object_record.list_file_key)) : null,
      task.group_id ? h('p', {}, 'Part of group ', h('a', { href: `#/groups/${encodeURIComponent(task.group_id)}` }, task.group_id)) : null);
    bar.update(task.status);
    if (first) {
      first = false;
      // Rendered once: a refresh must not wipe windows the user is editing.
      fill(bandwidth, bandwidthEditor(task.bandwidth_policy ?? [], {
        idPrefix: 'task-bw',
        onSave: (policy) => api('PUT', `${path}/bandwidth-policy`, { bandwidth_policy: policy }),
      }).element);
    }
    if (task.failed_num !== lastFailed) {
      lastFailed = task.failed_num;
      failed.load();
    }
  });
}

/** One task group and its tasks. */
export function groupView(main, navigate, groupId) {
  const title = h('h1', {}, `Group ${groupId}`);
  const summary = h('div', { class: 'panel', id: 'group-summary' }, h('p', { class: 'quiet' }, 'Loading…'));
  const tasks = h('div', { id: 'group-tasks' });
  const path = `/taskgroups/${encodeURIComponent(groupId)}`;
  const bar = actionBar([
    { id: 'group-start', label: 'Start', allowed: (s) => s === 3,
      run: (panel, back) => openCredentials(panel, back, { id: 'group-start-form', title: 'Start the group', submitLabel: 'Start',
        dstRequired: true, done: 'Group started.', onSend: (body) => api('PUT', `${path}/start`, body) }) },
    { id: 'group-stop', label: 'Stop', allowed: (s) => s === 1 || s === 2,
      run: () => plain('PUT', `${path}/stop`, 'Group is stopping.') },
    { id: 'group-retry', label: 'Retry', allowed: (s) => s === 4 || s === 5,
      run: (panel, back) => openCredentials(panel, back, { id: 'group-retry-form', title: 'Retry the group', submitLabel: 'Retry',
        dstRequired: false, failedOnly: true, done: 'Group restarted.', onSend: (body) => api('PUT', `${path}/retry`, body) }) },
    { id: 'group-delete', label: 'Delete', tone: 'danger', allowed: (s) => ![1, 2, 7, 8, 9].includes(s),
      run: (panel, back) => confirmPanel(panel, { id: 'group-delete-confirm', question: 'Delete this group and all its tasks?',
        label: 'Delete group', back, onConfirm: async () => { await api('DELETE', path); flash('Group deleted.'); navigate('#/groups'); } }) },
  ]);
  const bandwidth = h('div', { id: 'group-bandwidth' });
  fill(main, h('p', {}, h('a', { href: '#/groups' }, '← All groups')), title, summary, bar.element, bandwidth,
    h('h2', {}, 'Tasks of this group'), tasks);
  let first = true;
  return every(REFRESH_MS, async () => {
    let group;
    try {
      group = await api('GET', path);
    } catch (err) {
      fill(summary, errorBox(err));
      return;
    }
    fill(title, group.description || 'Task group', ' ', statusPill(GROUP_STATUS, group.status));
    const running = group.status === 1 || group.status === 2;
    fill(summary,
      counters([
        ['Progress', progressCell(groupProgress(group), 'group progress'), 'progress'],
        ['Speed', running ? speed(group.migrate_speed) : '–', 'speed'],
        ['ETA', running ? groupEta(group) : '–', 'eta'],
        ['Elapsed', duration(group.total_time), 'elapsed'],
        ['Tasks', `${count(group.create_task_num)} created of ${count(group.total_task_num)}`, 'tasks'],
        ['Tasks done', count(group.complete_task_num), 'complete_task_num'],
        ['Tasks running', count(group.executing_task_num), 'executing_task_num'],
        ['Tasks failed', count(group.failed_task_num), 'failed_task_num'],
        ['Objects', count(group.total_num), 'total_num'],
        ['Succeeded', count(group.success_num), 'success_num'],
        ['Failed', count(group.fail_num), 'fail_num'],
        ['Skipped', count(group.skip_num), 'skip_num'],
        ['Total size', bytes(group.total_size), 'total_size'],
        ['Migrated', bytes(group.complete_size), 'complete_size'],
        ['Source', nodeText(group.src_node), 'src'],
        ['Destination', nodeText(group.dst_node), 'dst'],
      ]),
      h('p', { class: 'quiet mono' }, group.group_id),
      group.error_reason?.error_code ? h('p', { class: 'error', id: 'group-error-reason' },
        `${group.error_reason.error_msg} (${group.error_reason.error_code})`) : null);
    bar.update(group.status);
    if (first) {
      first = false;
      fill(bandwidth, bandwidthEditor(group.bandwidth_policy ?? [], {
        idPrefix: 'group-bw',
        onSave: (policy) => api('PUT', `${path}/update`, { bandwidth_policy: policy }),
      }).element);
    }
    try {
      const page = await api('GET', `/tasks${query({ group_id: groupId, limit: 100 })}`);
      refreshKeepingFocus(tasks, () => fill(tasks, taskTable(page.tasks ?? [], `${plural(page.count, 'task')}${page.count > 100 ? ' (first 100)' : ''}`)));
    } catch (err) {
      fill(tasks, errorBox(err));
    }
  });
}
