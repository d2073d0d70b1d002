// The Goals panel: what A4PS means to do by itself and what a person queued (docs/http-api.md,
// Goals and the living loop). It shows the loop's state, the queue in the order it runs, then
// the running goal, then the rest newest first; for each goal why it exists, the run it became
// (opened in the run view like any run, live while it goes), what it produced, and Pause,
// Resume and Cancel where they apply. While the panel is open GET /v1/goals/events streams
// every goal change, so nothing needs a reload; a frame replaces the goal with its id.
import { api, post, withToken } from './api.js';
import { button } from './run_view.js';
import {
  GOAL_ACTIONS, goalKindWord, goalReason, goalRunOutcome, goalStatusWord, loopWords,
} from './words.js';

const $ = (selector, root = document) => root.querySelector(selector);

const goals = new Map();   // id -> the goal as the server last gave it
const refused = new Map(); // id -> the sentence saying why the server refused a button
let loop = null;           // the loop's state: {on, why, running, next_check_ms}
let source = null;         // the goal stream while the panel is open
let drawing = 0;           // a pending requestAnimationFrame
let opening = 0;           // counts opens and closes: a late answer for a closed panel is dropped

// The panel opened: the goals as they are now (GET /v1/goals also turns the events stored since
// the last look into goals, and asks for a token where one is needed), then every change live.
export async function openGoals() {
  closeGoals();
  const generation = opening;
  render();
  try {
    const body = await api('/v1/goals');
    if (generation !== opening) return;
    for (const g of body.goals) keep(g);
    loop = body.loop;
  } catch (e) {
    if (generation === opening) streamNote(`The goals could not be listed: ${e.message}`);
    return;
  }
  streamNote('');
  render();
  follow();
}

// The panel closed: no stream is held open for it.
export function closeGoals() {
  ++opening;
  source?.close();
  source = null;
}

// Keeps `g` unless what is kept is newer. GET /v1/goals's goals have no `runs`: a goal's runs
// stay while the goal is unchanged.
function keep(g) {
  const known = goals.get(g.id);
  if (known && known.updated_ms > g.updated_ms) return;
  if (!g.runs && known && known.updated_ms === g.updated_ms) g = { ...g, runs: known.runs };
  goals.set(g.id, g);
}

function follow() {
  const stream = new EventSource(withToken('/v1/goals/events'));
  source = stream;
  stream.addEventListener('loop', (e) => {
    if (source !== stream) return;
    loop = JSON.parse(e.data);
    renderLoop();
  });
  stream.addEventListener('goal', (e) => {
    if (source !== stream) return;
    streamNote('');
    keep(JSON.parse(e.data));
    drawing ||= requestAnimationFrame(render);  // the frames at connect come together
  });
  stream.onopen = () => { if (source === stream) streamNote(''); };
  // The server's `error` event says what went wrong reading the goals (the stream goes on);
  // otherwise a refused stream is over, and a broken one the browser opens again with
  // Last-Event-ID.
  stream.onerror = (e) => {
    if (source !== stream) return;
    if (e.data !== undefined) {
      streamNote(`The goals could not be read just now: ${JSON.parse(e.data).message}`);
      return;
    }
    streamNote(stream.readyState === EventSource.CLOSED
      ? 'Goal changes are not shown live: the server refused the goal stream ' +
        '(GET /v1/goals/events). Close the panel and open it again to see them.'
      : 'The connection to the server broke; reconnecting…');
  };
}

function streamNote(text) {
  const note = $('#goal-stream');
  note.hidden = !text;
  note.textContent = text;
}

function renderLoop() {
  const [headline, meaning] = loopWords(loop);
  const strong = document.createElement('strong');
  strong.textContent = headline;
  $('#goal-loop').replaceChildren(strong, meaning ? ` — ${meaning}` : '');
  $('#goal-loop').dataset.on = String(!!(loop && loop.on));
}

// The queue in the order the loop takes it (highest priority, then oldest, then lowest id:
// docs/formats/goals.md), then the running goals, then the rest newest first.
function sections() {
  const all = [...goals.values()];
  const queued = all.filter((g) => g.status === 'queued').sort((a, b) =>
    b.priority - a.priority || a.created_ms - b.created_ms || a.id - b.id);
  const running = all.filter((g) => g.status === 'running');
  const rest = all.filter((g) => !['queued', 'running'].includes(g.status))
    .sort((a, b) => b.created_ms - a.created_ms || b.id - a.id);
  return [
    ['queued', 'Queued, in the order they run', queued],
    ['running', 'Running', running],
    ['rest', 'Paused and finished, newest first', rest],
  ];
}

// Draws every goal again; the button that had the focus keeps it.
function render() {
  drawing = 0;
  renderLoop();
  const focused = document.activeElement?.closest('#goals .goal [data-action]');
  const again = focused && [focused.closest('.goal').dataset.goal, focused.dataset.action];
  const box = $('#goals .goal-lists');
  if (!goals.size) {
    box.replaceChildren(paragraph('muted', 'No goals yet. A4PS sets itself one when BRICK and ' +
      'ROBIN disagree strongly, when a tool it needed could not be made, or to reflect on ' +
      'recent runs; you can add one above.'));
    return;
  }
  box.replaceChildren(...sections().filter(([, , list]) => list.length).map(section));
  if (again) $(`#goals .goal[data-goal="${again[0]}"] [data-action="${again[1]}"]`)?.focus();
}

function section([key, title, list]) {
  const box = document.createElement('section');
  box.dataset.section = key;
  const h3 = document.createElement('h3');
  h3.textContent = `${title} (${list.length})`;
  const items = document.createElement(key === 'queued' ? 'ol' : 'ul');
  items.replaceChildren(...list.map(goalItem));
  box.append(h3, items);
  return box;
}

function paragraph(className, ...content) {
  const p = document.createElement('p');
  p.className = className;
  p.append(...content);
  return p;
}

function goalItem(g) {
  const li = document.createElement('li');
  li.className = 'goal';
  li.dataset.goal = String(g.id);
  li.dataset.status = g.status;
  li.dataset.kind = g.kind;
  const why = paragraph('why', `Why: ${goalReason(g)}.`);
  const episode = g.context && g.context.episode && g.context.episode.run;
  if (episode) why.append(' It came from ', runLink(episode, `run ${episode}`), '.');
  li.append(goalHead(g), why, taskBox(g));
  const became = becameLine(g);
  if (became) li.append(became);
  if (g.result) {
    const word = { done: 'Produced', failed: 'Failed', expired: 'Expired' }[g.status] || 'Result';
    li.append(paragraph('result', `${word}: ${g.result}`));
  }
  const actions = actionButtons(g);
  if (actions.childElementCount) li.append(actions);
  if (refused.has(g.id)) {
    const p = paragraph('refused', refused.get(g.id));
    p.setAttribute('role', 'alert');
    li.append(p);
  }
  return li;
}

function goalHead(g) {
  const head = document.createElement('div');
  head.className = 'goal-head';
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.textContent = goalStatusWord(g.status);
  const title = document.createElement('strong');
  title.textContent = `#${g.id} ${goalKindWord(g.kind)}`;
  const small = document.createElement('small');
  const changed = new Date(g.updated_ms).toLocaleTimeString();
  small.textContent = `priority ${g.priority} · added ${new Date(g.created_ms).toLocaleString()}` +
    (g.updated_ms !== g.created_ms ? ` · changed ${changed}` : '');
  head.append(badge, title, small);
  return head;
}

// The task the goal runs: a person's own goal shows it whole; the others' long prompts fold.
function taskBox(g) {
  if (g.kind === 'user') {
    const label = document.createElement('strong');
    label.textContent = 'Task: ';
    return paragraph('task', label, g.prompt);
  }
  const details = document.createElement('details');
  details.className = 'task';
  const summary = document.createElement('summary');
  summary.textContent = 'The task it runs';
  const text = document.createElement('div');
  text.textContent = g.prompt;
  details.append(summary, text);
  return details;
}

// The runs the goal became, newest first, each a link into the run view (live while it goes).
// GET /v1/goals's goals have only their latest run.
function becameLine(g) {
  const runs = g.runs && g.runs.length ? [...g.runs].reverse()
    : g.run ? [{ run_id: g.run, attempt: g.attempts, outcome: null }] : [];
  if (!runs.length) return null;
  const p = paragraph('became', 'Became ');
  runs.forEach((r, i) => {
    if (i) p.append(i === 1 ? '; before that ' : ', ');
    const live = i === 0 && g.status === 'running';
    p.append(runLink(r.run_id, live ? `run ${r.run_id}, going now: watch it live`
      : `run ${r.run_id}`));
    const said = [runs.length > 1 ? `attempt ${r.attempt}` : '',
      live ? '' : goalRunOutcome(r.outcome)].filter(Boolean);
    if (said.length) p.append(` (${said.join(', ')})`);
  });
  return p;
}

function runLink(runId, text) {
  const a = document.createElement('a');
  a.href = `#run=${runId}`;
  a.textContent = text;
  return a;
}

function actionButtons(g) {
  const row = document.createElement('div');
  row.className = 'actions';
  for (const [verb, action] of Object.entries(GOAL_ACTIONS)) {
    if (!action.when.includes(g.status)) continue;
    const b = button(action.label, () => act(g, verb));
    b.dataset.action = verb;
    b.title = action.title;
    row.append(b);
  }
  return row;
}

// Pause, Resume or Cancel; the server's answer is the goal as it is now, or why it refused.
async function act(g, verb) {
  refused.delete(g.id);
  for (const b of document.querySelectorAll(`#goals .goal[data-goal="${g.id}"] button`)) {
    b.disabled = true;
  }
  try {
    keep(await post(`/v1/goals/${g.id}/${verb}`));
  } catch (e) {
    refused.set(g.id, `Goal #${g.id} could not be ${GOAL_ACTIONS[verb].done}: ${e.message}`);
  }
  render();
  // The goal may have moved to another section: the eye and the focus follow it there.
  const item = $(`#goals .goal[data-goal="${g.id}"]`);
  if (!item || item.contains(document.activeElement)) return;
  item.tabIndex = -1;
  (item.querySelector('button') || item).focus({ preventScroll: true });
  item.scrollIntoView({ block: 'nearest' });
}

async function addGoal(event) {
  event.preventDefault();
  const prompt = $('#goal-prompt').value.trim();
  const priority = Number($('#goal-priority').value);
  if (!prompt) {
    formNote('Say what A4PS should work on first: the box is empty.');
    $('#goal-prompt').focus();
    return;
  }
  if (!Number.isInteger(priority) || priority < 0 || priority > 100) {
    formNote(`Priority ${$('#goal-priority').value || '(empty)'}: must be a whole number from ` +
      '0 to 100 (higher runs sooner).');
    $('#goal-priority').focus();
    return;
  }
  try {
    const goal = await post('/v1/goals', { prompt, priority });
    keep(goal);
    $('#goal-prompt').value = '';
    formNote(`Added goal #${goal.id}.`);
    render();
  } catch (e) { formNote(`The goal was not added: ${e.message}`); }
}

function formNote(text) {
  const note = $('#goal-notice');
  note.hidden = !text;
  note.textContent = text;
}

export function setUpGoals(closePanel) {
  $('#goal-form').addEventListener('submit', addGoal);
  // A run picked in a goal opens in the page; the drawer makes way.
  $('#goals').addEventListener('click', (e) => { if (e.target.closest('a')) closePanel(); });
}
