// main.js: the hash router; each page module exports render(main, args).
import { session } from './api.js';
import { setMain, h } from './dom.js';
import * as login from './login.js';
import * as cluster from './cluster.js';
import * as config from './config.js';
import * as history from './history.js';
import * as health from './health.js';

const pages = {
  login: login.render,
  cluster: cluster.render,
  config: config.render,
  history: history.render,
  audit: history.renderAudit,
  health: health.render,
};

let leave = null; // the page's clean-up (timers)

function route() {
  if (leave) { leave(); leave = null; }
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  let name = parts[0] || 'cluster';
  if (!session.key) name = 'login';
  const nav = document.getElementById('nav');
  nav.hidden = !session.key;
  document.getElementById('logout').hidden = !session.key;
  document.getElementById('who').textContent = session.key
    ? (session.readOnly ? 'viewer (read-only)' : 'admin') : '';
  for (const a of nav.querySelectorAll('a')) {
    const here = a.getAttribute('href') === `#/${parts.slice(0, name === 'config' ? 2 : 1).join('/')}`;
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const page = pages[name];
  if (!page) { setMain('Not found', h('p', { text: `No page ${name}.` })); return; }
  const out = page(parts.slice(1));
  if (typeof out === 'function') leave = out;
  document.getElementById('main').focus({ preventScroll: true });
}

document.getElementById('logout').addEventListener('click', () => {
  session.clear();
  location.hash = '#/login';
});
window.addEventListener('hashchange', route);
route();
