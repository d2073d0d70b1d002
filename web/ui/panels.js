// The History, Models, Memory, Goals and Adapters panels: a drawer over the right of the page,
// in view wherever the page is scrolled; one panel at a time, closed with its button or Escape.
import { closeAdapters, openAdapters } from './adapters.js';
import { api } from './api.js';
import { closeGoals, openGoals, setUpGoals } from './goals.js';
import { statusWord } from './words.js';

const $ = (selector, root = document) => root.querySelector(selector);
const TITLES = {
  history: 'History', models: 'Models and memory budget', memory: 'Memory', goals: 'Goals',
  adapters: 'Adapters: the strategic loop',
};

export function openPanel(name) {
  const drawer = $('#drawer');
  for (const panel of drawer.querySelectorAll('.panel')) panel.hidden = panel.id !== name;
  for (const b of document.querySelectorAll('nav button[data-panel]')) {
    b.setAttribute('aria-expanded', String(b.dataset.panel === name));
  }
  $('#drawer-title').textContent = TITLES[name];
  drawer.hidden = false;
  drawer.dataset.panel = name;
  $('#drawer-close').focus();
  if (name !== 'goals') closeGoals();
  if (name !== 'adapters') closeAdapters();
  if (name === 'history') loadHistory();
  if (name === 'models') loadModels();
  if (name === 'memory') $('#memory-q').focus();
  if (name === 'goals') openGoals();
  if (name === 'adapters') openAdapters();
}

export function closePanel() {
  const drawer = $('#drawer');
  if (drawer.hidden) return;
  drawer.hidden = true;
  closeGoals();
  closeAdapters();
  const button = $(`nav button[data-panel="${drawer.dataset.panel}"]`);
  for (const b of document.querySelectorAll('nav button[data-panel]')) {
    b.setAttribute('aria-expanded', 'false');
  }
  button?.focus();
}

// Refreshes the history panel when it is open (a run started or ended).
export function refreshHistory() {
  if (!$('#drawer').hidden && $('#drawer').dataset.panel === 'history') loadHistory();
}

async function loadHistory() {
  const list = $('#history ul');
  try {
    const { runs } = await api('/v1/runs');
    if (!runs.length) {
      list.replaceChildren('No runs yet: type a task and press Run.');
      return;
    }
    list.replaceChildren(...runs.map((r) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = `#run=${r.run_id}`;
      a.textContent = r.task ? r.task.slice(0, 80) : r.run_id;
      const small = document.createElement('small');
      small.textContent = ` ${statusWord(r.status)} · ${new Date(r.created_ms).toLocaleString()}` +
        ` · ${r.run_id}`;
      li.append(a, small);
      return li;
    }));
  } catch (e) { list.replaceChildren(`The runs could not be listed: ${e.message}`); }
}

async function loadModels() {
  const body = $('#models .body');
  try {
    const m = await api('/v1/models');
    const mib = (b) => `${(b / 1048576).toFixed(0)} MiB`;
    if (!m.budget) {
      body.textContent = `Models: ${m.data.map((x) => x.id).join(', ')}`;
      return;
    }
    const budget = document.createElement('p');
    budget.textContent = `Memory budget ${mib(m.budget.bytes)}: ${mib(m.budget.resident_bytes)} ` +
      `in use now, at most ${mib(m.budget.peak_resident_bytes)} so far.`;
    const list = document.createElement('ul');
    for (const [name, s] of Object.entries(m.models || {})) {
      const li = document.createElement('li');
      li.textContent = `${name}: ${s.resident ? 'loaded' : 'not loaded'}; loaded ${s.loads} ` +
        `time(s), ${s.requests} request(s), ${s.decode_tokens_per_second.toFixed(1)} tokens/s`;
      list.append(li);
    }
    body.replaceChildren(budget, list);
  } catch (e) { body.textContent = `The models could not be listed: ${e.message}`; }
}

async function searchMemory(event) {
  event.preventDefault();
  const hits = $('#memory .hits');
  const q = $('#memory-q').value.trim();
  if (!q) {
    hits.replaceChildren('Type what to search for first.');
    return;
  }
  try {
    const { hits: found } = await api(`/v1/memory/search?q=${encodeURIComponent(q)}&k=8`);
    hits.replaceChildren(...found.map((h) => {
      const li = document.createElement('li');
      li.textContent = `[${h.namespace || h.source_kind}] ${h.text.slice(0, 200)}`;
      return li;
    }));
    if (!found.length) hits.replaceChildren('Nothing remembered matches.');
  } catch (e) { hits.replaceChildren(`The search failed: ${e.message}`); }
}

export function setUpPanels() {
  for (const button of document.querySelectorAll('nav button[data-panel]')) {
    button.addEventListener('click', () => {
      const drawer = $('#drawer');
      if (!drawer.hidden && drawer.dataset.panel === button.dataset.panel) closePanel();
      else openPanel(button.dataset.panel);
    });
  }
  $('#drawer-close').addEventListener('click', closePanel);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closePanel(); });
  $('#memory-search').addEventListener('submit', searchMemory);
  // A run picked in the history opens in the page; the drawer makes way.
  $('#history').addEventListener('click', (e) => { if (e.target.closest('a')) closePanel(); });
  setUpGoals(closePanel);
}
