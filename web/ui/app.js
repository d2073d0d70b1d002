// The A4PS browser UI: a chat whose run streams live into one lane per persona. No build step,
// no CDN: plain modules served by a4ps serve from web/ui. The URL's #run=ID names the run on
// screen, so a reload follows the same run again from its first event.
const $ = (selector, root = document) => root.querySelector(selector);
const PERSONAS = ['ALFRED', 'BABS', 'BRICK', 'ROBIN'];

let token = sessionStorage.getItem('a4ps-token') || '';
let thread = sessionStorage.getItem('a4ps-thread') || '';
let source = null;

function withToken(url) {
  if (!token) return url;
  return url + (url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(token);
}

async function api(path, options = {}) {
  const response = await fetch(withToken(path), {
    ...options,
    headers: { 'Content-Type': 'application/json', ...(options.headers || {}) },
  });
  if (response.status === 401) {
    token = prompt('This server needs its token ([server] token):') || '';
    sessionStorage.setItem('a4ps-token', token);
    return api(path, options);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
  return body;
}

function setStatus(text) { $('#status').textContent = text; }

function personaOf(node) {
  const name = (node || '').split('_')[0].toUpperCase();
  return PERSONAS.includes(name) ? name : '';
}

function clearRun(task) {
  for (const turns of document.querySelectorAll('.lane .turns')) turns.replaceChildren();
  $('#tot ol').replaceChildren();
  $('#interrupts').hidden = true;
  $('#interrupts').replaceChildren($('#interrupts h2') || document.createElement('h2'));
  $('#answer').hidden = true;
  $('#answer .text').textContent = '';
  $('#dissonance').textContent = '';
  $('#run-task').textContent = task || '';
  $('#run').hidden = false;
}

// The turn element of a node's part in its persona's lane, made on first use.
function turnFor(node, part, step) {
  const persona = personaOf(node);
  if (!persona) return null;
  const key = `${node}|${part}|${step}`;
  const lane = $(`.lane[data-persona="${persona}"] .turns`);
  let turn = lane.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (!turn) {
    turn = document.createElement('div');
    turn.className = 'turn';
    turn.dataset.key = key;
    const label = document.createElement('span');
    label.className = 'part';
    label.textContent = part ? `${node} · ${part}` : node;
    turn.append(label, document.createElement('span'));
    lane.append(turn);
  }
  return turn.lastChild;
}

function addTot(text, score) {
  const li = document.createElement('li');
  if (score !== undefined) {
    const s = document.createElement('span');
    s.className = 'score';
    s.textContent = `${score.toFixed(2)} `;
    li.append(s);
  }
  li.append(text);
  $('#tot ol').append(li);
}

// One line per record of BRICK's tool step (docs/formats/workflow.md, channel `tools`).
function toolLine(t) {
  if (t.kind === 'forge') {
    return t.created
      ? `forged tool ${t.name} (version ${t.version}) in ${t.attempts} attempt(s): ${t.capability}`
      : `the forge gave up on "${t.capability}" after ${t.attempts} attempt(s): ${t.reason || ''}`;
  }
  const call = `${t.tool}(${JSON.stringify(t.arguments || {})})`;
  return t.ok ? `${call} → ${JSON.stringify(t.result)}` : `${call} failed: ${t.problem || ''}`;
}

let step = 0;
const handlers = {
  node_started(d) {
    step = d.step;
    for (const lane of document.querySelectorAll('.lane')) {
      lane.classList.toggle('speaking', lane.dataset.persona === personaOf(d.node));
    }
    setStatus(`step ${d.step}: ${d.node}`);
  },
  token(d) {
    const target = turnFor(d.node, d.part, step);
    if (target) target.textContent += d.text;
    if (d.node === 'alfred_answer') {
      $('#answer').hidden = false;
      $('#answer .text').textContent += d.text;
    }
  },
  node_finished(d) {
    const u = d.update || {};
    if (d.node === 'alfred_route' && u.route) {
      const target = turnFor(d.node, 'route', step);
      target.textContent = `research: ${u.route.research ? 'yes' : 'no'}; plan: ${u.route.plan || ''}`;
    } else if (d.node === 'robin_evaluate' && u.tot) {
      const candidates = u.tot.candidates || [];
      for (const c of candidates) addTot(`${c.id}: ${c.critique || ''}`, c.score || 0);
      // ROBIN's evaluations are decisions, not streamed prose: her lane shows them.
      turnFor(d.node, 'scores', step).textContent = candidates
        .map((c) => `${c.id} ${Number(c.score || 0).toFixed(2)} — ${c.critique || ''}`).join('\n');
    } else if (d.node === 'brick_tools' && Array.isArray(u.tools)) {
      turnFor(d.node, 'tools', step).textContent =
        u.tools.length ? u.tools.map(toolLine).join('\n') : 'no tool needed';
    } else if (d.node === 'alfred_judge' && u.judgement) {
      turnFor(d.node, 'judgement', step).textContent =
        `conflict ${(Number(u.judgement.score || 0) / 100).toFixed(2)}: ${u.judgement.reason || ''}`;
    } else if (d.node === 'tot_select' && u.tot && (u.tot.notes || []).length) {
      addTot(u.tot.notes[u.tot.notes.length - 1]);
    } else if (d.node === 'alfred_answer' && typeof u.answer === 'string') {
      $('#answer').hidden = false;
      $('#answer .text').textContent = u.answer;
    } else if (d.node === 'dissonance' && u.dissonance) {
      const x = u.dissonance;
      $('#dissonance').textContent = `Dissonance ${Number(x.score || 0).toFixed(2)}` +
        (x.published ? ' — over the threshold: COGNITIVE_DISSONANCE published' : '');
    }
  },
  interrupt(d) { showInterrupt(d); },
  error(d) { setStatus(`${d.node || 'run'} failed: ${d.message || ''}`); },
  run_finished(d) {
    for (const lane of document.querySelectorAll('.lane')) lane.classList.remove('speaking');
    setStatus(`run ${d.status || 'finished'}`);
    source?.close();
    loadHistory();
  },
};

function showInterrupt(d) {
  const box = $('#interrupts');
  box.hidden = false;
  const row = document.createElement('div');
  row.className = 'ask';
  const text = document.createElement('span');
  text.textContent = (d.payload && d.payload.question) || JSON.stringify(d.payload || d);
  const answer = (value) => async () => {
    const run = location.hash.slice(5);
    await api(`/v1/runs/${run}/resume`, { method: 'POST',
      body: JSON.stringify({ values: { [d.id]: value }, background: true }) });
    row.remove();
    follow(run, false);
  };
  const approve = document.createElement('button');
  approve.textContent = 'Approve';
  approve.onclick = answer(true);
  const reject = document.createElement('button');
  reject.textContent = 'Reject';
  reject.onclick = answer(false);
  row.append(text, approve, reject);
  box.append(row);
}

async function follow(runId, fresh = true) {
  source?.close();
  let run = {};
  try { run = await api(`/v1/runs/${runId}`); } catch (e) { setStatus(e.message); return; }
  if (fresh) clearRun(run.task);
  thread = run.thread_id;
  sessionStorage.setItem('a4ps-thread', thread);
  source = new EventSource(withToken(`/v1/runs/${runId}/events`));
  for (const [kind, handle] of Object.entries(handlers)) {
    source.addEventListener(kind, (e) => handle(JSON.parse(e.data)));
  }
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) setStatus('stream closed'); };
}

async function submit(event) {
  event?.preventDefault();
  const task = $('#task').value.trim();
  if (!task) return;
  setStatus('starting…');
  try {
    const body = { task, background: true };
    if (thread) body.thread_id = thread;
    const doc = $('#doc-text').value.trim();
    if (doc) body.documents = [{ label: $('#doc-label').value.trim() || 'notes.md', text: doc }];
    const run = await api('/v1/runs', { method: 'POST', body: JSON.stringify(body) });
    location.hash = `run=${run.run_id}`;  // the hashchange handler follows it
  } catch (e) { setStatus(e.message); }
}

async function loadHistory() {
  const list = $('#history ul');
  try {
    const { runs } = await api(thread ? `/v1/runs?thread_id=${thread}` : '/v1/runs');
    list.replaceChildren(...runs.map((r) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = `#run=${r.run_id}`;
      a.textContent = `${r.run_id} — ${r.status}${r.task ? ': ' + r.task.slice(0, 60) : ''}`;
      li.append(a);
      return li;
    }));
  } catch (e) { list.replaceChildren(e.message); }
}

async function loadModels() {
  const body = $('#models .body');
  try {
    const m = await api('/v1/models');
    const mib = (b) => `${(b / 1048576).toFixed(0)} MiB`;
    const rows = Object.entries(m.models || {}).map(([name, s]) =>
      `${name}: ${s.resident ? 'resident' : 'not loaded'}, ${s.loads} loads, ${s.requests} requests, ` +
      `${s.decode_tokens_per_second.toFixed(1)} tokens/s`);
    body.textContent = m.budget
      ? [`budget ${mib(m.budget.bytes)}, resident ${mib(m.budget.resident_bytes)}, ` +
         `peak ${mib(m.budget.peak_resident_bytes)}`, ...rows].join('\n')
      : m.data.map((x) => x.id).join(', ');
    body.style.whiteSpace = 'pre-wrap';
  } catch (e) { body.textContent = e.message; }
}

async function searchMemory(event) {
  event.preventDefault();
  const hits = $('#memory .hits');
  try {
    const q = encodeURIComponent($('#memory-q').value);
    const { hits: found } = await api(`/v1/memory/search?q=${q}&k=8`);
    hits.replaceChildren(...found.map((h) => {
      const li = document.createElement('li');
      li.textContent = `[${h.namespace || h.source_kind}] ${h.text.slice(0, 200)}`;
      return li;
    }));
    if (!found.length) hits.replaceChildren('nothing remembered matches');
  } catch (e) { hits.replaceChildren(e.message); }
}

for (const button of document.querySelectorAll('nav button')) {
  button.addEventListener('click', () => {
    const panel = document.getElementById(button.dataset.panel);
    panel.hidden = !panel.hidden;
    button.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden && panel.id === 'history') loadHistory();
    if (!panel.hidden && panel.id === 'models') loadModels();
  });
}
$('#ask').addEventListener('submit', submit);
$('#task').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit(e);
});
$('#memory-search').addEventListener('submit', searchMemory);
window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#run=')) follow(location.hash.slice(5));
});
if (location.hash.startsWith('#run=')) follow(location.hash.slice(5));
