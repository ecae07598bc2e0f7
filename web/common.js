'use strict';
// What the dashboard and the agent desktop share: element helpers, the JSON API (a lost
// session goes back to the log-in page; an error carries the service's message), and the
// labels of who spoke. Loaded before each page's own script.

const $ = (sel, el = document) => el.querySelector(sel);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
};

async function api(path, opts = {}) {
  const r = await fetch(path, { credentials: 'same-origin', ...opts });
  if (r.status === 401) {
    location.href = '/';
    throw new Error('not logged in');
  }
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try { msg = (await r.json()).error || msg; } catch (_) { /* keep the status */ }
    throw new Error(msg);
  }
  return r.json();
}

// Who spoke; `bridged` is a call after its bridge to an agent (both sides, as one stream).
const SPEAKER_LABELS = { bot: '机器人 bot', callee: '客户 callee', bridged: '通话 call' };
