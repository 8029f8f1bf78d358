// form.js: an object's form made from its JSON schema, kept in step with a
// JSON editor (the textarea is what is saved; the form edits it).
import { h, field } from './dom.js';

// The kind of input a property gets: text, number, bool, enum, list, json.
function kindOf(p) {
  if (!p || typeof p !== 'object') return 'json';
  if (Array.isArray(p.enum)) return 'enum';
  const t = Array.isArray(p.type) ? p.type : [p.type];
  if (t.includes('boolean')) return 'bool';
  if (t.includes('integer') || t.includes('number')) return t.includes('string') ? 'text' : 'number';
  if (t.includes('string')) return 'text';
  if (t.includes('array')) {
    const it = p.items || {};
    if (it.type === 'string' || Array.isArray(it.enum)) return 'list';
    return 'json';
  }
  const alts = p.anyOf || p.oneOf;
  if (Array.isArray(alts) && alts.every((a) => ['string', 'integer', 'number'].includes(a.type))) return 'text';
  return 'json';
}

function help(p, kind) {
  const bits = [];
  if (p.description) bits.push(p.description);
  if (kind === 'list') bits.push('comma-separated');
  if (kind === 'json') bits.push('JSON');
  if (p.enum && kind !== 'enum') bits.push(`one of ${p.enum.join(', ')}`);
  return bits.join(' · ');
}

// Build the form; returns { el, fill(obj) }; onEdit(name, value|undefined)
// is called when the user changes a field (undefined = remove it).
export function schemaForm(schema, opts) {
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const first = opts.first || [];
  const names = [...first.filter((n) => n in props),
    ...Object.keys(props).filter((n) => !first.includes(n) && !(opts.skip || []).includes(n))];
  const setters = new Map();
  const err = new Map();
  const fields = names.map((name) => {
    const p = props[name];
    const kind = kindOf(p);
    let ctl;
    const label = `${name}${required.has(name) ? ' (required)' : ''}`;
    const emit = (v) => opts.onEdit(name, v);
    if (kind === 'bool') {
      ctl = h('select', { name }, h('option', { value: '', text: '(unset)' }),
        h('option', { value: 'true', text: 'true' }), h('option', { value: 'false', text: 'false' }));
      ctl.addEventListener('change', () => emit(ctl.value === '' ? undefined : ctl.value === 'true'));
      setters.set(name, (v) => { ctl.value = v === undefined ? '' : String(!!v); });
    } else if (kind === 'enum') {
      ctl = h('select', { name }, h('option', { value: '', text: '(unset)' }),
        p.enum.map((e) => h('option', { value: JSON.stringify(e), text: String(e) })));
      ctl.addEventListener('change', () => emit(ctl.value === '' ? undefined : JSON.parse(ctl.value)));
      setters.set(name, (v) => { ctl.value = v === undefined ? '' : JSON.stringify(v); });
    } else if (kind === 'number') {
      ctl = h('input', { name, type: 'number', inputmode: 'numeric' });
      ctl.addEventListener('input', () => emit(ctl.value === '' ? undefined : Number(ctl.value)));
      setters.set(name, (v) => { ctl.value = v === undefined ? '' : String(v); });
    } else if (kind === 'text') {
      ctl = h('input', { name, type: 'text', autocomplete: 'off' });
      ctl.addEventListener('input', () => emit(ctl.value === '' ? undefined : ctl.value));
      setters.set(name, (v) => { ctl.value = v === undefined ? '' : String(v); });
    } else if (kind === 'list') {
      ctl = h('input', { name, type: 'text', autocomplete: 'off' });
      ctl.addEventListener('input', () => emit(ctl.value.trim() === '' ? undefined
        : ctl.value.split(',').map((s) => s.trim()).filter(Boolean)));
      setters.set(name, (v) => { ctl.value = Array.isArray(v) ? v.join(', ') : ''; });
    } else {
      ctl = h('textarea', { name, rows: 3, spellcheck: 'false' });
      const e = h('span', { class: 'bad', role: 'alert' });
      err.set(name, e);
      ctl.addEventListener('input', () => {
        if (ctl.value.trim() === '') { e.textContent = ''; emit(undefined); return; }
        try { const v = JSON.parse(ctl.value); e.textContent = ''; emit(v); } catch (x) {
          e.textContent = `not JSON yet: ${x.message}`;
        }
      });
      setters.set(name, (v) => { ctl.value = v === undefined ? '' : JSON.stringify(v, null, 1); e.textContent = ''; });
    }
    ctl.disabled = !!opts.readOnly;
    ctl.dataset.field = name;
    const f = field(label, ctl, help(p, kind));
    if (err.has(name)) f.append(err.get(name));
    return f;
  });
  const el = h('fieldset', { class: 'grid' }, h('legend', { text: opts.legend || 'Fields (from the schema)' }), fields);
  return {
    el,
    fill(obj) {
      for (const [name, set] of setters) set(obj && typeof obj === 'object' ? obj[name] : undefined);
    },
  };
}
