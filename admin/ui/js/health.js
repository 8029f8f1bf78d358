// health.js: upstream nodes and their health (the health checker's view, as
// the control API shows it) and this node's traffic from its own metrics:
// request rate, status classes and latency per route, sampled every 2 s.
import { call } from './api.js';
import { h, setMain } from './dom.js';
import { lineChart, fmt } from './chart.js';

const EVERY_MS = 2000;
const KEEP = 60; // samples per series (2 minutes)

// Prometheus text -> [{name, labels, value}]
export function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[3] || '')) !== null) labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

// Totals per route: requests, per status class, latency sum and count.
function totals(samples) {
  const t = new Map();
  const get = (r) => {
    if (!t.has(r)) t.set(r, { req: 0, cls: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }, latSum: 0, latCount: 0 });
    return t.get(r);
  };
  for (const s of samples) {
    if (s.name === 'apisix_http_status') {
      const r = get(s.labels.route || '(none)');
      r.req += s.value;
      const c = `${String(s.labels.code || '')[0]}xx`;
      if (c in r.cls) r.cls[c] += s.value;
    } else if (s.name === 'apisix_http_latency_sum' && s.labels.type === 'request') {
      get(s.labels.route || '(none)').latSum += s.value;
    } else if (s.name === 'apisix_http_latency_count' && s.labels.type === 'request') {
      get(s.labels.route || '(none)').latCount += s.value;
    }
  }
  return t;
}

function healthTable(list) {
  if (!Array.isArray(list) || list.length === 0) {
    return h('p', { class: 'muted', text: 'No upstream has health checks configured.' });
  }
  return h('div', { class: 'scroll' }, h('table', { id: 'health' },
    h('thead', {}, h('tr', {}, ['Upstream (key)', 'Type', 'Node', 'Status', 'Successes', 'HTTP / TCP / timeout failures']
      .map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, list.flatMap((u) => (u.nodes || []).map((n) => h('tr', {},
      h('td', {}, h('code', { text: u.name })),
      h('td', { text: u.type }),
      h('td', { text: `${n.ip}:${n.port}` }),
      h('td', { class: /unhealthy|mostly_unhealthy/.test(n.status) ? 'bad' : (n.status === 'healthy' ? 'ok' : 'warn'), text: n.status }),
      h('td', { text: String(n.counter?.success ?? '') }),
      h('td', { text: `${n.counter?.http_failure ?? 0} / ${n.counter?.tcp_failure ?? 0} / ${n.counter?.timeout_failure ?? 0}` })))))));
}

export function render() {
  const err = h('p', { class: 'error', role: 'alert' });
  const health = h('div', {});
  const charts = h('div', {});
  setMain('Health and traffic', err, h('h2', { text: 'Upstream health' }), health,
    h('h2', { text: 'Traffic on this node' }),
    h('p', { class: 'muted', text: `From this node's metrics, sampled every ${EVERY_MS / 1000} s (the last 2 minutes).` }), charts);
  let prev = null;
  const hist = new Map(); // route -> {rate:[], c2..:[], lat:[]}
  let timer = null;
  let gone = false;
  async function tick() {
    try {
      const hl = await call('GET', '/node/health');
      health.replaceChildren(healthTable(hl));
      const text = await call('GET', '/node/metrics');
      const now = { at: Date.now(), t: totals(parseProm(String(text))) };
      if (prev) {
        const dt = (now.at - prev.at) / 1000;
        for (const [route, c] of now.t) {
          const p = prev.t.get(route) || { req: 0, cls: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }, latSum: 0, latCount: 0 };
          if (!hist.has(route)) hist.set(route, { rate: [], '2xx': [], '3xx': [], '4xx': [], '5xx': [], lat: [] });
          const s = hist.get(route);
          const push = (k, v) => { s[k].push(v); if (s[k].length > KEEP) s[k].shift(); };
          push('rate', Math.max(0, (c.req - p.req) / dt));
          for (const k of ['2xx', '3xx', '4xx', '5xx']) push(k, Math.max(0, (c.cls[k] - p.cls[k]) / dt));
          const dc = c.latCount - p.latCount;
          push('lat', dc > 0 ? (c.latSum - p.latSum) / dc : NaN);
        }
      }
      prev = now;
      charts.replaceChildren(...(hist.size === 0 ? [h('p', { class: 'muted', text: prev.t.size ? 'Collecting a second sample…' : 'No requests proxied yet.' })]
        : [...hist.entries()].flatMap(([route, s]) => [
          h('section', { 'data-route': route }, h('h3', { text: `Route ${route}` }),
            h('div', { class: 'charts' },
              lineChart('Requests/s', [{ name: 'all', points: s.rate }], '/s'),
              lineChart('Status classes/s', ['2xx', '3xx', '4xx', '5xx'].map((k) => ({ name: k, points: s[k] })), '/s'),
              lineChart('Mean latency', [{ name: 'request', points: s.lat }], ' ms')),
            h('p', { class: 'muted', text: `Total ${fmt(now.t.get(route)?.req)} requests.` }))])));
      err.textContent = '';
    } catch (e) {
      err.textContent = e.message;
    }
    if (!gone) timer = setTimeout(tick, EVERY_MS);
  }
  tick();
  return () => { gone = true; clearTimeout(timer); };
}
