'use strict';
// The agent desktop. The agent is the logged-in user (user name = agent id). Its state and
// screen pop come from /api/v1/agents/{id}/screen, read again whenever the agent's feed
// (Server-Sent Events) says its state changed, and every 15 s; the feed also carries the
// events of the call on the screen: the live transcript. Data is put on the page with
// textContent only: nothing the service sends is parsed as HTML.

const state = {
  agent: null, // the agent id: the user's name
  screen: null, // the last answer of /screen
  call: null, // the call on the screen, whose events the feed carries
  feed: null,
  refreshTimer: null,
  filedCall: null,
};

const STATE_LABELS = {
  logged_out: '未签入 logged out', available: '就绪 ready', offered: '来电振铃 ringing',
  on_call: '通话中 on a call', wrap_up: '话后处理 wrap-up', break: '小休 break',
};
const PHASE_LABELS = {
  offered: '来电振铃 · ringing', talking: '通话中 · talking', ended: '已挂断 · ended — 请填写小结 file the disposition',
};
const OUTCOME_LABELS = {
  sale: '成交 sale', interested: '有意向 interested', callback: '预约回访 callback',
  not_interested: '无意向 not interested', dnc: '勿扰 do not call', wrong_number: '打错 wrong number',
};
const INTENT_LABELS = {
  affirm: '肯定 affirm', deny: '否定 deny', busy_callback: '忙/回拨 busy', hesitate: '犹豫 hesitate',
  ask_price: '问价格 asks price', ask_detail: '问详情 asks details', ask_identity: '问身份 who is it',
  complaint: '投诉 complaint', dnc_request: '勿扰 DNC', wrong_person: '打错 wrong person',
  already_have: '已有 already has', request_human: '转人工 wants a human', repeat: '重复 repeat',
  voicemail: '语音信箱 voicemail', other: '其他 other',
};

const post = (path, body) => api(path, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body || {}),
});

const when = (unixS) => new Date(unixS * 1000).toLocaleString('zh-CN', { hour12: false });

function showMessage(text) {
  const m = $('#message');
  m.textContent = text || '';
  m.hidden = !text;
}

// ---- start ----

document.addEventListener('DOMContentLoaded', async () => {
  $('#btn-ready').addEventListener('click', goReady);
  $('#btn-break').addEventListener('click', takeBreak);
  $('#btn-logout').addEventListener('click', logOut);
  $('#dispo-form').addEventListener('submit', fileDisposition);
  $('#dispo-outcome').addEventListener('change', outcomeChanged);
  let me;
  try {
    me = await api('/api/v1/me');
  } catch (e) {
    showMessage(e.message);
    return;
  }
  state.agent = me.user;
  $('#me').textContent = `${me.user} (${me.role})`;
  await refresh();
  if (!state.feed) connectFeed(state.call);
  setInterval(refresh, 15000);
});

const agentPath = (op) => `/api/v1/agents/${encodeURIComponent(state.agent)}/${op}`;

// ---- state buttons ----

async function act(fn) {
  showMessage('');
  for (const b of document.querySelectorAll('header button')) b.disabled = true;
  try {
    await fn();
  } catch (e) {
    showMessage(e.message);
  } finally {
    for (const b of document.querySelectorAll('header button')) b.disabled = false;
    await refresh();
  }
}

function goReady() {
  return act(async () => {
    // Logged out of the desk: log in first, then ready.
    if (state.screen && state.screen.agent.state.state === 'logged_out') await post(agentPath('login'));
    await post(agentPath('ready'));
  });
}

function takeBreak() {
  return act(() => post(agentPath('break'), { reason: $('#break-reason').value }));
}

async function logOut() {
  await act(() => post(agentPath('logout')));
  if (!$('#message').hidden) return; // the desk refused (a call on screen): stay
  try { await fetch('/api/v1/logout', { method: 'POST', credentials: 'same-origin' }); } finally {
    location.href = '/';
  }
}

// ---- the screen ----

function scheduleRefresh(ms = 250) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, ms);
}

async function refresh() {
  let s;
  try {
    s = await api(agentPath('screen'));
  } catch (e) {
    showMessage(e.message);
    return;
  }
  state.screen = s;
  const a = s.agent.state;
  const badge = $('#agent-state');
  badge.textContent = STATE_LABELS[a.state] + (a.reason ? ` · ${a.reason}` : '');
  badge.className = `badge state-${a.state}`;
  $('#waiting').textContent = s.waiting;
  $('#idle-hint').textContent = a.state === 'available' ? '已就绪 · ready for calls'
    : a.state === 'logged_out' ? '点击“就绪”开始接听 · click Ready to take calls'
      : STATE_LABELS[a.state];
  const call = s.screen ? s.screen.call : null;
  if (call !== state.call) {
    state.call = call;
    $('#live-lines').replaceChildren();
    $('#live-empty').hidden = false;
    $('#dispo-error').hidden = true;
    if (call) $('#filed').hidden = true;
    connectFeed(call);
  }
  $('#idle').hidden = !!s.screen;
  $('#pop').hidden = !s.screen;
  if (s.screen) showPop(s.screen, s.outcomes);
}

function turnLine(speaker, text, intent, note) {
  const li = el('li', `line ${speaker}`);
  li.append(el('span', 'who', SPEAKER_LABELS[speaker] || speaker));
  li.append(document.createTextNode(text));
  if (intent) li.append(el('span', 'intent', INTENT_LABELS[intent] || intent));
  if (note) li.append(el('span', 'note', note));
  return li;
}

function showPop(p, outcomes) {
  const phase = $('#pop-phase');
  phase.textContent = PHASE_LABELS[p.phase];
  phase.className = `badge phase-${p.phase}`;
  $('#pop-name').textContent = p.name || '客户 callee';
  $('#pop-callee').textContent = p.callee;
  $('#pop-campaign').textContent = p.campaign;
  $('#pop-queue').textContent = p.skills.length ? `${p.queue} (${p.skills.join(', ')})` : p.queue;
  $('#pop-node').textContent = p.node;
  $('#pop-intent').textContent = INTENT_LABELS[p.intent] || p.intent;
  $('#pop-callback').textContent = p.callback_at ? when(p.callback_at) : '–';
  $('#pop-amount').textContent = p.amount !== null && p.amount !== undefined ? `¥${p.amount}` : '–';
  $('#pop-language').textContent = p.language || '–';
  const fields = Object.entries(p.fields);
  $('#pop-fields').replaceChildren(...fields.flatMap(([k, v]) => [el('dt', null, k), el('dd', null, v)]));

  const score = p.lead ? p.lead.probability : p.lead_score;
  $('#pop-score').textContent = score === null || score === undefined ? '无评分 · not scored' : `${(100 * score).toFixed(0)}%`;
  $('#pop-segment').textContent = p.lead && p.lead.segment ? `分群 segment: ${p.lead.segment}` : '';
  const reasons = p.lead ? p.lead.reasons : [];
  $('#pop-reasons').replaceChildren(...(reasons.length ? reasons.map((r) => {
    const li = el('li', r.contribution >= 0 ? 'pos' : 'neg');
    li.append(el('span', 'feature', `${r.feature} = ${r.value || '（空 missing）'}`));
    li.append(el('span', 'num', `${r.contribution >= 0 ? '+' : ''}${r.contribution.toFixed(2)}`));
    return li;
  }) : [el('li', 'muted', '活动无线索模型 · the campaign has no lead model')]));

  if (p.suggestion) {
    $('#pop-suggestion-q').textContent = `客户问 · the callee asked: “${p.suggestion.question}”`;
    $('#pop-suggestion').textContent = p.suggestion.answer;
  } else {
    $('#pop-suggestion-q').textContent = '';
    $('#pop-suggestion').textContent = '问答库中无匹配 · nothing in the Q&A corpus matches';
  }

  $('#pop-conversation').replaceChildren(...p.conversation.map((t) => turnLine(t.speaker, t.text, t.intent, t.note)));

  const dispo = $('#dispo');
  const ended = p.phase === 'ended';
  if (dispo.hidden && ended) fillOutcomes(outcomes, p);
  dispo.hidden = !ended;
}

function fillOutcomes(outcomes, p) {
  const sel = $('#dispo-outcome');
  const values = ['sale', ...outcomes];
  sel.replaceChildren(...values.map((v) => {
    const o = el('option', null, OUTCOME_LABELS[v] || v);
    o.value = v;
    return o;
  }));
  sel.value = p.callback_at ? 'callback' : 'interested';
  const input = $('#dispo-callback');
  input.value = '';
  if (p.callback_at) {
    // datetime-local wants local time without a zone.
    const d = new Date(p.callback_at * 1000);
    input.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }
  $('#dispo-notes').value = '';
  outcomeChanged();
}

function outcomeChanged() {
  $('#dispo-callback').required = $('#dispo-outcome').value === 'callback';
}

async function fileDisposition(e) {
  e.preventDefault();
  const err = $('#dispo-error');
  err.hidden = true;
  const p = state.screen && state.screen.screen;
  if (!p) return;
  const choice = $('#dispo-outcome').value;
  const cb = $('#dispo-callback').value;
  const body = {
    call: p.call,
    outcome: choice === 'sale' ? 'interested' : choice,
    converted: choice === 'sale',
    notes: $('#dispo-notes').value,
    callback_at: cb ? Math.floor(new Date(cb).getTime() / 1000) : null,
  };
  const button = $('#dispo-submit');
  button.disabled = true;
  try {
    const r = await post(agentPath('disposition'), body);
    const filed = $('#filed');
    filed.textContent = `已提交小结 · disposition filed: ${OUTCOME_LABELS[choice] || choice}`
      + (r.dnc ? ' · 已加入勿扰名单 added to the DNC list' : '')
      + (r.next ? ` · 拨号器 dialer: ${r.next}` : '');
    filed.hidden = false;
  } catch (x) {
    err.textContent = `提交失败 · not filed: ${x.message}`;
    err.hidden = false;
  } finally {
    button.disabled = false;
    await refresh();
  }
}

// ---- the feed ----

function setFeed(on, text) {
  const s = $('#feed-status');
  s.className = `feed ${on ? 'on' : 'off'}`;
  s.textContent = text;
}

function connectFeed(call) {
  if (!state.agent) return;
  if (state.feed) state.feed.close();
  const q = call ? `?call=${encodeURIComponent(call)}` : '';
  const es = new EventSource(agentPath('events') + q);
  state.feed = es;
  es.addEventListener('ready', () => { setFeed(true, '实时 · live'); scheduleRefresh(0); });
  es.addEventListener('lagged', () => { setFeed(false, '追赶中 · catching up'); scheduleRefresh(0); });
  es.addEventListener('bye', () => setFeed(false, '服务停止 · service stopping'));
  es.onerror = () => setFeed(false, '重新连接 · reconnecting');
  es.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (_) { return; }
    if (ev.type === 'agent') {
      // The desk shows the change a moment after it announces it.
      scheduleRefresh();
    } else if (ev.type === 'call' && ev.data.uuid === state.call) {
      const d = ev.data;
      if (d.event === 'turn') {
        $('#live-lines').append(turnLine(d.speaker, d.text, d.intent));
        $('#live-empty').hidden = true;
      } else if (d.event === 'ended') {
        scheduleRefresh();
      }
    }
  };
}
