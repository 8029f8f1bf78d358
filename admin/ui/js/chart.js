// chart.js: small line charts as inline SVG (no library, no inline style).
const NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#0b5cad', '#1a7f37', '#9a6700', '#b3261e', '#6f42c1'];

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// series: [{name, points: [numbers]}]; one chart, its title and a legend.
export function lineChart(title, series, unit) {
  const W = 400;
  const H = 120;
  const P = 18;
  const root = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img' });
  const all = series.flatMap((s) => s.points).filter((x) => Number.isFinite(x));
  const max = Math.max(1e-9, ...all);
  const n = Math.max(2, ...series.map((s) => s.points.length));
  const t = svg('title', {});
  const last = series.map((s) => `${s.name} ${fmt(s.points[s.points.length - 1])}${unit}`).join(', ');
  t.textContent = `${title}: ${last || 'no data yet'}`;
  root.append(t);
  root.append(svg('line', { x1: P, y1: H - P, x2: W - 4, y2: H - P, stroke: '#d0d7de' }));
  const lbl = svg('text', { x: 4, y: 12, 'font-size': 11, fill: '#5b6570' });
  lbl.textContent = `max ${fmt(max)}${unit}`;
  root.append(lbl);
  series.forEach((s, i) => {
    const pts = s.points.map((v, j) => {
      const x = P + ((W - P - 4) * j) / (n - 1);
      const y = H - P - ((H - 2 * P) * (Number.isFinite(v) ? v : 0)) / max;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    }).join(' ');
    root.append(svg('polyline', { points: pts, stroke: COLORS[i % COLORS.length] }));
  });
  const fig = document.createElement('figure');
  const cap = document.createElement('figcaption');
  cap.textContent = `${title} — ${last || 'no data yet'}`;
  fig.append(root, cap);
  return fig;
}

export function fmt(v) {
  if (!Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 1) return v.toFixed(1);
  return v.toFixed(2);
}
