import { RoboportApi } from './api.js';
import { Session } from './auth.js';
import { h, replaceChildren } from './dom.js';
import { jobDetailView, jobsView } from './jobs.js';
import { operationsView } from './ops.js';
import { signInView } from './sign-in.js';
import { submitView } from './submit.js';
import { errorBanner } from './ui.js';

/**
 * Roboport admin console: a static page (S3 + CloudFront in AWS, local/console-server.ts
 * locally) that signs in with Cognito and drives the REST API. Routes live in the hash, so the
 * host needs no rewrite rules: #/jobs, #/jobs?status=FAILED, #/jobs/<id>, #/new, #/ops (admins).
 */
const root = document.getElementById('app');

async function main() {
  const config = await loadConfig();
  const session = new Session(config);
  const api = new RoboportApi(config, session);
  const navigate = (hash) => {
    if (location.hash === hash) render();
    else location.hash = hash;
  };
  const context = { api, session, navigate };
  let current;

  function render() {
    current?.dispose();
    if (!session.signedIn) {
      current = signInView(context);
      replaceChildren(root, current.element);
    } else {
      current = routeView(context);
      replaceChildren(root, header(session, location.hash), h('main', { class: 'main' }, current.element));
    }
    document.title = `${current.title} · Roboport console`;
  }

  window.addEventListener('hashchange', render);
  session.onChange(render);
  render();
}

function routeView(context) {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const jobMatch = /^\/jobs\/([^/]+)$/.exec(path);
  if (jobMatch) return jobDetailView(context, decodeURIComponent(jobMatch[1]));
  if (path === '/new') return submitView(context, params);
  if (path === '/ops') return operationsView(context);
  return jobsView(context, params);
}

function header(session, hash) {
  const user = session.user;
  const link = (href, label, active) => h('a', { href, class: active ? 'nav-link active' : 'nav-link', 'aria-current': active ? 'page' : undefined }, label);
  return h(
    'header',
    { class: 'topbar' },
    h('a', { class: 'brand', href: '#/jobs' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Roboport', h('span', { class: 'brand-sub' }, 'console')),
    h(
      'nav',
      { class: 'nav', 'aria-label': 'Main' },
      link('#/jobs', 'Jobs', !hash.startsWith('#/new') && !hash.startsWith('#/ops')),
      link('#/new', 'New job', hash.startsWith('#/new')),
      user?.isAdmin ? link('#/ops', 'Operations', hash.startsWith('#/ops')) : null,
    ),
    h(
      'div',
      { class: 'user' },
      h('span', { class: 'user-name', title: user?.groups.join(', ') }, user?.name ?? ''),
      user?.isAdmin ? h('span', { class: 'badge admin' }, 'admin') : null,
      h('button', { type: 'button', class: 'button ghost small', onclick: () => session.signOut() }, 'Sign out'),
    ),
  );
}

async function loadConfig() {
  const response = await fetch('config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`config.json answered ${response.status}`);
  const config = await response.json();
  for (const key of ['apiUrl', 'userPoolClientId', 'cognitoEndpoint']) {
    if (typeof config[key] !== 'string' || !config[key]) throw new Error(`config.json has no ${key}`);
  }
  return config;
}

main().catch((error) => {
  replaceChildren(root, h('main', { class: 'main' }, errorBanner(error, { title: 'The console could not start.' })));
});
