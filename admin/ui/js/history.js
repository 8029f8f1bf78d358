// history.js: the timeline of config changes (who/when from the audit log),
// a side-by-side diff of two revisions, rollback with confirmation, and the
// audit log page.
import { call, get, qs, session } from './api.js';
import { h, field, setMain, say, confirmBox, fmtTime } from './dom.js';

const RESOURCES = ['', 'routes', 'services', 'upstreams', 'consumers', 'ssls', 'global_rules',
  'plugin_configs', 'consumer_groups', 'plugin_metadata', 'stream_routes', 'protos', 'secrets'];

function show(v) {
  return v === undefined ? '' : JSON.stringify(v, null, 1);
}

// {list:[{key, op, changes:[{path, op, from, to}]}]} as a side-by-side table.
function diffView(d) {
  const items = d.list || [];
  if (!items.length) return h('p', { class: 'muted', text: `No difference between revisions ${d.from} and ${d.to}.` });
  return h('div', { id: 'diff' }, items.map((it) => h('section', {},
    h('h3', { text: `${it.key} (${it.op})` }),
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Path' }),
        h('th', { scope: 'col', text: `At ${d.from}` }), h('th', { scope: 'col', text: `At ${d.to}` }))),
      h('tbody', {}, (it.changes || []).map((c) => h('tr', {},
        h('td', {}, h('code', { text: c.path })),
        h('td', { class: c.op === 'add' ? '' : 'del' }, h('pre', { text: show(c.from) })),
        h('td', { class: c.op === 'remove' ? '' : 'add' }, h('pre', { text: show(c.to) }))))))))));
}

export function render(args) {
  const [res0, id0] = args;
  const res = h('select', { name: 'resource' }, RESOURCES.map((r) => h('option', { value: r, text: r || 'all of /apisix/' })));
  res.value = res0 || '';
  const oid = h('input', { type: 'text', name: 'id', value: id0 || '', autocomplete: 'off' });
  const err = h('div', { class: 'error', role: 'alert' });
  const from = h('input', { type: 'number', name: 'from', min: 1 });
  const to = h('input', { type: 'number', name: 'to', min: 1, placeholder: 'now' });
  const timeline = h('div', { 'aria-live': 'polite' });
  const diffOut = h('div', { 'aria-live': 'polite' });
  const filter = h('form', { class: 'toolbar' }, field('Resource', res), field('Id', oid),
    h('button', { type: 'submit', text: 'Show history' }));
  const diffForm = h('form', { class: 'toolbar', id: 'diff-form' }, field('From revision', from), field('To revision', to),
    h('button', { type: 'submit', text: 'Compare' }));
  setMain('History', filter, err, timeline, h('h2', { text: 'Compare two revisions' }), diffForm, diffOut);
  let current = 0;

  const scope = () => {
    if (!res.value) return undefined;
    return [oid.value.trim() ? `${res.value}/${oid.value.trim()}` : res.value];
  };

  async function rollback(rev) {
    err.textContent = '';
    const body = { revision: rev, from_revision: current };
    const sc = scope();
    if (sc) body.resources = sc;
    try {
      const plan = await call('POST', '/rollback?dry_run=true', body);
      const n = (plan.changes || []).length;
      const what = sc ? sc.join(', ') : 'all of the config';
      if (n === 0) { say(`Nothing to roll back: ${what} is as it was at ${rev}.`); return; }
      if (!await confirmBox(`Roll back ${what} to revision ${rev}? ${n} object(s) change: ${(plan.changes || []).map((c) => `${c.op} ${c.key}`).join(', ')}.`, 'Roll back')) return;
      const d = await call('POST', '/rollback', body);
      say(`Rolled back to ${rev}: new revision ${d.revision}`);
      load(d.revision);
    } catch (e) {
      err.textContent = e.message;
    }
  }

  // @atLeast: a revision this node must have applied first (a write made
  // through it committed on the leader; its own store follows a moment later)
  async function load(atLeast) {
    err.textContent = '';
    try {
      const path = `/history${qs({ resource: res.value, id: res.value ? oid.value.trim() : '', limit: 100 })}`;
      let d = await get(path);
      for (let i = 0; i < 25 && atLeast && d.revision < atLeast; i++) {
        await new Promise((r) => setTimeout(r, 200));
        d = await get(path);
      }
      current = d.revision;
      const list = d.list || [];
      const oldest = list.length ? list[list.length - 1].revision : current;
      let who = new Map();
      try {
        const a = await get(`/audit${qs({ since: oldest, limit: 1000 })}`);
        who = new Map((a.list || []).map((r) => [r.revision, r]));
      } catch (e) { /* the timeline stands without it */ }
      timeline.replaceChildren(
        h('p', { class: 'muted', text: `Now at revision ${d.revision}; history kept from ${d.compact_revision}.` }),
        list.length === 0 ? h('p', { text: 'No changes in the window.' }) : h('div', { class: 'scroll' }, h('table', { id: 'timeline' },
          h('thead', {}, h('tr', {}, ['Revision', 'Change', 'Key', 'When', 'Who', 'Actions'].map((t) => h('th', { scope: 'col', text: t })))),
          h('tbody', {}, list.map((c) => {
            const w = who.get(c.revision);
            return h('tr', { 'data-revision': c.revision },
              h('td', { text: String(c.revision) }),
              h('td', { text: c.op }),
              h('td', {}, h('code', { text: c.key })),
              h('td', { text: c.time ? fmtTime(c.time) : (w ? fmtTime(Math.floor(w.time / 1000)) : '') }),
              h('td', { text: w ? `${w.role}${w.user ? ` ${w.user}` : ''} via ${w.node}${w.client ? ` from ${w.client}` : ''}` : '' }),
              h('td', {}, h('div', { class: 'toolbar' },
                h('button', { type: 'button', onclick: () => { from.value = c.revision - 1; to.value = c.revision; diff(); }, text: 'Show change', 'aria-label': `Show the change of revision ${c.revision}` }),
                session.readOnly ? null : h('button', { type: 'button', class: 'danger', onclick: () => rollback(c.revision), text: 'Roll back to this', 'aria-label': `Roll back to revision ${c.revision}` }))));
          })))));
    } catch (e) {
      err.textContent = e.message;
    }
  }

  async function diff() {
    diffOut.replaceChildren();
    try {
      const d = await get(`/diff${qs({ from: from.value, to: to.value, resource: res.value, id: res.value ? oid.value.trim() : '' })}`);
      diffOut.replaceChildren(diffView(d));
    } catch (e) {
      diffOut.replaceChildren(h('p', { class: 'error', role: 'alert', text: e.message }));
    }
  }

  filter.addEventListener('submit', (ev) => { ev.preventDefault(); load(0); });
  diffForm.addEventListener('submit', (ev) => { ev.preventDefault(); diff(); });
  load(0);
}

export function renderAudit() {
  const since = h('input', { type: 'number', name: 'since', min: 1, placeholder: 'last 200' });
  const err = h('div', { class: 'error', role: 'alert' });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'toolbar' }, field('Since revision', since),
    h('button', { type: 'submit', text: 'Show' }));
  setMain('Audit log', form, err, out);
  async function load() {
    err.textContent = '';
    try {
      let s = Number(since.value);
      if (!s) {
        const cur = await get('/history?limit=1');
        s = Math.max(1, cur.revision - 200);
      }
      const d = await get(`/audit${qs({ since: s, limit: 500 })}`);
      const list = (d.list || []).slice().reverse();
      const last = list.length ? list[0].revision : s;
      out.replaceChildren(
        h('p', { class: 'muted', text: `${d.total} record(s) since revision ${s}, newest first.` }),
        d.more ? h('button', { type: 'button', text: 'Later records', onclick: () => { since.value = last + 1; load(); } }) : null,
        h('div', { class: 'scroll' }, h('table', { id: 'audit' },
          h('thead', {}, h('tr', {}, ['Revision', 'Time', 'Node', 'Who', 'Op', 'Object', 'Client'].map((t) => h('th', { scope: 'col', text: t })))),
          h('tbody', {}, list.map((r) => h('tr', {},
            h('td', { text: String(r.revision) }),
            h('td', { text: r.time ? new Date(r.time).toISOString() : '' }),
            h('td', { text: r.node || '' }),
            h('td', { text: `${r.role || ''}${r.user ? ` ${r.user}` : ''}` }),
            h('td', { text: `${r.op}${r.to ? ` to ${r.to}` : ''}` }),
            h('td', {}, h('code', { text: r.key || (r.resources || []).join(', ') || '' })),
            h('td', { text: r.client || r.auth || '' })))))));
    } catch (e) {
      err.textContent = e.message;
    }
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  load();
}
