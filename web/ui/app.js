// The A4PS browser UI: threads as in a chat app, each run streaming live into one lane per
// persona. No build step, no CDN: plain modules served by a4ps serve from web/ui. The address
// names what is on screen: #run=ID a run (and its thread), #thread=ID a thread, nothing a new
// thread; a reload shows the same again, following a run from its first event.
import { ApiError, api, post } from './api.js';
import { refreshHistory, setUpPanels } from './panels.js';
import { RunView, button } from './run_view.js';
import { renderConversation, renderThreadList, threadRuns } from './threads.js';
import { UNFINISHED, statusWord } from './words.js';

const $ = (selector, root = document) => root.querySelector(selector);

const page = {
  thread: null,  // the open thread's id; null: a new thread (the next task starts one)
  runs: [],      // the open thread's runs, oldest first
  selected: null,
};
const view = new RunView(runChanged);

function notice(id, text, ...buttons) {
  const box = $(id);
  box.hidden = !text;
  box.replaceChildren(...(text ? [text] : []), ...buttons);
}

const latest = () => page.runs[page.runs.length - 1] || null;
const busy = () => view.going || (latest() && latest().status === 'running');

// The composer says where the next task goes, and takes none while the thread runs one.
function updateComposer() {
  $('#task-label').textContent = page.thread ? 'Next task in this thread' : 'Task for a new thread';
  $('#send').disabled = !!busy();
  $('#send').title = busy() ? 'A run is going in this thread: wait for it, or cancel it' : '';
  $('#cancel').hidden = !view.going;
}

// The run on screen started or stopped: the cards, the thread list and the composer follow.
async function runChanged(run) {
  const known = page.runs.find((r) => r.run_id === run.run_id);
  if (known) known.status = run.status;
  updateComposer();
  if (!page.thread || run.thread_id !== page.thread) return;
  if (!view.going) {
    page.runs = await threadRuns(page.thread);
    renderConversation(page.runs, page.selected);
  }
  updateComposer();
  renderThreadList(page.thread);
  refreshHistory();
}

async function openThread(threadId, runId, generation) {
  const runs = await threadRuns(threadId);
  if (!runs.length) await api(`/v1/threads/${encodeURIComponent(threadId)}/history`);  // 404?
  if (generation !== routes) return;  // the address changed meanwhile
  page.thread = threadId;
  page.runs = runs;
  const first = page.runs[0];
  $('#thread-title').textContent = first && first.task ? first.task : `thread ${threadId}`;
  page.selected = runId || (latest() && latest().run_id);
  renderConversation(page.runs, page.selected);
  renderThreadList(threadId);
  const shown = page.runs.find((r) => r.run_id === page.selected);
  if (!shown) {
    view.hide();
    return;
  }
  const run = await api(`/v1/runs/${shown.run_id}`);
  if (generation === routes) view.show(run);
}

function newThread() {
  page.thread = null;
  page.runs = [];
  page.selected = null;
  $('#thread-title').textContent = 'New thread';
  renderConversation([], null);
  view.hide();
  renderThreadList(null);
}

// Goes to `hash` ('' for a new thread) as a link would, without a second hashchange.
async function go(hash) {
  history.pushState(null, '', hash ? `#${hash}` : location.pathname + location.search);
  await route();
}

// Shows what the address names. Whatever was on screen before goes first.
let routes = 0;
let routed = '';  // the address route() last showed
async function route() {
  const generation = ++routes;
  routed = location.href;
  notice('#page-notice', '');
  notice('#notice', '');
  const [kind, id] = location.hash.slice(1).split('=');
  try {
    if (kind === 'run' && id) {
      const run = await api(`/v1/runs/${encodeURIComponent(id)}`);
      if (generation !== routes) return;
      await openThread(run.thread_id, run.run_id, generation);
    } else if (kind === 'thread' && id) {
      await openThread(id, null, generation);
    } else {
      newThread();
    }
  } catch (e) {
    if (generation !== routes) return;
    newThread();
    $('#thread-title').textContent = e.status === 404 ? 'Not found' : 'Something went wrong';
    notice('#page-notice', e.status === 404
      ? `There is no ${kind} ${id} in this image. Pick a thread on the left, or type a task ` +
        'to start a new one.'
      : `The ${kind} ${id} could not be shown: ${e.message}`);
  }
  updateComposer();
}

function documents() {
  const doc = $('#doc-text').value.trim();
  return doc ? [{ label: $('#doc-label').value.trim() || 'notes.md', text: doc }] : [];
}

async function start(task, threadId) {
  const body = { task, background: true };
  if (threadId) body.thread_id = threadId;
  const docs = documents();
  if (docs.length) body.documents = docs;
  $('#send').disabled = true;
  notice('#notice', 'Starting the run…');
  try {
    const run = await post('/v1/runs', body);
    $('#task').value = '';  // sent, like a chat message and its attachment
    $('#doc-text').value = '';
    $('#doc-box').open = false;
    await go(`run=${run.run_id}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 409 && /unfinished work/.test(e.message)) {
      page.runs = await threadRuns(threadId);
      stuck(task);
    } else {
      notice('#notice', `The run did not start: ${e.message}`);
    }
    updateComposer();
  }
}

// A thread whose last run did not finish takes no new task until that run goes on.
function stuck(task) {
  const last = latest();
  notice('#notice',
    `This thread's last run ${statusWord(last.status)} and has unfinished work, so it cannot ` +
    'take a new task. Resume that run, or ask in a new thread. ',
    button('Resume the last run', async () => {
      notice('#notice', '');
      if (page.selected !== last.run_id) await go(`run=${last.run_id}`);
      view.resume();
    }),
    button('Ask in a new thread', () => start(task, null)));
}

function submit(event) {
  event?.preventDefault();
  const task = $('#task').value.trim();
  if (!task) {
    notice('#notice', 'Type a task first: the box is empty (spaces alone are not a task).');
    $('#task').focus();
    return;
  }
  if (busy()) {
    notice('#notice', 'A run is going in this thread: wait for it to end, or cancel it.');
    return;
  }
  const last = latest();
  if (page.thread && last && UNFINISHED.includes(last.status)) {
    stuck(task);
    return;
  }
  start(task, page.thread);
}

setUpPanels();
$('#ask').addEventListener('submit', submit);
$('#task').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit(e);
});
$('#new-thread').addEventListener('click', async () => {
  await go('');
  $('#task').focus();
});
$('#cancel').addEventListener('click', () => view.cancel());
$('#resume').addEventListener('click', () => view.resume());
// A link (hashchange) or Back and Forward (popstate); Chrome fires both for one link.
const followAddress = () => { if (location.href !== routed) route(); };
window.addEventListener('hashchange', followAddress);
window.addEventListener('popstate', followAddress);
route();
