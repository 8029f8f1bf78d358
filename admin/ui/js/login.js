// login.js: the Admin API key, checked against this node, kept in sessionStorage.
import { session, whoIs } from './api.js';
import { h, field, setMain } from './dom.js';

export function render() {
  const key = h('input', { type: 'password', name: 'key', autocomplete: 'current-password', required: true });
  const err = h('p', { class: 'error', role: 'alert', id: 'login-error' });
  const form = h('form', { class: 'login', 'aria-describedby': 'login-error' },
    field('Admin API key', key, 'The admin key (or the viewer key: read-only). Kept for this tab only.'),
    err, h('button', { type: 'submit', class: 'primary', text: 'Log in' }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const role = await whoIs(key.value);
      session.set(key.value, role);
      location.hash = '#/cluster';
    } catch (e) {
      err.textContent = e.message;
      key.focus();
    }
  });
  setMain('Log in', h('p', { text: 'This node serves the dashboard; every call goes to its Admin API.' }), form);
  key.focus();
}
