// The live lists: tasks, task groups and sync tasks, refreshed every 2 s.

import { api, every, query } from './api.js';
import { errorBox, fill, h, refreshKeepingFocus, select } from './dom.js';
import {
  GROUP_STATUS, SYNC_STATUS, TASK_STATUS, bytes, count, duration, percent, plural, speed, statusName,
  time,
} from './format.js';

/** How often lists and details refresh. */
export const REFRESH_MS = 2000;
const PAGE = 20;

/** A status pill; data-status carries the raw code for scripts and tests. */
export function statusPill(table, code) {
  const [name, tone] = statusName(table, code);
  return h('span', { class: `status ${tone}`, 'data-status': code }, name);
}

/** A progress bar with its percentage as text. */
export function progressCell(fraction, label) {
  const value = Math.max(0, Math.min(1, Number(fraction) || 0));
  return h('span', { class: 'progress' },
    h('progress', { max: 1, value, 'aria-label': label }), ' ', percent(value));
}

/** Group progress: bytes done over bytes known, else objects. */
export function groupProgress(group) {
  if (group.total_size > 0) return group.complete_size / group.total_size;
  const done = (group.success_num ?? 0) + (group.fail_num ?? 0) + (group.skip_num ?? 0);
  return group.total_num > 0 ? done / group.total_num : 0;
}

/** Group ETA: bytes left at the current speed, when both are known. */
export function groupEta(group) {
  const left = (group.total_size ?? 0) - (group.complete_size ?? 0);
  return group.migrate_speed > 0 && left > 0 ? duration((left / group.migrate_speed) * 1000) : '–';
}

function pager(offset, total, go) {
  const last = Math.min(offset + PAGE, total);
  return h('div', { class: 'pager' },
    h('button', { type: 'button', class: 'secondary', disabled: offset === 0,
      onclick: () => go(Math.max(0, offset - PAGE)) }, 'Previous'),
    h('span', { class: 'quiet' }, total ? `${offset + 1}–${last} of ${total}` : 'none'),
    h('button', { type: 'button', class: 'secondary', disabled: last >= total,
      onclick: () => go(offset + PAGE) }, 'Next'));
}

function taskRow(task) {
  const running = task.status === 2 || task.status === 6;
  return h('tr', { 'data-task-id': task.id },
    h('td', {}, h('a', { href: `#/tasks/${task.id}`, 'data-focus': `task-${task.id}` }, task.name || `task ${task.id}`),
      h('div', { class: 'quiet mono' }, String(task.id))),
    h('td', {}, statusPill(TASK_STATUS, task.status)),
    h('td', {}, progressCell(task.progress, `progress of task ${task.id}`)),
    h('td', { class: 'num' }, running ? speed(task.migrate_speed) : '–'),
    h('td', { class: 'num' }, running ? duration(task.left_time) : '–'),
    h('td', { class: 'num' }, `${count(task.successful_num)} / ${count(task.total_num)}`,
      task.failed_num ? h('div', { class: 'quiet' }, `${count(task.failed_num)} failed`) : null),
    h('td', { class: 'num' }, `${bytes(task.complete_size)} / ${bytes(task.total_size)}`));
}

/** The task table (also used for a group's tasks). */
export function taskTable(tasks, caption) {
  return h('table', { class: 'tasks' },
    h('caption', { class: 'quiet' }, caption),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Task'), h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col' }, 'Progress'), h('th', { scope: 'col', class: 'num' }, 'Speed'),
      h('th', { scope: 'col', class: 'num' }, 'ETA'), h('th', { scope: 'col', class: 'num' }, 'Objects'),
      h('th', { scope: 'col', class: 'num' }, 'Size'))),
    h('tbody', {}, tasks.length ? tasks.map(taskRow)
      : h('tr', {}, h('td', { colspan: 7, class: 'quiet' }, 'No tasks.'))));
}

/** Tasks, filtered by status, paged. */
export function tasksView(main) {
  let offset = 0;
  let status = '';
  const body = h('div', { id: 'task-list' });
  const filter = select('status', [['', 'Any status'],
    ...Object.entries(TASK_STATUS).map(([code, [name]]) => [code, name])], '');
  filter.id = 'task-status-filter';
  filter.addEventListener('change', () => { status = filter.value; offset = 0; refresh(); });
  fill(main, h('h1', {}, 'Migration tasks'),
    h('div', { class: 'toolbar' }, h('label', { for: filter.id }, 'Status'), filter,
      h('span', { class: 'spacer' }), h('a', { class: 'button', href: '#/new-task' }, 'New task')),
    body);
  async function refresh() {
    try {
      const page = await api('GET', `/tasks${query({ limit: PAGE, offset, status })}`);
      refreshKeepingFocus(body, () => fill(body,
        taskTable(page.tasks ?? [], plural(page.count, 'task')),
        pager(offset, page.count, (next) => { offset = next; refresh(); })));
    } catch (err) {
      fill(body, errorBox(err));
    }
  }
  return every(REFRESH_MS, refresh);
}

function groupRow(group) {
  const running = group.status === 1 || group.status === 2;
  return h('tr', { 'data-group-id': group.group_id },
    h('td', {}, h('a', { href: `#/groups/${encodeURIComponent(group.group_id)}`, 'data-focus': `group-${group.group_id}` },
      group.description || `${group.src_node?.bucket ?? ''} → ${group.dst_node?.bucket ?? ''}`),
      h('div', { class: 'quiet mono' }, group.group_id)),
    h('td', {}, statusPill(GROUP_STATUS, group.status)),
    h('td', {}, progressCell(groupProgress(group), `progress of group ${group.group_id}`)),
    h('td', { class: 'num' }, running ? speed(group.migrate_speed) : '–'),
    h('td', { class: 'num' }, running ? groupEta(group) : '–'),
    h('td', { class: 'num' }, `${count(group.complete_task_num)} / ${count(group.total_task_num)}`),
    h('td', { class: 'num' }, `${count(group.success_num)} / ${count(group.total_num)}`,
      group.fail_num ? h('div', { class: 'quiet' }, `${count(group.fail_num)} failed`) : null));
}

/** Task groups, paged. */
export function groupsView(main) {
  let offset = 0;
  const body = h('div', { id: 'group-list' });
  fill(main, h('h1', {}, 'Task groups'),
    h('div', { class: 'toolbar' }, h('span', { class: 'spacer' }),
      h('a', { class: 'button', href: '#/new-group' }, 'New group')),
    body);
  async function refresh() {
    try {
      const page = await api('GET', `/taskgroups${query({ limit: PAGE, offset })}`);
      const groups = page.taskgroups ?? [];
      refreshKeepingFocus(body, () => fill(body,
        h('table', {},
          h('caption', { class: 'quiet' }, plural(page.count, 'group')),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Group'), h('th', { scope: 'col' }, 'Status'),
            h('th', { scope: 'col' }, 'Progress'), h('th', { scope: 'col', class: 'num' }, 'Speed'),
            h('th', { scope: 'col', class: 'num' }, 'ETA'), h('th', { scope: 'col', class: 'num' }, 'Tasks done'),
            h('th', { scope: 'col', class: 'num' }, 'Objects'))),
          h('tbody', {}, groups.length ? groups.map(groupRow)
            : h('tr', {}, h('td', { colspan: 7, class: 'quiet' }, 'No task groups.')))),
        pager(offset, page.count, (next) => { offset = next; refresh(); })));
    } catch (err) {
      fill(body, errorBox(err));
    }
  }
  return every(REFRESH_MS, refresh);
}

/** Sync tasks; a server without them (404) gets a quiet note instead of an error. */
export function syncTasksView(main) {
  let offset = 0;
  const body = h('div', { id: 'sync-list' });
  fill(main, h('h1', {}, 'Sync tasks'), body);
  async function refresh() {
    try {
      const page = await api('GET', `/sync-tasks${query({ limit: PAGE, offset })}`);
      const tasks = page?.tasks ?? [];
      refreshKeepingFocus(body, () => fill(body,
        h('table', {},
          h('caption', { class: 'quiet' }, plural(page?.count ?? tasks.length, 'sync task')),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Sync task'), h('th', { scope: 'col' }, 'Status'),
            h('th', { scope: 'col' }, 'Source'), h('th', { scope: 'col' }, 'Destination'),
            h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'Last started'))),
          h('tbody', {}, tasks.length ? tasks.map((task) => h('tr', { 'data-sync-task-id': task.sync_task_id },
            h('td', {}, task.description || '–', h('div', { class: 'quiet mono' }, task.sync_task_id)),
            h('td', {}, statusPill(SYNC_STATUS, task.status)),
            h('td', {}, `${task.src_cloud_type ?? ''} ${task.src_region ?? ''} / ${task.src_bucket ?? ''}`),
            h('td', {}, `${task.dst_region ?? ''} / ${task.dst_bucket ?? ''}`),
            h('td', {}, time(task.create_time)), h('td', {}, time(task.last_start_time))))
            : h('tr', {}, h('td', { colspan: 6, class: 'quiet' }, 'No sync tasks.')))),
        pager(offset, page?.count ?? 0, (next) => { offset = next; refresh(); })));
    } catch (err) {
      if (err.status === 404) {
        fill(body, h('p', { class: 'quiet', id: 'sync-unavailable' }, 'Sync tasks are not available on this server.'));
        return;
      }
      fill(body, errorBox(err));
    }
  }
  return every(REFRESH_MS, refresh);
}
