// cluster.js: members, roles, leader, reachability, raft indexes, served
// revisions and lag, quorum and alarms; refreshed every 3 s.
import { get } from './api.js';
import { h, setMain } from './dom.js';

const EVERY_MS = 3000;

function card(label, value, cls) {
  return h('div', { class: 'card' }, h('div', { class: 'muted', text: label }),
    h('div', { class: `v ${cls || ''}`, text: value }));
}

function table(d) {
  const raft = d.raft || {};
  const byId = new Map((raft.members || []).map((m) => [m.id, m]));
  const rows = (d.members || []).map((m) => {
    const r = byId.get(m.id) || {};
    const lead = m.id === raft.leader_id;
    return h('tr', { 'data-member': m.name || m.id },
      h('td', {}, h('strong', { text: m.name || '' }), h('div', { class: 'muted hide-sm', text: m.id })),
      h('td', { text: `${r.role || ''}${lead ? ' · leader' : ''}` }),
      h('td', { class: m.reachable ? 'ok' : 'bad' },
        m.reachable ? 'reachable' : 'unreachable',
        m.error ? h('div', { class: 'muted', text: m.error }) : null),
      h('td', { text: m.reachable ? String(m.served_revision) : '–' }),
      h('td', { class: m.revision_lag ? 'warn' : '', text: m.reachable ? String(m.revision_lag) : '–' }),
      h('td', { class: 'hide-sm', text: m.reachable ? String(m.applied_index) : '–' }),
      h('td', { class: 'hide-sm' }, /^https?:\/\//.test(r.admin_url || '')
        ? h('a', { href: `${r.admin_url}/ui/`, text: r.admin_url, 'aria-label': `Dashboard of ${m.name || m.id}` }) : ''));
  });
  return h('div', { class: 'scroll' }, h('table', { id: 'members' },
    h('caption', { class: 'muted', text: 'Members (each asked over the node-to-node channel, 1 s bound)' }),
    h('thead', {}, h('tr', {}, ['Member', 'Role', 'Reachability', 'Served revision', 'Lag',
      'Applied index', 'Its dashboard'].map((t, i) => h('th', { scope: 'col', class: i > 4 ? 'hide-sm' : '', text: t })))),
    h('tbody', {}, rows)));
}

export function render() {
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { text: 'Asking the members…' }));
  const err = h('p', { class: 'error', role: 'alert' });
  const when = h('p', { class: 'muted' });
  setMain('Cluster', err, body, when);
  let timer = null;
  let gone = false;
  async function tick() {
    try {
      const d = await get('/cluster');
      const raft = d.raft || {};
      const leader = (raft.members || []).find((m) => m.id === raft.leader_id);
      const down = (d.members || []).filter((m) => !m.reachable).length;
      const alarms = d.alarms || [];
      err.textContent = '';
      body.replaceChildren(
        h('div', { class: 'cards' },
          card('Leader', leader ? leader.name || leader.id : 'none known', leader ? '' : 'bad'),
          card('Quorum', raft.has_quorum ? 'yes' : 'no', raft.has_quorum ? 'ok' : 'bad'),
          card('Term', String(raft.term ?? '')),
          card('Commit / applied', `${raft.commit_index ?? ''} / ${raft.applied_index ?? ''}`),
          card('Revision', String(d.revision)),
          card('All serving it', d.all ? 'yes' : 'no', d.all ? 'ok' : 'warn'),
          card('Unreachable', String(down), down ? 'bad' : 'ok'),
          card('Alarms', alarms.length ? alarms.map((a) => `${a.alarm} ${a.member}`).join(', ') : 'none',
            alarms.length ? 'bad' : 'ok')),
        table(d),
        h('p', { class: 'muted', text: `This node: ${raft.name || ''} (${raft.state || ''}); term, commit and leader as this node sees them.` }));
      body.setAttribute('aria-busy', 'false');
      when.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${EVERY_MS / 1000} s.`;
    } catch (e) {
      err.textContent = e.message;
    }
    if (!gone) timer = setTimeout(tick, EVERY_MS);
  }
  tick();
  return () => { gone = true; clearTimeout(timer); };
}
