// dom.js: building elements without innerHTML (every text goes in as text).
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

let uniq = 0;
export function id(prefix) { uniq += 1; return `${prefix}-${uniq}`; }

// A labelled field: <div class=field><label for=..>label</label>control<small/></div>
export function field(label, control, help) {
  if (!control.id) control.id = id('f');
  return h('div', { class: 'field' }, h('label', { for: control.id, text: label }), control,
    help ? h('small', { text: help }) : null);
}

export function setMain(title, ...kids) {
  const main = document.getElementById('main');
  main.replaceChildren(h('h1', { text: title }), ...kids);
  document.title = `${title} · apigw`;
  return main;
}

export function say(msg) {
  const st = document.getElementById('status');
  st.textContent = msg;
  clearTimeout(say.t);
  say.t = setTimeout(() => { st.textContent = ''; }, 4000);
}

// A confirmation in a modal <dialog>; resolves true or false.
export function confirmBox(question, okLabel) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { 'aria-labelledby': 'confirm-q' });
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    dlg.append(h('p', { id: 'confirm-q', text: question }),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'danger', onclick: () => done(true), text: okLabel || 'Yes' }),
        h('button', { type: 'button', onclick: () => done(false), text: 'Cancel' })));
    dlg.addEventListener('cancel', () => done(false));
    document.body.append(dlg);
    dlg.showModal();
    dlg.querySelector('button.danger').focus();
  });
}

export function fmtTime(sec) {
  if (!sec) return '';
  return new Date(sec * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
