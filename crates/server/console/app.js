// The console's entry: log in, route by the URL fragment (#/tasks, #/tasks/ID, ...), log out.
// The fragment names pages only; the project id and token never appear in a URL.

import { api, session, setUnauthenticatedHandler, signIn, signOut } from './api.js';
import { errorBox, field, fill, flash, h } from './dom.js';
import { groupView, taskView } from './detail.js';
import { newGroupView, newTaskView } from './forms.js';
import { groupsView, syncTasksView, tasksView } from './lists.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const whoami = document.getElementById('whoami');
const logout = document.getElementById('logout');
let stopView = () => {};
// A page change the console makes itself (after a create or delete) keeps the message that
// says what happened; one the user makes clears it.
let keepFlash = false;

function navigate(hash) {
  keepFlash = true;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function showChrome(current) {
  const signedIn = Boolean(current);
  nav.hidden = !signedIn;
  logout.hidden = !signedIn;
  whoami.hidden = !signedIn;
  whoami.textContent = signedIn ? `project ${current.projectId}` : '';
}

function loginView(message) {
  showChrome(null);
  const project = h('input', { type: 'text', name: 'project_id', id: 'login-project', autocomplete: 'username', required: true, spellcheck: 'false' });
  const token = h('input', { type: 'password', name: 'token', id: 'login-token', autocomplete: 'current-password', required: true });
  const status = h('div', { 'aria-live': 'polite' }, message ? errorBox({ message }) : null);
  const form = h('form', { class: 'panel login', id: 'login-form', novalidate: true },
    h('h1', {}, 'Log in'),
    h('p', { class: 'hint' }, 'The project id and token that tern serve printed on its first start, or that tern admin token create made. They stay in this tab only.'),
    field('Project id', project), field('Token', token), status,
    h('div', { class: 'toolbar' }, h('button', { type: 'submit', id: 'login-submit' }, 'Log in')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const candidate = { projectId: project.value.trim(), token: token.value };
    if (!candidate.projectId || !candidate.token) {
      fill(status, errorBox({ message: 'Enter both the project id and the token.' }));
      return;
    }
    try {
      // Any authenticated call proves the pair; the region lookup is cheap and read-only.
      await api('GET', '/objectstorage/cloud-type?type=dst', undefined, candidate);
    } catch (err) {
      fill(status, errorBox(err));
      token.focus();
      return;
    }
    signIn(candidate.projectId, candidate.token);
    token.value = '';
    flash('');
    navigate(location.hash && location.hash !== '#/login' ? location.hash : '#/tasks');
  });
  fill(main, form);
  project.focus();
}

const ROUTES = [
  [/^#\/tasks$/, 'tasks', () => tasksView(main)],
  [/^#\/tasks\/(\d+)$/, 'tasks', (id) => taskView(main, navigate, id)],
  [/^#\/groups$/, 'groups', () => groupsView(main)],
  [/^#\/groups\/(.+)$/, 'groups', (id) => groupView(main, navigate, decodeURIComponent(id))],
  [/^#\/sync-tasks$/, 'sync-tasks', () => syncTasksView(main)],
  [/^#\/new-task$/, 'new-task', () => newTaskView(main, navigate)],
  [/^#\/new-group$/, 'new-group', () => newGroupView(main, navigate)],
];

function route() {
  stopView();
  stopView = () => {};
  const current = session();
  if (!current) {
    loginView();
    return;
  }
  showChrome(current);
  const hash = location.hash || '#/tasks';
  for (const [pattern, section, open] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const link of nav.querySelectorAll('a')) {
      if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    stopView = open(...match.slice(1)) ?? (() => {});
    return;
  }
  navigate('#/tasks');
}

logout.addEventListener('click', () => {
  signOut();
  flash('Logged out.');
  navigate('#/login');
});

setUnauthenticatedHandler((err) => {
  signOut();
  stopView();
  stopView = () => {};
  loginView(`${err.message} — log in again.`);
});

window.addEventListener('hashchange', () => {
  if (!keepFlash) flash('');
  keepFlash = false;
  route();
  main.focus({ preventScroll: true });
});
route();
