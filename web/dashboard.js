'use strict';
// The wallboard. State comes from the service's JSON routes on load and then from its live
// feed (Server-Sent Events): campaign figures every second, every call's events, alerts.
// Reports (funnel, hours, intents, latency) are read again every 10 s and when a call ends.
// Data is put on the page with textContent only: nothing the service sends is parsed as HTML.

const WINDOW_S = 600;

const state = {
  me: null,
  campaigns: [],
  campaign: null,
  calls: new Map(), // uuid -> live call (the fold of its events)
  alerts: [],
  series: { t: [], up: [], ended: [] },
  feed: null,
  selected: null, // { uuid, campaign, live }
  charts: { up: null, hours: null },
  reportTimer: null,
  recentTimer: null,
};

const STATE_LABELS = {
  ringing: '振铃 ringing',
  talking: '通话中 talking',
};
const DISPOSITION_LABELS = {
  interested: '有意向 interested', not_interested: '无意向 not interested',
  callback: '回拨 callback', dnc: '勿扰 DNC', wrong_number: '打错 wrong number',
  voicemail: '语音信箱 voicemail', transferred: '已转人工 transferred',
  no_response: '无应答 no response', callee_hangup: '客户挂断 callee hung up',
  failed: '失败 failed', completed: '完成 completed', abandoned: '放弃 abandoned',
  interrupted: '中断 interrupted', busy: '忙 busy', no_answer: '未接 no answer',
  converted: '成交 converted', rejected: '拒接 rejected', invalid_number: '空号 invalid number',
  powered_off: '关机 powered off', unreachable: '无法接通 unreachable', suspended: '停机 suspended',
  network_failure: '网络故障 network failure', gateway_down: '网关故障 gateway down',
  cancelled: '取消 cancelled', unknown: '未知 unknown',
};
const ALERT_LABELS = {
  abandon_rate: '放弃率 abandon rate', asr_latency: '识别延迟 recognition latency',
  negative_sentiment: '负面情绪 negative sentiment', switch_lost: '交换机 switch',
};

const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? '–' : `${(100 * x).toFixed(1)}%`);
const ms = (x) => (x === null || x === undefined ? '–' : `${x} ms`);
const clock = (t) => new Date(t).toLocaleTimeString('zh-CN', { hour12: false });
function duration(s) {
  s = Math.max(0, Math.floor(s));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}
const stateLabel = (s) => STATE_LABELS[s] || DISPOSITION_LABELS[s]
  || (s && s.startsWith('transferred to') ? `转人工 ${s}` : s || '');

// ---- start ----

document.addEventListener('DOMContentLoaded', async () => {
  $('#logout').addEventListener('click', logout);
  $('#t-close').addEventListener('click', closeTranscript);
  $('#campaign').addEventListener('change', (e) => selectCampaign(e.target.value));
  if (!window.uPlot) $('#charts-missing').hidden = false;
  try {
    state.me = await api('/api/v1/me');
  } catch (e) {
    return;
  }
  if (state.me.role === 'agent') {
    // Agents see nothing here: their page is the desktop.
    location.href = '/agent';
    return;
  }
  $('#me').textContent = `${state.me.user} (${state.me.role})`;
  $('#calls-hint').textContent = state.me.read_calls
    ? '点击查看对话 · click a call for its transcript'
    : '查看对话需主管权限 · transcripts need the supervisor role';
  await loadCampaigns();
  loadAgents();
  setInterval(tickDurations, 1000);
  setInterval(loadCampaigns, 10000);
});

async function logout() {
  try { await fetch('/api/v1/logout', { method: 'POST', credentials: 'same-origin' }); } finally {
    location.href = '/';
  }
}

async function loadCampaigns() {
  let list;
  try {
    list = await api('/api/v1/live/campaigns');
  } catch (e) {
    setFeed(false, `错误 · ${e.message}`);
    return;
  }
  state.campaigns = list;
  const sel = $('#campaign');
  const names = list.map((c) => c.name);
  if (sel.options.length !== names.length || [...sel.options].some((o, i) => o.value !== names[i])) {
    sel.replaceChildren(...names.map((n) => { const o = el('option', null, n); o.value = n; return o; }));
  }
  if (!state.campaign || !names.includes(state.campaign)) {
    const running = list.find((c) => c.running) || list[0];
    if (running) selectCampaign(running.name);
    else setFeed(false, '没有活动 · no campaigns');
  } else {
    sel.value = state.campaign;
    showCampaign();
  }
}

function current() {
  return state.campaigns.find((c) => c.name === state.campaign);
}

function selectCampaign(name) {
  state.campaign = name;
  $('#campaign').value = name;
  state.calls.clear();
  state.series = { t: [], up: [], ended: [] };
  showCampaign();
  connectFeed();
  loadLiveCalls();
  loadReport();
  loadRecent();
  clearInterval(state.reportTimer);
  state.reportTimer = setInterval(() => { loadReport(); loadRecent(); }, 10000);
}

// The stored totals, until the feed's figures (every second while the campaign runs) take over.
function showCampaign() {
  const c = current();
  if (!c) return;
  const badge = $('#campaign-state');
  badge.textContent = { created: '未开始 created', running: '运行中 running', paused: '已暂停 paused', stopped: '已停止 stopped' }[c.state] || c.state;
  badge.className = `badge ${c.state}`;
  if (!c.running) {
    const s = c.status;
    showFigures({
      up: s.up, dialled: s.dialled, answered: s.answered, transferred: s.transferred,
      pending: (s.by_state.Pending || 0) + (s.by_state.pending || 0),
      abandoned: s.abandoned, abandon_rate: s.answered ? s.abandoned / s.answered : 0,
      abandon_cap: c.abandon_cap,
    });
  }
}

function showFigures(f) {
  $('#kpi-up').textContent = f.up;
  $('#kpi-dialled').textContent = f.dialled;
  $('#kpi-answered').textContent = f.answered;
  $('#kpi-answer-rate').textContent = f.dialled ? pct(f.answered / f.dialled) : '–';
  $('#kpi-transferred').textContent = f.transferred;
  $('#kpi-pending').textContent = f.pending;
  const meter = $('#abandon-meter');
  if (f.abandon_cap) {
    $('#kpi-abandon').textContent = `${pct(f.abandon_rate)} / ${pct(f.abandon_cap)}`;
    const share = Math.min(1, f.abandon_rate / f.abandon_cap);
    meter.style.width = `${(100 * share).toFixed(0)}%`;
    meter.className = `fill${share >= 1 ? ' bad' : share >= 0.8 ? ' warn' : ''}`;
  } else {
    $('#kpi-abandon').textContent = `${pct(f.abandon_rate)} · 无上限 no cap`;
    meter.style.width = '0';
  }
}

// ---- the live feed ----

function setFeed(on, text) {
  const s = $('#feed-status');
  s.className = `feed ${on ? 'on' : 'off'}`;
  s.textContent = text;
}

function connectFeed() {
  if (state.feed) state.feed.close();
  const es = new EventSource(`/api/v1/events?campaign=${encodeURIComponent(state.campaign)}`);
  state.feed = es;
  es.addEventListener('ready', () => setFeed(true, '实时 · live'));
  es.addEventListener('lagged', () => {
    // Cut off for falling behind: reload what the events would have told.
    setFeed(false, '追赶中 · catching up');
    loadLiveCalls();
    loadReport();
  });
  es.addEventListener('bye', () => setFeed(false, '服务停止 · service stopping'));
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. the session ended): try again, or go to the log-in.
      setTimeout(() => api('/api/v1/me').then(connectFeed, () => {}), 3000);
    }
    setFeed(false, '重连中 · reconnecting');
  };
  es.onmessage = (e) => {
    let ev;
    try { ev = JSON.parse(e.data); } catch (_) { return; }
    onEvent(ev);
  };
}

function onEvent(ev) {
  switch (ev.type) {
    case 'campaign':
      if (ev.data.campaign === state.campaign) onFigures(ev.data);
      break;
    case 'call':
      onCall(ev.data);
      break;
    case 'alert':
      onAlert(ev.data);
      break;
    case 'agent':
      loadAgents();
      break;
    default:
  }
}

function onFigures(f) {
  // The service counts an answered call once it has ended; the calls up that were answered
  // are in the live table, so the tiles add them (else the answer rate dips while calls last).
  const answeredUp = [...state.calls.values()].filter((c) => c.answered_ms).length;
  showFigures({ ...f, answered: f.answered + answeredUp });
  const badge = $('#campaign-state');
  if (f.state) {
    badge.textContent = { running: '运行中 running', paused: '已暂停 paused', stopped: '已停止 stopped' }[f.state] || f.state;
    badge.className = `badge ${f.state}`;
  }
  const now = Date.now() / 1000;
  const s = state.series;
  s.t.push(now);
  s.up.push(f.up);
  s.ended.push(f.ended_per_min);
  while (s.t.length && s.t[0] < now - WINDOW_S) { s.t.shift(); s.up.shift(); s.ended.shift(); }
  drawUp();
}

// Folds a call's event into the live table, as the service's LiveView does.
function onCall(ev) {
  if (ev.campaign !== state.campaign) return;
  let c = state.calls.get(ev.uuid);
  if (!c && ev.event !== 'ended') {
    c = { uuid: ev.uuid, campaign: ev.campaign, callee: '', state: 'ringing', node: '',
      started_ms: Date.now(), answered_ms: null, last_intent: null, sentiment: null, lines: [] };
    state.calls.set(ev.uuid, c);
  }
  switch (ev.event) {
    case 'started': c.callee = ev.callee; break;
    case 'answered': c.state = 'talking'; c.answered_ms = Date.now(); break;
    case 'turn':
      c.node = ev.node;
      if (ev.intent) c.last_intent = ev.intent;
      if (ev.sentiment !== undefined && ev.sentiment !== null) c.sentiment = ev.sentiment;
      c.lines.push({ at_ms: Date.now(), speaker: ev.speaker, text: ev.text, intent: ev.intent });
      if (c.lines.length > 50) c.lines.shift();
      break;
    case 'transfer': c.state = `transferred to ${ev.queue}`; break;
    case 'barge_in': break;
    case 'ended':
      state.calls.delete(ev.uuid);
      // The report and the list of stored calls now include it.
      clearTimeout(state.recentTimer);
      state.recentTimer = setTimeout(() => { loadRecent(); loadReport(); }, 800);
      break;
    default:
  }
  drawCalls();
  if (state.selected && state.selected.uuid === ev.uuid && state.selected.live) {
    if (ev.event === 'turn') addLine(ev);
    else if (ev.event === 'barge_in') {
      $('#t-barges').append(el('li', null, `${ev.prompt}: 播放 ${ev.played_ms} ms 后被打断 · cut after ${ev.played_ms} ms (${ev.latency_ms} ms)`));
    } else if (ev.event === 'ended') {
      state.selected.live = false;
      $('#t-meta').textContent = `已结束 · ended: ${stateLabel(ev.disposition)}`;
      setTimeout(() => openRecord(ev.campaign, ev.uuid, 5), 800);
    }
  }
}

function onAlert(a) {
  state.alerts.unshift({ ...a, at: Date.now() });
  state.alerts.length = Math.min(state.alerts.length, 50);
  const ul = $('#alerts');
  ul.replaceChildren(...state.alerts.map((x) => {
    const li = el('li', x.cleared ? 'cleared' : 'raised');
    li.append(el('span', 'time', clock(x.at)), el('span', 'kind', `${ALERT_LABELS[x.kind] || x.kind}${x.cleared ? ' 已恢复 cleared' : ''}: `), el('span', null, x.message));
    return li;
  }));
}

// ---- live calls ----

async function loadLiveCalls() {
  const campaign = state.campaign;
  try {
    const calls = await api(`/api/v1/live/calls?campaign=${encodeURIComponent(campaign)}`);
    if (campaign !== state.campaign) return;
    for (const c of calls) state.calls.set(c.uuid, c);
    drawCalls();
  } catch (e) { /* the feed still fills the table */ }
}

function sentimentCell(s) {
  const td = el('td');
  if (s === null || s === undefined) { td.textContent = '–'; return td; }
  const label = s <= -0.3 ? '负面' : s >= 0.3 ? '正面' : '中性';
  td.textContent = `${label} ${s.toFixed(2)}`;
  td.className = s <= -0.3 ? 'neg' : s >= 0.3 ? 'pos' : '';
  return td;
}

function drawCalls() {
  const tbody = $('#live-calls tbody');
  const calls = [...state.calls.values()].sort((a, b) => a.started_ms - b.started_ms);
  $('#no-calls').hidden = calls.length > 0;
  tbody.replaceChildren(...calls.map((c) => {
    const tr = el('tr');
    tr.dataset.uuid = c.uuid;
    const last = c.lines.length ? c.lines[c.lines.length - 1] : null;
    const lastText = last ? `${(SPEAKER_LABELS[last.speaker] || last.speaker).split(' ')[0]}：${last.text || '…'}` : '';
    const dur = el('td', 'dur', '');
    dur.dataset.since = c.answered_ms || c.started_ms;
    tr.append(el('td', null, c.callee), el('td', null, stateLabel(c.state)), el('td', null, c.node),
      el('td', 'text', lastText), el('td', null, c.last_intent || ''), sentimentCell(c.sentiment), dur);
    if (state.me && state.me.read_calls) {
      tr.classList.add('clickable');
      tr.addEventListener('click', () => openLive(c));
    }
    if (state.selected && state.selected.uuid === c.uuid) tr.classList.add('selected');
    return tr;
  }));
  tickDurations();
}

function tickDurations() {
  const now = Date.now();
  for (const td of document.querySelectorAll('#live-calls td.dur')) {
    td.textContent = duration((now - Number(td.dataset.since)) / 1000);
  }
}

// ---- reports, stored calls, agents ----

async function loadReport() {
  const campaign = state.campaign;
  if (!campaign) return;
  let r;
  try { r = await api(`/api/v1/campaigns/${encodeURIComponent(campaign)}/report`); } catch (e) { return; }
  if (campaign !== state.campaign) return;
  const f = r.funnel;
  const steps = [
    ['已拨 dialled', f.dialled], ['接通 answered', f.answered], ['对话 conversations', f.conversations],
    ['有意向 interested', f.interested], ['转人工 transferred', f.transferred],
  ];
  bars($('#funnel'), steps.map(([label, n]) => ({ label, value: n, max: f.dialled, text: f.dialled ? `${n} · ${pct(n / f.dialled)}` : `${n}` })));
  const top = r.intents.slice(0, 8);
  const maxIntent = top.length ? top[0].count : 0;
  if (top.length) bars($('#intents'), top.map((i) => ({ label: i.name, value: i.count, max: maxIntent, text: i.count })));
  else $('#intents').replaceChildren(el('p', 'muted', '暂无 · none yet'));
  $('#lat-p50').textContent = ms(r.turn_latency.p50_ms);
  $('#lat-p95').textContent = ms(r.turn_latency.p95_ms);
  $('#asr-lat').textContent = `${ms(r.asr_latency.p50_ms)} / ${ms(r.asr_latency.p95_ms)}`;
  $('#barge-ins').textContent = r.barge_ins;
  $('#tz').textContent = `(${r.tz})`;
  drawHours(r.by_hour);
}

function bars(container, rows) {
  container.replaceChildren(...rows.map((r) => {
    const row = el('div', 'bar');
    const track = el('div', 'track');
    const fill = el('div', 'fill');
    fill.style.width = `${r.max ? (100 * r.value) / r.max : 0}%`;
    track.append(fill);
    row.append(el('span', 'name', r.label), track, el('span', 'num', r.text));
    return row;
  }));
}

async function loadRecent() {
  const campaign = state.campaign;
  if (!campaign || !state.me || !state.me.read_calls) return;
  let list;
  try { list = await api(`/api/v1/campaigns/${encodeURIComponent(campaign)}/calls?limit=20`); } catch (e) { return; }
  if (campaign !== state.campaign) return;
  const tbody = $('#recent-calls tbody');
  tbody.replaceChildren(...list.map((c) => {
    const tr = el('tr', 'clickable');
    tr.dataset.uuid = c.uuid;
    const intents = el('td');
    for (const i of c.intents) intents.append(el('span', 'tag', i));
    tr.append(el('td', null, c.callee || ''), el('td', null, stateLabel(c.disposition)), intents,
      el('td', null, c.barge_ins), el('td', null, c.transferred_to || ''),
      el('td', null, c.answered ? duration(c.duration_s) : '未接通 early media'),
      el('td', null, clock(c.answered_at)));
    tr.addEventListener('click', () => openRecord(campaign, c.uuid, 0));
    return tr;
  }));
}

async function loadAgents() {
  let a;
  try { a = await api('/api/v1/live/agents'); } catch (e) { return; }
  const agents = $('#agents');
  const queues = $('#queues');
  if (!a.configured) {
    agents.replaceChildren(el('p', 'muted', '未配置坐席 · no agents configured'));
    queues.replaceChildren(el('p', 'muted', '无队列 · no queues'));
    return;
  }
  const states = Object.entries(a.by_state);
  const most = Math.max(1, ...states.map(([, n]) => n));
  bars(agents, states.map(([s, n]) => ({ label: s, value: n, max: most, text: n })));
  queues.replaceChildren(...a.queues.map((q) => el('p', null,
    `${q.name}: 等待 ${q.waiting} · 最长 ${q.longest_wait_s} s · 服务水平 ${pct(q.service_level)} (${q.target_s} s)`)));
}

// ---- transcripts ----

function openDrawer(uuid, live, callee) {
  state.selected = { uuid, live };
  $('#transcript').hidden = false;
  $('#t-callee').textContent = callee || '';
  $('#t-lines').replaceChildren();
  $('#t-barges').replaceChildren();
  $('#t-decisions').replaceChildren();
  for (const tr of document.querySelectorAll('table.calls tbody tr')) {
    tr.classList.toggle('selected', tr.dataset.uuid === uuid);
  }
}

function closeTranscript() {
  state.selected = null;
  $('#transcript').hidden = true;
  for (const tr of document.querySelectorAll('table.calls tbody tr.selected')) tr.classList.remove('selected');
}

function addLine(t) {
  const li = el('li', `line ${t.speaker}`);
  li.append(el('span', 'who', SPEAKER_LABELS[t.speaker] || t.speaker));
  li.append(document.createTextNode(t.text || '…'));
  if (t.intent) li.append(el('span', 'intent', t.intent));
  if (t.note) li.append(el('span', 'note', t.note));
  $('#t-lines').append(li);
}

async function openLive(c) {
  openDrawer(c.uuid, true, c.callee);
  $('#t-meta').textContent = `进行中 · live: ${stateLabel(c.state)}`;
  try {
    const live = await api(`/api/v1/live/calls/${encodeURIComponent(c.uuid)}`);
    if (!state.selected || state.selected.uuid !== c.uuid) return;
    $('#t-lines').replaceChildren();
    for (const l of live.lines) addLine(l);
  } catch (e) {
    $('#t-meta').textContent = e.message;
  }
}

// A stored call; right after a call ends its record may still be on its way: retry.
async function openRecord(campaign, uuid, retries) {
  if (!state.selected || state.selected.uuid !== uuid) openDrawer(uuid, false, '');
  let d;
  try {
    d = await api(`/api/v1/campaigns/${encodeURIComponent(campaign)}/calls/${encodeURIComponent(uuid)}`);
  } catch (e) {
    if (retries > 0) setTimeout(() => openRecord(campaign, uuid, retries - 1), 1000);
    else $('#t-meta').textContent = e.message;
    return;
  }
  if (!state.selected || state.selected.uuid !== uuid) return;
  state.selected.live = false;
  const r = d.record;
  $('#t-callee').textContent = d.callee || '';
  $('#t-meta').textContent = `${stateLabel(r.disposition)} · ${duration((r.ended_at - r.answered_at) / 1000)}`
    + `${r.transferred_to ? ` · 转 ${r.transferred_to}` : ''} · 路径 path: ${r.path.join(' → ')}`;
  $('#t-lines').replaceChildren();
  for (const t of r.turns) addLine(t);
  $('#t-barges').replaceChildren(...(r.barge_ins.length ? r.barge_ins.map((b) => el('li', null,
    `${b.prompt}: 播放 ${b.played_ms} ms 后被打断 · cut after ${b.played_ms} ms (${b.verdict}, ${b.mode})`))
    : [el('li', null, '无 · none')]));
  $('#t-decisions').replaceChildren(...r.decisions.map((x) => el('li', null, `${(x.at_ms / 1000).toFixed(1)} s [${x.node}] ${x.what}`)));
}

// ---- charts (uPlot, vendored from npm by scripts/setup) ----

function chartWidth(id) {
  return Math.max(300, $(id).clientWidth - 4);
}

const AXIS = { stroke: '#8b98a5', grid: { stroke: '#2a3542' }, ticks: { stroke: '#2a3542' } };

function drawUp() {
  if (!window.uPlot) return;
  const s = state.series;
  const data = [s.t, s.up, s.ended];
  if (!state.charts.up) {
    state.charts.up = new uPlot({
      width: chartWidth('#chart-up'), height: 180,
      series: [{}, { label: '通话中 calls up', stroke: '#4aa3ff', width: 2, fill: '#4aa3ff22' },
        { label: '每分钟结束 ended/min', stroke: '#3fb950', width: 1 }],
      axes: [AXIS, { ...AXIS, size: 44 }],
      legend: { live: false },
      scales: { y: { range: (u, min, max) => [0, Math.max(4, max + 1)] } },
    }, data, $('#chart-up'));
  } else {
    state.charts.up.setData(data);
  }
}

function drawHours(byHour) {
  const hours = byHour.map((h) => h.hour);
  const rate = byHour.map((h) => (h.answer_rate === null ? null : 100 * h.answer_rate));
  const dialled = byHour.map((h) => h.dialled);
  if (!window.uPlot) {
    bars($('#chart-hours'), byHour.filter((h) => h.dialled > 0).map((h) => ({
      label: `${h.hour}:00`, value: h.answered, max: h.dialled, text: `${h.answered}/${h.dialled}` })));
    return;
  }
  const data = [hours, rate, dialled];
  if (!state.charts.hours) {
    state.charts.hours = new uPlot({
      width: chartWidth('#chart-hours'), height: 180,
      scales: { x: { time: false, range: [-0.5, 23.5] }, pct: { range: [0, 100] }, n: { range: (u, min, max) => [0, Math.max(1, max)] } },
      series: [
        { label: '时 hour' },
        { label: '接通率 answer rate %', scale: 'pct', stroke: '#4aa3ff', fill: '#4aa3ff88', paths: uPlot.paths.bars({ size: [0.6, 40] }), points: { show: false } },
        { label: '已拨 dialled', scale: 'n', stroke: '#d29922', width: 2 },
      ],
      axes: [{ ...AXIS, values: (u, v) => v.map((x) => `${x}`) }, { ...AXIS, scale: 'pct', size: 56, values: (u, v) => v.map((x) => `${x}%`) },
        { ...AXIS, scale: 'n', side: 1, size: 44, grid: { show: false } }],
      legend: { live: false },
    }, data, $('#chart-hours'));
  } else {
    state.charts.hours.setData(data);
  }
}

window.addEventListener('resize', () => {
  if (state.charts.up) state.charts.up.setSize({ width: chartWidth('#chart-up'), height: 180 });
  if (state.charts.hours) state.charts.hours.setSize({ width: chartWidth('#chart-hours'), height: 180 });
});
