// config.js: list (search, paging), create/edit (schema form + JSON editor)
// and delete of the Admin API's resources.
import { call, get, qs, session } from './api.js';
import { h, field, setMain, say, confirmBox } from './dom.js';
import { schemaForm } from './form.js';

// Per resource: the title, whether POST creates (else the id is required),
// the id's field, the form's first fields and the list's summary.
const RES = {
  routes: { title: 'Routes', post: true, first: ['id', 'name', 'desc', 'uri', 'uris', 'methods', 'host', 'hosts', 'upstream_id', 'service_id', 'upstream', 'plugins', 'plugin_config_id', 'priority', 'status'],
    sum: (v) => [v.uri || (v.uris || []).join(' '), (v.methods || []).join(',')].filter(Boolean).join(' ') },
  services: { title: 'Services', post: true, first: ['id', 'name', 'desc', 'upstream_id', 'upstream', 'plugins', 'hosts'],
    sum: (v) => v.upstream_id ? `upstream ${v.upstream_id}` : '' },
  upstreams: { title: 'Upstreams', post: true, first: ['id', 'name', 'desc', 'type', 'nodes', 'scheme', 'pass_host', 'retries', 'timeout', 'checks'],
    sum: (v) => `${v.type || ''} ${nodesText(v.nodes)}` },
  consumers: { title: 'Consumers', post: false, idField: 'username', first: ['username', 'desc', 'group_id', 'plugins', 'labels'],
    sum: (v) => Object.keys(v.plugins || {}).join(', ') },
  ssls: { title: 'SSLs', post: true, first: ['id', 'snis', 'sni', 'cert', 'type', 'status'], secret: ['key', 'keys'],
    sum: (v) => (v.snis || [v.sni]).filter(Boolean).join(', ') },
  global_rules: { title: 'Global rules', post: false, first: ['id', 'plugins'],
    sum: (v) => Object.keys(v.plugins || {}).join(', ') },
  plugin_configs: { title: 'Plugin configs', post: false, first: ['id', 'desc', 'plugins', 'labels'],
    sum: (v) => Object.keys(v.plugins || {}).join(', ') },
};
const PAGE = 20;
// writes wait (a little) until every member serves them (docs/history.md)
const SERVED = '?wait=served&timeout=3s';

export function servedText(s) {
  if (!s) return 'committed';
  if (s.all) return `served by all ${(s.members || []).length || ''} members`.replace('  ', ' ');
  return `committed; not served yet by ${(s.not_serving || []).map((m) => m.name || m.id).join(', ')}`;
}
let pendingRev = 0; // the revision of the last save, until the list shows it
const STAMPS = ['create_time', 'update_time'];

const one = (res) => res.replace(/s$/, '');

function nodesText(n) {
  if (Array.isArray(n)) return n.map((x) => `${x.host}:${x.port}`).join(' ');
  if (n && typeof n === 'object') return Object.keys(n).join(' ');
  return '';
}

function idOf(res, item) {
  const v = item.value || {};
  if (res === 'consumers') return v.username;
  return v.id !== undefined ? String(v.id) : item.key.split('/').pop();
}

export function render(args) {
  const [res, action, id] = args;
  if (!RES[res]) { setMain('Not found', h('p', { text: `No resource ${res}.` })); return undefined; }
  if (action === 'new' || action === 'edit') return edit(res, action === 'edit' ? id : null);
  return list(res);
}

function list(res) {
  const meta = RES[res];
  let page = 1;
  const search = h('input', { type: 'search', name: 'search', placeholder: res === 'routes' ? 'name or /uri (regex)' : 'name (regex)' });
  const err = h('p', { class: 'error', role: 'alert' });
  const body = h('div', { 'aria-live': 'polite' });
  const pager = h('div', { class: 'toolbar' });
  const form = h('form', { class: 'toolbar', role: 'search' }, field('Search', search),
    h('button', { type: 'submit', text: 'Search' }),
    session.readOnly ? null : h('a', { class: 'btn', href: `#/config/${res}/new`, text: `New ${meta.title.replace(/s$/, '').toLowerCase()}` }));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); page = 1; load(); });
  setMain(meta.title, form, err, body, pager);

  async function load() {
    const q = search.value.trim();
    // a write just made through this node committed on the leader: wait
    // (briefly) until this node's store has it, so the list shows it
    for (let i = 0; i < 25 && pendingRev; i++) {
      try { if ((await get('/history?limit=1')).revision >= pendingRev) break; } catch (e) { break; }
      await new Promise((r) => setTimeout(r, 200));
    }
    pendingRev = 0;
    const filt = q === '' ? {} : (res === 'routes' && q.startsWith('/') ? { uri: q } : { name: q });
    try {
      const d = await get(`/${res}${qs({ page, page_size: PAGE, ...filt })}`);
      err.textContent = '';
      const items = d.list || [];
      body.replaceChildren(items.length === 0 ? h('p', { class: 'muted', text: 'Nothing here yet.' })
        : h('div', { class: 'scroll' }, h('table', { id: `list-${res}` },
          h('thead', {}, h('tr', {}, ['ID', 'Name', 'Summary', 'Revision', 'Actions'].map((t) => h('th', { scope: 'col', text: t })))),
          h('tbody', {}, items.map((it) => row(res, it, load))))));
      const pages = Math.max(1, Math.ceil((d.total || 0) / PAGE));
      pager.replaceChildren(
        h('button', { type: 'button', disabled: page <= 1, onclick: () => { page -= 1; load(); }, text: 'Previous page' }),
        h('span', { text: `Page ${page} of ${pages} · ${d.total || 0} total` }),
        h('button', { type: 'button', disabled: page >= pages, onclick: () => { page += 1; load(); }, text: 'Next page' }));
    } catch (e) {
      err.textContent = e.message;
    }
  }
  load();
}

function row(res, it, reload) {
  const v = it.value || {};
  const id = idOf(res, it);
  const del = async () => {
    if (!await confirmBox(`Delete ${res} ${id}? This cannot be undone here (use History to roll back).`, 'Delete')) return;
    try {
      await call('DELETE', `/${res}/${encodeURIComponent(id)}${SERVED}`);
      say(`Deleted ${res} ${id}`);
      reload();
    } catch (e) {
      say(e.message);
      const p = document.querySelector('main .error');
      if (p) p.textContent = e.message;
    }
  };
  return h('tr', { 'data-id': id },
    h('td', {}, h('a', { href: `#/config/${res}/edit/${encodeURIComponent(id)}`, text: id })),
    h('td', { text: v.name || v.desc || '' }),
    h('td', { text: RES[res].sum(v) }),
    h('td', { text: String(it.modifiedIndex ?? '') }),
    h('td', {}, h('div', { class: 'toolbar' },
      h('a', { class: 'btn', href: `#/config/${res}/edit/${encodeURIComponent(id)}`, text: session.readOnly ? 'View' : 'Edit', 'aria-label': `${session.readOnly ? 'View' : 'Edit'} ${id}` }),
      h('a', { class: 'btn', href: `#/history/${res}/${encodeURIComponent(id)}`, text: 'History', 'aria-label': `History of ${id}` }),
      session.readOnly ? null : h('button', { type: 'button', class: 'danger', onclick: del, text: 'Delete', 'aria-label': `Delete ${id}` }))));
}

// Replace the "$ref"s of the top-level properties (and of their array
// items) with the named schemas (GET /schema/<name>), fetched once each.
const refCache = new Map();
async function resolveRefs(schema) {
  const props = (schema && schema.properties) || {};
  const one = async (p) => {
    if (!p || typeof p.$ref !== 'string') return p;
    if (!refCache.has(p.$ref)) refCache.set(p.$ref, get(`/schema/${encodeURIComponent(p.$ref)}`).catch(() => ({})));
    return { ...(await refCache.get(p.$ref)), ...Object.fromEntries(Object.entries(p).filter(([k]) => k !== '$ref')) };
  };
  await Promise.all(Object.keys(props).map(async (k) => {
    props[k] = await one(props[k]);
    if (props[k].items) props[k] = { ...props[k], items: await one(props[k].items) };
  }));
  return schema;
}

// The plugins of an object as forms: one per configured plugin, made from its
// schema (GET /plugins/<name>), plus a picker of the catalogue
// (GET /plugins/list). @obj() gives the current object; @changed() is
// called after an edit here.
function pluginEditor(obj, changed, ro) {
  const box = h('section', { id: 'plugin-forms', 'aria-labelledby': 'plugins-h' });
  const pick = h('select', { name: 'add-plugin' });
  const add = h('button', { type: 'button', text: 'Add plugin', disabled: ro });
  const list = h('div', {});
  let shown = '';
  get('/plugins/list').then((names) => {
    pick.replaceChildren(...names.map((n) => h('option', { value: n, text: n })));
  }).catch(() => {});
  add.addEventListener('click', () => {
    const o = obj();
    o.plugins = o.plugins && typeof o.plugins === 'object' ? o.plugins : {};
    if (!(pick.value in o.plugins)) o.plugins[pick.value] = {};
    changed();
    render(true);
  });
  async function render(force) {
    const o = obj();
    const plugins = o.plugins && typeof o.plugins === 'object' && !Array.isArray(o.plugins) ? o.plugins : {};
    const key = Object.keys(plugins).join(',');
    if (!force && key === shown) return;
    shown = key;
    const parts = await Promise.all(Object.keys(plugins).map(async (name) => {
      let schema = {};
      try { schema = await resolveRefs(await get(`/plugins/${encodeURIComponent(name)}`)); } catch (e) { /* JSON only */ }
      const f = schemaForm(schema, {
        readOnly: ro,
        legend: `Plugin ${name}`,
        onEdit(k, v) {
          const cur = obj().plugins?.[name];
          if (!cur || typeof cur !== 'object') return;
          if (v === undefined) delete cur[k]; else cur[k] = v;
          changed();
        },
      });
      f.fill(plugins[name]);
      const rm = h('button', { type: 'button', class: 'danger', text: `Remove ${name}`, disabled: ro,
        onclick: () => { delete obj().plugins[name]; if (!Object.keys(obj().plugins).length) delete obj().plugins; changed(); render(true); } });
      return h('div', { 'data-plugin': name }, f.el, rm);
    }));
    list.replaceChildren(...parts);
  }
  box.append(h('h2', { id: 'plugins-h', text: 'Plugins' }),
    ro ? null : h('div', { class: 'toolbar' }, field('Add a plugin', pick), add), list);
  return { el: box, render };
}

async function edit(res, id) {
  const meta = RES[res];
  const ro = session.readOnly;
  const err = h('div', { class: 'error', role: 'alert', id: 'save-error' });
  const json = h('textarea', { name: 'json', rows: 14, spellcheck: 'false', 'aria-describedby': 'save-error', disabled: ro });
  const jsonErr = h('span', { class: 'bad', role: 'alert' });
  setMain(id ? `${ro ? 'View' : 'Edit'} ${one(res)} ${id}` : `New ${one(res)}`, h('p', { text: 'Loading…' }));
  let schema = {};
  let obj = {};
  let secrets = {};
  let rev = null;
  try {
    schema = await resolveRefs(await get(`/schema/${res}`));
    if (id) {
      const d = await get(`/${res}/${encodeURIComponent(id)}`);
      obj = { ...(d.value || {}) };
      rev = d.modifiedIndex;
    }
  } catch (e) {
    setMain(`${res} ${id || ''}`, h('p', { class: 'error', role: 'alert', text: e.message }));
    return undefined;
  }
  for (const k of STAMPS) delete obj[k];
  for (const k of meta.secret || []) {
    if (k in obj) { secrets[k] = obj[k]; delete obj[k]; }
  }
  const write = () => { json.value = JSON.stringify(obj, null, 2); };
  const form = schemaForm(schema, {
    first: meta.first,
    skip: [...STAMPS, ...(meta.secret || [])],
    readOnly: ro,
    onEdit(name, v) {
      if (v === undefined) delete obj[name]; else obj[name] = v;
      write();
      if (name === 'plugins' && plugins) plugins.render(false);
    },
  });
  const hasPlugins = 'plugins' in ((schema && schema.properties) || {});
  const plugins = hasPlugins ? pluginEditor(() => obj, () => { write(); form.fill(obj); }, ro) : null;
  json.addEventListener('input', () => {
    try {
      const v = JSON.parse(json.value);
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('the object must be a JSON object');
      obj = v;
      jsonErr.textContent = '';
      form.fill(obj);
      if (plugins) plugins.render(true);
    } catch (e) {
      jsonErr.textContent = `not valid JSON: ${e.message}`;
    }
  });
  write();
  form.fill(obj);
  if (plugins) plugins.render(true);
  const save = async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    let body;
    try { body = JSON.parse(json.value); } catch (e) {
      err.textContent = `The JSON editor does not hold valid JSON: ${e.message}`;
      json.focus();
      return;
    }
    for (const [k, v] of Object.entries(secrets)) if (!(k in body)) body[k] = v; // sealed keys kept
    const bid = res === 'consumers' ? body.username : body.id;
    const target = id || (bid !== undefined && bid !== '' ? String(bid) : null);
    try {
      let d;
      if (res === 'consumers') d = await call('PUT', `/consumers${SERVED}`, body);
      else if (target) d = await call('PUT', `/${res}/${encodeURIComponent(target)}${SERVED}`, body);
      else if (meta.post) d = await call('POST', `/${res}${SERVED}`, body);
      else { err.textContent = `${res} need an id`; return; }
      const nid = target || idOf(res, d);
      pendingRev = d.modifiedIndex || 0;
      say(`Saved ${res} ${nid} at revision ${d.modifiedIndex ?? ''}: ${servedText(d.served)}`);
      location.hash = `#/config/${res}`;
    } catch (e) {
      err.textContent = e.message;
      err.focus?.();
    }
  };
  const secretNote = meta.secret ? h('p', { class: 'muted', text: Object.keys(secrets).length
    ? 'The private key is stored sealed and never shown; it is kept as it is unless you add "key" in the JSON editor.'
    : 'Private keys are sealed when stored and never shown again.' }) : null;
  const f = h('form', { id: 'edit-form', novalidate: true },
    ro ? h('p', { class: 'warn', text: 'Read-only: the viewer key cannot change the config.' }) : null,
    rev ? h('p', { class: 'muted', text: `Last modified at revision ${rev}.` }) : null,
    secretNote, form.el, plugins ? plugins.el : null,
    h('h2', { text: 'JSON editor' }),
    field('Object as JSON (what is saved)', json), jsonErr, err,
    h('div', { class: 'toolbar' },
      ro ? null : h('button', { type: 'submit', class: 'primary', text: 'Save' }),
      h('a', { class: 'btn', href: `#/config/${res}`, text: 'Back to the list' })));
  f.addEventListener('submit', save);
  err.tabIndex = -1;
  setMain(id ? `${ro ? 'View' : 'Edit'} ${one(res)} ${id}` : `New ${one(res)}`, f);
  return undefined;
}
