// Threads as in a chat app: the list on the left (GET /v1/threads, titled by their first task
// from GET /v1/runs), and the open thread's runs in order, each a card with its task and how
// it ended; the run on screen opens inside its card.
import { api } from './api.js';
import { outcome, statusWord } from './words.js';

const $ = (selector, root = document) => root.querySelector(selector);

// Fills the thread list; `current` is the open thread (or null for a new one).
export async function renderThreadList(current) {
  const list = $('#thread-list');
  try {
    const [{ threads }, { runs }] = await Promise.all([api('/v1/threads'), api('/v1/runs')]);
    const byThread = new Map();
    for (const r of runs) {  // newest first
      if (!byThread.has(r.thread_id)) byThread.set(r.thread_id, []);
      byThread.get(r.thread_id).push(r);
    }
    const shown = threads
      .filter((t) => t.graph === 'a4ps.workflow' || byThread.has(t.thread_id))
      .sort((a, b) => b.updated_ms - a.updated_ms);
    list.replaceChildren(...shown.map((t) => threadItem(t, byThread.get(t.thread_id) || [],
      t.thread_id === current)));
    $('#threads-note').textContent = shown.length ? '' : 'No threads yet.';
  } catch (e) {
    $('#threads-note').textContent = `The threads could not be listed: ${e.message}`;
  }
}

function threadItem(thread, runs, current) {
  const li = document.createElement('li');
  const a = document.createElement('a');
  a.href = `#thread=${thread.thread_id}`;
  if (current) a.setAttribute('aria-current', 'true');
  const title = document.createElement('span');
  title.className = 'title';
  const first = runs[runs.length - 1];
  title.textContent = first && first.task ? first.task : `thread ${thread.thread_id}`;
  const small = document.createElement('small');
  small.textContent = runs.length
    ? `${runs.length} run${runs.length === 1 ? '' : 's'} · last ${statusWord(runs[0].status)}`
    : 'no run yet';
  a.append(title, small);
  li.append(a);
  return li;
}

// The thread's runs, oldest first (GET /v1/runs?thread_id=), each with its answer when done.
export async function threadRuns(threadId) {
  const { runs } = await api(`/v1/runs?thread_id=${encodeURIComponent(threadId)}`);
  runs.reverse();
  return Promise.all(runs.map((r) =>
    (r.status === 'done' ? api(`/v1/runs/${r.run_id}`).catch(() => r) : r)));
}

// One card per run; the selected run's card holds the run view (#run).
export function renderConversation(runs, selected) {
  const list = $('#conversation');
  const view = $('#run');
  document.querySelector('main').insertBefore(view, $('#ask'));  // out of the cards first
  list.replaceChildren(...runs.map((r) => {
    const li = document.createElement('li');
    li.className = 'card';
    li.dataset.run = r.run_id;
    li.dataset.status = r.status;
    const you = document.createElement('p');
    you.className = 'you';
    you.append(who('You'), r.task || '(no task)');
    li.append(you);
    if (r.run_id === selected) {
      li.classList.add('selected');
      li.append(view);
      return li;
    }
    const reply = document.createElement('p');
    reply.className = 'reply';
    const text = r.status === 'done' && r.answer ? r.answer.slice(0, 300) : outcome(r, null);
    reply.append(who('A4PS'), text);
    const open = document.createElement('a');
    open.href = `#run=${r.run_id}`;
    open.textContent = "Show the personas' turns";
    li.append(reply, open);
    return li;
  }));
}

function who(name) {
  const span = document.createElement('span');
  span.className = 'who';
  span.textContent = name;
  return span;
}
