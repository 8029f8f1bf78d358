// api.js: every call of the Admin API, with the key of the session.
const KEY = 'apigw.key';
const ROLE = 'apigw.role';

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get role() { return sessionStorage.getItem(ROLE); },
  get readOnly() { return sessionStorage.getItem(ROLE) !== 'admin'; },
  set(key, role) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(ROLE, role); },
  clear() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(ROLE); },
};

export class ApiError extends Error {
  constructor(status, body) {
    super(errorText(status, body));
    this.status = status;
    this.body = body;
  }
}

// The Admin API's own words: error_msg (+ description for 401), message, error.
export function errorText(status, body) {
  if (body && typeof body === 'object') {
    const parts = [body.error_msg, body.description, body.message, body.error]
      .filter((x) => typeof x === 'string' && x);
    if (parts.length) return parts.join(': ');
  }
  if (typeof body === 'string' && body) return `${status}: ${body}`;
  return `HTTP ${status}`;
}

export async function call(method, path, body, key) {
  const headers = { 'X-API-KEY': key || session.key || '' };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/apisix/admin${path}`, init);
  } catch (e) {
    throw new ApiError(0, `cannot reach this node: ${e.message}`);
  }
  const text = await res.text();
  let data = text;
  try { data = text ? JSON.parse(text) : null; } catch (e) { /* keep the text */ }
  if (!res.ok) {
    // the session's key stopped working (rotated, or another cluster's):
    // back to the login page rather than an error on every page
    if (res.status === 401 && !key && session.key && data && /wrong apikey|missing apikey/.test(data.description || '')) {
      session.clear();
      location.hash = '#/login';
    }
    throw new ApiError(res.status, data);
  }
  return data;
}

export const get = (p) => call('GET', p);

// The role of @key: a read shows it is a key at all; a write the viewer may
// not make tells the two apart (a schema check: nothing is stored).
export async function whoIs(key) {
  await call('GET', '/routes?page_size=10', undefined, key);
  try {
    await call('POST', '/schema/validate/routes', {}, key);
    return 'admin';
  } catch (e) {
    if (e.status === 401) return 'viewer';
    return 'admin'; // 400: the (empty) body was checked, so the key may write
  }
}

export function qs(params) {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined && v !== null) s.set(k, v);
  const t = s.toString();
  return t ? `?${t}` : '';
}
