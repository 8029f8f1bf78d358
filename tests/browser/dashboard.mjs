// dashboard.mjs: the dashboard driven in Debian's chromium (headless) by
// playwright-core, against the 3-node cluster tests/integration/
// test_dashboard.py started. Its settings come as JSON in APIGW_DASH:
// {nodes: [{name, admin, proxy}], key, viewer, upstream, shots, chromium}.
// It prints one line per step, "ok - STEP" or "not ok - STEP: why", and
// stops at the first failure (exit 1). To have a node stopped it prints
// "@@stop NAME" and waits for a line on stdin (the test stops it by PID).
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import path from 'node:path';

const cfg = JSON.parse(process.env.APIGW_DASH);
const require = createRequire(path.join(cfg.modules, 'x.js'));
const { chromium } = require('playwright-core');
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

const ui = (i, hash = '') => `http://${cfg.nodes[i].admin}/ui/${hash}`;
const T = 30000; // generous: CI runs test files in parallel on 2 cores
const problems = []; // console errors and page errors (CSP violations show here)

function assert(c, msg) { if (!c) throw new Error(msg); }

async function until(fn, what, ms = T) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e.message; }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

async function adminApi(i, method, p, body, key = cfg.key) {
  const r = await fetch(`http://${cfg.nodes[i].admin}/apisix/admin${p}`, {
    method, headers: { 'X-API-KEY': key, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function proxied(i, uri) {
  const r = await fetch(`http://${cfg.nodes[i].proxy}${uri}`);
  const t = await r.text();
  return r.status === 200 && t.includes(`"path": "${uri}"`);
}

// Every form control of the page shown has a label (screen readers name it).
async function unlabeled(page) {
  return page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((e) => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
    .map((e) => e.name || e.outerHTML.slice(0, 60)));
}

async function shot(page, name) {
  const bad = await unlabeled(page);
  if (bad.length) problems.push(`${name}: controls without a label: ${bad.join(', ')}`);
  await page.screenshot({ path: path.join(cfg.shots, `${name}.png`), fullPage: true });
}

async function login(page, key, i = 0) {
  await page.goto(ui(i, '#/login'));
  await page.getByLabel('Admin API key').fill(key);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#members').waitFor({ timeout: T });
}

const steps = [];
const step = (name, fn) => steps.push([name, fn]);
let browser;
let page;

step('login', async () => {
  await page.goto(ui(0));
  await page.getByLabel('Admin API key').waitFor();
  await shot(page, 'login');
  // a wrong key is refused with the Admin API's words
  await page.getByLabel('Admin API key').fill('not-the-key');
  await page.getByRole('button', { name: 'Log in' }).click();
  await until(async () => (await page.locator('#login-error').textContent()).includes('wrong apikey'), 'the wrong-key error');
  await login(page, cfg.key);
  assert((await page.locator('#who').textContent()) === 'admin', 'role shown is admin');
});

step('cluster page shows three reachable members and the leader', async () => {
  await until(async () => (await page.locator('#members tbody tr td.ok').count()) === 3, 'three reachable members');
  const roles = await page.locator('#members tbody tr td:nth-child(2)').allTextContents();
  assert(roles.filter((r) => r.includes('leader')).length === 1, `one leader in ${roles}`);
  const txt = await page.locator('main').textContent();
  assert(/Term/.test(txt) && /Commit \/ applied/.test(txt) && /Quorum/.test(txt), 'raft cards shown');
  for (const n of cfg.nodes) {
    const href = await page.getByRole('link', { name: `Dashboard of ${n.name}` }).getAttribute('href');
    assert(href === `http://${n.admin}/ui/`, `link to ${n.name}'s dashboard: ${href}`);
  }
  await shot(page, 'cluster');
});

step('create a route through the form; every node proxies it', async () => {
  await page.goto(ui(0, '#/config/routes/new'));
  await page.locator('[data-field=id]').fill('dash1');
  await page.locator('[data-field=name]').fill('dashboard route');
  await page.locator('[data-field=uri]').fill('/dash');
  await page.locator('[data-field=upstream]').fill(JSON.stringify({ type: 'roundrobin', nodes: { [cfg.upstream]: 1 } }));
  // a plugin through its own schema's form
  await until(async () => (await page.getByLabel('Add a plugin').locator('option').count()) > 3, 'the plugin catalogue');
  await page.getByLabel('Add a plugin').selectOption('request-id');
  await page.getByRole('button', { name: 'Add plugin' }).click();
  await page.locator('[data-plugin=request-id] [data-field=header_name]').fill('X-Dash-Id');
  const json = JSON.parse(await page.locator('textarea[name=json]').inputValue());
  assert(json.uri === '/dash' && json.upstream.type === 'roundrobin', `the JSON editor follows the form: ${JSON.stringify(json)}`);
  assert(json.plugins['request-id'].header_name === 'X-Dash-Id', `the plugin form edits the JSON: ${JSON.stringify(json)}`);
  await shot(page, 'route-edit');
  await page.getByRole('button', { name: 'Save' }).click();
  // the save waits until every member serves the write (?wait=served) and says so
  await until(async () => /Saved routes dash1 at revision \d+: served by all 3 members/.test(await page.locator('#status').textContent()), 'the save served by all 3');
  await page.locator('#list-routes tr[data-id=dash1]').waitFor({ timeout: T });
  await shot(page, 'routes');
  for (let i = 0; i < cfg.nodes.length; i++) await until(() => proxied(i, '/dash'), `/dash proxied by ${cfg.nodes[i].name}`);
  const r = await fetch(`http://${cfg.nodes[2].proxy}/dash`);
  assert(r.headers.get('x-dash-id'), 'the request-id plugin set up in the form runs');
});

step('a schema error is shown inline as the Admin API words it', async () => {
  const bad = { id: 'bad1', uri: 'no-slash', upstream: { type: 'roundrobin', nodes: { [cfg.upstream]: 1 } } };
  const want = await adminApi(0, 'PUT', '/routes/bad1', bad);
  assert(want.status === 400, `the API refuses it: ${JSON.stringify(want)}`);
  await page.goto(ui(0, '#/config/routes/new'));
  await page.locator('textarea[name=json]').fill(JSON.stringify(bad));
  await page.getByRole('button', { name: 'Save' }).click();
  await until(async () => (await page.locator('#save-error').textContent()) === want.body.error_msg, `inline error "${want.body.error_msg}"`);
  assert(page.url().includes('#/config/routes/new'), 'the form stays open');
});

step('edit, then roll back through the history page', async () => {
  await page.goto(ui(1, '#/login')); // through a follower or not: any node
  await login(page, cfg.key, 1);
  await page.goto(ui(1, '#/config/routes/edit/dash1'));
  await page.locator('[data-field=uri]').fill('/dash2');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#list-routes tr[data-id=dash1]').waitFor({ timeout: T });
  await until(() => proxied(0, '/dash2'), '/dash2 proxied after the edit');
  await page.goto(ui(1, '#/history/routes/dash1'));
  const rows = page.locator('#timeline tbody tr');
  await until(async () => (await rows.count()) === 2, 'two changes of dash1 in the timeline');
  const ops = await page.locator('#timeline tbody tr td:nth-child(2)').allTextContents();
  assert(ops[0] === 'update' && ops[1] === 'create', `timeline newest first: ${ops}`);
  const who = await rows.nth(0).locator('td:nth-child(5)').textContent();
  assert(who.includes('admin'), `who made the change: ${who}`);
  await rows.nth(0).getByRole('button', { name: /Show the change/ }).click();
  await until(async () => (await page.locator('#diff').textContent()).includes('/dash2'), 'the diff shows the new uri');
  await shot(page, 'history');
  const createRev = Number(await rows.nth(1).getAttribute('data-revision'));
  await rows.nth(1).getByRole('button', { name: /Roll back to revision/ }).click();
  const dlg = page.locator('dialog');
  await dlg.waitFor();
  assert((await dlg.textContent()).includes('/apisix/routes/dash1'), 'the confirmation names the object');
  await dlg.getByRole('button', { name: 'Roll back' }).click();
  await until(async () => (await adminApi(0, 'GET', '/routes/dash1')).body?.value?.uri === '/dash', 'dash1 back to /dash');
  for (let i = 0; i < cfg.nodes.length; i++) await until(() => proxied(i, '/dash'), `/dash proxied again by ${cfg.nodes[i].name}`);
  await until(async () => (await rows.count()) === 3, 'the rollback in the timeline');
  const d = await adminApi(0, 'GET', `/diff?from=${createRev}&resource=routes&id=dash1`);
  assert(d.status === 200 && d.body.total === 0, `dash1 is as at ${createRev}: ${JSON.stringify(d.body)}`);
  await page.goto(ui(1, '#/audit'));
  await until(async () => (await page.locator('#audit tbody tr').count()) >= 3, 'audit records');
  assert((await page.locator('#audit').textContent()).includes('rollback'), 'the rollback is audited');
  await shot(page, 'audit');
});

step('health and traffic pages', async () => {
  // an upstream with active checks: one live node, one that refuses
  const checks = { active: { type: 'tcp', timeout: 1, healthy: { interval: 1, successes: 1 },
    unhealthy: { interval: 1, tcp_failures: 1 } } };
  const put = await adminApi(0, 'PUT', '/upstreams/hc', { type: 'roundrobin',
    nodes: { [cfg.upstream]: 1, '127.0.0.1:1': 1 }, checks });
  assert(put.status === 201, `upstream hc: ${JSON.stringify(put)}`);
  for (let k = 0; k < 5; k++) await proxied(0, '/dash');
  await page.goto(ui(0, '#/login'));
  await login(page, cfg.key, 0);
  await page.goto(ui(0, '#/health'));
  await until(async () => {
    const t = await page.locator('#health').textContent();
    return t.includes('127.0.0.1:1') && /127\.0\.0\.1:1unhealthy/.test(t) && t.includes(`${cfg.upstream}healthy`) && t;
  }, 'upstream hc: one node healthy, one unhealthy');
  await until(async () => (await page.locator('section[data-route=dash1] svg.chart').count()) === 3, 'three charts for route dash1');
  // traffic while the page samples: the request rate goes above zero
  await until(async () => {
    for (let k = 0; k < 10; k++) await proxied(0, '/dash');
    const cap = await page.locator('section[data-route=dash1] figcaption').first().textContent();
    return !/all (0\.00|–)\/s/.test(cap) && cap;
  }, 'a request rate above zero');
  await shot(page, 'health');
});

step('a list pages, searches and deletes with confirmation', async () => {
  for (let k = 0; k < 22; k++) {
    const r = await adminApi(0, 'PUT', `/routes/p${String(k).padStart(2, '0')}`, { name: `paged-${k}`, uri: `/p/${k}`, upstream_id: 'hc' });
    assert(r.status === 201, `route p${k}: ${JSON.stringify(r)}`);
  }
  await page.goto(ui(0, '#/config/routes'));
  await until(async () => (await page.locator('main').textContent()).includes('Page 1 of 2 · 23 total'), 'two pages of 23 routes');
  assert((await page.locator('#list-routes tbody tr').count()) === 20, 'twenty on the first page');
  await page.getByRole('button', { name: 'Next page' }).click();
  await until(async () => (await page.locator('#list-routes tbody tr').count()) === 3, 'three on the second page');
  await page.getByRole('searchbox', { name: 'Search' }).fill('paged-1');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  // paged-1, paged-10 ... paged-19
  await until(async () => (await page.locator('#list-routes tbody tr').count()) === 11, 'the eleven names matching paged-1');
  await page.getByRole('button', { name: 'Delete p01' }).click();
  const dlg = page.locator('dialog');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  assert((await adminApi(0, 'GET', '/routes/p01')).status === 200, 'Cancel keeps p01');
  await page.getByRole('button', { name: 'Delete p01' }).click();
  await dlg.getByRole('button', { name: 'Delete' }).click();
  await until(async () => (await adminApi(0, 'GET', '/routes/p01')).status === 404, 'p01 deleted');
  await until(async () => (await page.locator('#list-routes tr[data-id=p01]').count()) === 0, 'p01 gone from the list');
  await shot(page, 'routes-search');
});

step('an ssl private key is never shown, and kept through an edit', async () => {
  const put = await adminApi(0, 'PUT', '/ssls/s1', { cert: cfg.cert, key: cfg.key_pem, snis: ['dash.test'] });
  assert(put.status === 201, `ssl s1: ${JSON.stringify(put)}`);
  const sealed = (await adminApi(0, 'GET', '/ssls/s1')).body.value.key;
  assert(sealed && !sealed.includes('PRIVATE KEY'), 'the API answers the key sealed');
  await page.goto(ui(0, '#/config/ssls'));
  await page.locator('#list-ssls tr[data-id=s1]').waitFor({ timeout: T });
  await page.goto(ui(0, '#/config/ssls/edit/s1'));
  await page.locator('[data-field=snis]').waitFor();
  const text = await page.locator('main').evaluate((m) => m.innerText + [...m.querySelectorAll('input, textarea')].map((e) => e.value).join(' '));
  assert(!text.includes('PRIVATE KEY'), 'no PEM key on the page');
  assert(!text.includes(sealed), 'no sealed key on the page');
  const edited = JSON.parse(await page.locator('textarea[name=json]').inputValue());
  assert(!('key' in edited) && !('keys' in edited), `no key in the JSON editor: ${Object.keys(edited)}`);
  await page.locator('[data-field=snis]').fill('dash.test, www.dash.test');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#list-ssls tr[data-id=s1]').waitFor({ timeout: T });
  const after = (await adminApi(0, 'GET', '/ssls/s1')).body.value;
  assert(after.snis.length === 2 && after.key === sealed, `snis edited, key kept: ${JSON.stringify(after.snis)}`);
});

step('the viewer key gets a read-only dashboard', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const vp = await ctx.newPage();
  vp.on('pageerror', (e) => problems.push(`viewer page error: ${e.message}`));
  await login(vp, cfg.viewer);
  assert((await vp.locator('#who').textContent()).includes('viewer'), 'role shown is viewer');
  await vp.goto(ui(0, '#/config/routes'));
  await vp.locator('#list-routes tr[data-id=dash1]').waitFor({ timeout: T });
  assert(await vp.getByRole('link', { name: /^New / }).count() === 0, 'no New link');
  assert(await vp.getByRole('button', { name: /^Delete/ }).count() === 0, 'no Delete buttons');
  await vp.goto(ui(0, '#/config/routes/edit/dash1'));
  await vp.locator('textarea[name=json]').waitFor();
  assert(await vp.getByRole('button', { name: 'Save' }).count() === 0, 'no Save button');
  assert(await vp.locator('textarea[name=json]').isDisabled(), 'the JSON editor is read-only');
  await vp.goto(ui(0, '#/history/routes/dash1'));
  await vp.locator('#timeline').waitFor({ timeout: T });
  assert(await vp.getByRole('button', { name: /Roll back/ }).count() === 0, 'no rollback buttons');
  // and the API itself refuses the viewer's write, whatever a page does
  const r = await vp.evaluate(async (k) => {
    const x = await fetch('/apisix/admin/routes/v1', { method: 'PUT', headers: { 'X-API-KEY': k }, body: '{"uri":"/v"}' });
    return [x.status, await x.text()];
  }, cfg.viewer);
  assert(r[0] === 401 && r[1].includes('invalid method for role viewer'), `viewer write refused: ${r}`);
  // a key that stops working sends the page back to the login
  await vp.evaluate(() => sessionStorage.setItem('apigw.key', 'rotated-away'));
  await vp.goto(ui(0, '#/config/routes'));
  await vp.getByLabel('Admin API key').waitFor({ timeout: T });
  await ctx.close();
});

step('phone width: no horizontal overflow, navigation reachable', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [hash, sel, name] of [['#/config/routes/edit/dash1', '[data-field=uri]', 'route-edit-phone'],
    ['#/history/routes/dash1', '#timeline', 'history-phone'], ['#/config/routes', '#list-routes', 'routes-phone'],
    ['#/cluster', '#members', 'cluster-phone']]) {
    await page.goto(ui(0, hash));
    await page.locator(sel).waitFor({ timeout: T });
    const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(over <= 1, `${hash}: page wider than the phone by ${over}px`);
    await shot(page, name);
  }
  // keyboard: the skip link comes first, then the navigation
  await page.keyboard.press('Tab');
  assert((await page.evaluate(() => document.activeElement.textContent)) === 'Skip to content', 'skip link first in focus order');
  await page.setViewportSize({ width: 1280, height: 800 });
});

step('the cluster page shows a stopped node as unreachable', async () => {
  const victim = cfg.nodes[2].name;
  process.stdout.write(`@@stop ${victim}\n`);
  const ack = await lines.next();
  assert(ack.value === 'stopped', `the test stopped ${victim}: ${ack.value}`);
  await page.goto(ui(0, '#/cluster'));
  const row = page.locator(`#members tr[data-member=${victim}]`);
  await until(async () => (await row.locator('td.bad').textContent()).includes('unreachable'), `${victim} unreachable`);
  await until(async () => (await page.locator('#members tbody tr td.ok').count()) === 2, 'the two others reachable');
  await shot(page, 'cluster-down');
});

async function main() {
  browser = await chromium.launch({ executablePath: cfg.chromium, headless: true,
    // no background connections: the test machines have no outside network
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // the UI never talks to another origin
  page.on('request', (r) => { const u = new URL(r.url()); if (!cfg.nodes.some((n) => n.admin === u.host)) problems.push(`request off this origin: ${r.url()}`); });
  let failed = false;
  for (const [name, fn] of steps) {
    try {
      await fn();
      const bad = problems.filter((p) => !/401 \(Unauthorized\)|400 \(Bad Request\)/.test(p));
      if (bad.length) throw new Error(`browser reported: ${bad.join(' | ')}`);
      problems.length = 0;
      console.log(`ok - ${name}`);
    } catch (e) {
      console.log(`not ok - ${name}: ${e.message.split('\n').join(' ')}`);
      await shot(page, `failed-${steps.findIndex((s) => s[0] === name)}`).catch(() => {});
      failed = true;
      break;
    }
  }
  await browser.close();
  stdin.close();
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.log(`not ok - setup: ${e.message}`); process.exit(1); });
