// One run on screen: its events (docs/formats/events.md) streamed live into one lane per
// persona, the Tree of Thoughts, interrupts, the answer, a progress line in words while it
// goes and a sentence saying how it ended. A stream is followed to its real end: a run that
// was cancelled and then resumed has several run_finished events, and the stream ends only
// when the server has sent the last one (docs/http-api.md, Server-Sent Events).
import { api, post, withToken } from './api.js';
import { doing, loadingModel, outcome, personaOf, turnLabel } from './words.js';

const $ = (selector, root = document) => root.querySelector(selector);

// Persona -> its model's name in /v1/models, from the codex (asked once).
let modelOf = null;
async function personaModels() {
  if (!modelOf) {
    const { personas } = await api('/v1/codex');
    modelOf = Object.fromEntries(personas.map((p) => [p.name.toUpperCase(), p.model]));
  }
  return modelOf;
}

// The run on screen. `onChange(run)` is told when it starts or stops going.
export class RunView {
  constructor(onChange) {
    this.onChange = onChange;
    this.run = null;      // GET /v1/runs/{id}, status kept current from the events
    this.lastSeq = 0;
    this.source = null;
    this.failure = null;  // the last `error` event
    this.step = 0;
    this.node = '';       // the node running now
    this.spoke = false;   // the running node has streamed a token
    this.poll = null;
    this.live = false;    // the run was going when it came on screen: its models are watched
    this.replaying = false;
    this.lastKind = '';   // the kind of the last event received
  }

  get going() { return !!this.run && this.run.status === 'running'; }

  // Shows `run` (GET /v1/runs/{id}) from its first event, live while it goes.
  show(run) {
    this.stop();
    this.run = run;
    this.lastSeq = 0;
    this.lastKind = '';
    this.failure = null;
    this.live = run.status === 'running';  // a stored run's replay asks the models nothing
    this.replaying = !this.live;  // its statuses flip as its events replay: nobody is told
    clear(run.task);
    this.progress(run.status === 'running' ? 'Starting the run…' : 'Loading the run…');
    this.follow();
  }

  // Nothing on screen: a new thread, or a run that does not exist.
  hide() {
    this.stop();
    this.run = null;
    clear('');
    $('#run').hidden = true;
  }

  stop() {
    this.source?.close();
    this.source = null;
    clearInterval(this.poll);
    this.poll = null;
  }

  progress(text) { $('#progress').textContent = text; }

  follow() {
    const id = this.run.run_id;
    const source = new EventSource(withToken(`/v1/runs/${id}/events?after=${this.lastSeq}`));
    this.source = source;
    for (const [kind, handle] of Object.entries(this.handlers())) {
      source.addEventListener(kind, (e) => {
        // The stream's own `error` (it ended or broke) has no data: onerror below takes it.
        if (this.source !== source || e.data === undefined) return;
        const d = JSON.parse(e.data);
        this.lastSeq = Math.max(this.lastSeq, d.seq || 0);
        this.lastKind = kind;
        handle(d);
      });
    }
    // The server ends the stream after the run's last event once it no longer runs; the
    // browser would then reconnect for ever. A stream that ends after run_finished is over;
    // otherwise ask the run (a server restart mid-run: let the browser reconnect).
    source.onerror = async () => {
      if (this.source !== source) return;
      if (this.lastKind !== 'run_finished') {
        let now;
        try { now = await api(`/v1/runs/${id}`); } catch { return; }
        if (this.source !== source || now.status === 'running') {
          this.progress('The connection to the server broke; reconnecting…');
          return;
        }
      }
      this.stop();
      this.finished();
    };
  }

  handlers() {
    return {
      run_started: (d) => {
        this.setStatus('running');
        this.progress(d.resumed ? 'The run goes on from its last step…' : 'Starting the run…');
      },
      node_started: (d) => this.nodeStarted(d),
      token: (d) => {
        if (d.node === this.node && !this.spoke) {
          this.spoke = true;
          this.progress(`Step ${this.step} · ${doing(d.node)}`);
        }
        const target = turnFor(d.node, d.part, this.step);
        if (target) target.textContent += d.text;
        if (d.node === 'alfred_answer') {
          $('#answer').hidden = false;
          $('#answer .text').textContent += d.text;
        }
      },
      node_finished: (d) => showUpdate(d, this.step),
      interrupt: (d) => this.showInterrupt(d),
      error: (d) => { this.failure = d; },
      run_finished: (d) => {
        for (const lane of document.querySelectorAll('.lane')) lane.classList.remove('speaking');
        this.run.steps = d.steps ?? this.run.steps;
        this.setStatus(d.status || 'done');
        this.node = '';
        this.showOutcome();
      },
    };
  }

  nodeStarted(d) {
    this.step = d.step;
    this.node = d.node;
    this.spoke = false;
    if (d.resumed) {  // the step runs again: what it streamed before is replaced
      for (const turn of document.querySelectorAll(`.turn[data-step="${d.step}"]`)) {
        if (turn.dataset.node === d.node) turn.remove();
      }
    }
    const persona = personaOf(d.node);
    for (const lane of document.querySelectorAll('.lane')) {
      lane.classList.toggle('speaking', lane.dataset.persona === persona);
    }
    this.progress(`Step ${d.step} · ${doing(d.node)}`);
    if (persona && this.live) this.watchModel(persona, d.node);
  }

  // Until the persona's first token, says when its model is still loading (GET /v1/models).
  watchModel(persona, node) {
    clearInterval(this.poll);
    const check = async () => {
      if (this.node !== node || this.spoke || !this.going) {
        clearInterval(this.poll);
        return;
      }
      try {
        const [models, { models: stats }] = await Promise.all([personaModels(), api('/v1/models')]);
        const s = stats && stats[models[persona]];
        if (this.node !== node || this.spoke) return;
        this.progress(`Step ${this.step} · ` + (s && !s.resident ? loadingModel(persona)
          : doing(node)));
      } catch { /* the progress line stays as it is */ }
    };
    check();
    this.poll = setInterval(check, 1000);
  }

  setStatus(status) {
    const was = this.going;
    this.run.status = status;
    if (status === 'running') $('#outcome').hidden = true;
    if (was !== this.going && !this.replaying) this.onChange(this.run);
  }

  // The stream is over: the run's row has the last word (an old run's stored stream may have
  // been cut short by a crash, and then has no run_finished).
  async finished() {
    try {
      const now = await api(`/v1/runs/${this.run.run_id}`);
      if (!this.run || now.run_id !== this.run.run_id) return;
      Object.assign(this.run, now);
    } catch { /* keep what the events said */ }
    if (this.run.status === 'running') this.run.status = 'crashed';
    this.replaying = false;
    this.showOutcome();
    this.onChange(this.run);
  }

  showOutcome() {
    clearInterval(this.poll);
    const box = $('#outcome');
    box.hidden = false;
    box.dataset.status = this.run.status;
    $('#outcome .text').textContent = outcome(this.run, this.failure);
    $('#progress').textContent = '';
    const resumable = ['error', 'cancelled', 'step_limit', 'crashed'].includes(this.run.status);
    $('#resume').hidden = !resumable;
    $('#resume').textContent = this.run.status === 'error' ? 'Retry the failed step' : 'Resume';
  }

  async cancel() {
    this.progress('Cancelling: the run stops when the current step ends…');
    try {
      await post(`/v1/runs/${this.run.run_id}/cancel`);
    } catch (e) { this.progress(`Could not cancel: ${e.message}`); }
  }

  // Continues the run (`values` answer its interrupts) and follows it from the last event seen.
  async resume(values) {
    const body = { background: true };
    if (values) body.values = values;
    $('#outcome').hidden = true;
    this.progress('Resuming the run…');
    this.stop();  // the stream goes on from the last event seen, after the resume
    const run = this.run;
    try {
      await post(`/v1/runs/${run.run_id}/resume`, body);
    } catch (e) {
      if (this.run !== run) return;
      this.showOutcome();
      $('#outcome .text').textContent = `The run could not be resumed: ${e.message}`;
      return;
    }
    if (this.run !== run) return;
    this.failure = null;
    this.lastKind = '';
    this.live = true;
    this.replaying = false;
    this.setStatus('running');
    this.follow();
  }

  showInterrupt(d) {
    const box = $('#interrupts');
    box.hidden = false;
    const row = document.createElement('div');
    row.className = 'ask';
    const text = document.createElement('span');
    text.textContent = (d.payload && d.payload.question) || JSON.stringify(d.payload || d);
    const answer = (value) => () => { row.remove(); this.resume({ [d.id]: value }); };
    row.append(text, button('Approve', answer(true)), button('Reject', answer(false)));
    box.append(row);
  }
}

export function button(text, onclick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.onclick = onclick;
  return b;
}

function clear(task) {
  for (const turns of document.querySelectorAll('.lane .turns')) turns.replaceChildren();
  for (const lane of document.querySelectorAll('.lane')) lane.classList.remove('speaking');
  $('#tot ol').replaceChildren();
  $('#interrupts').hidden = true;
  $('#interrupts').replaceChildren($('#interrupts h3'));
  $('#answer').hidden = true;
  $('#answer .text').textContent = '';
  $('#dissonance').textContent = '';
  $('#outcome').hidden = true;
  $('#progress').textContent = '';
  $('#run-task').textContent = task || '';
  $('#run').hidden = false;
}

// The turn element of a node's part in its persona's lane, made on first use.
function turnFor(node, part, step) {
  const persona = personaOf(node);
  if (!persona) return null;
  const key = `${node}|${part || ''}|${step}`;
  const lane = $(`.lane[data-persona="${persona}"] .turns`);
  let turn = lane.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (!turn) {
    turn = document.createElement('div');
    turn.className = 'turn';
    turn.dataset.key = key;
    turn.dataset.node = node;
    turn.dataset.step = String(step);
    const label = document.createElement('span');
    label.className = 'part';
    label.textContent = turnLabel(node, part);
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

// What a finished node wrote, where a person looks for it.
function showUpdate(d, step) {
  const u = d.update || {};
  if (d.node === 'alfred_route' && u.route) {
    turnFor(d.node, '', step).textContent =
      `research: ${u.route.research ? 'yes' : 'no'}; plan: ${u.route.plan || ''}`;
  } else if (d.node === 'robin_evaluate' && u.tot) {
    const candidates = u.tot.candidates || [];
    for (const c of candidates) addTot(`${c.id}: ${c.critique || ''}`, c.score || 0);
    // ROBIN's evaluations are decisions, not streamed prose: her lane shows them.
    turnFor(d.node, '', step).textContent = candidates
      .map((c) => `${c.id} ${Number(c.score || 0).toFixed(2)} — ${c.critique || ''}`).join('\n');
  } else if (d.node === 'brick_tools' && Array.isArray(u.tools)) {
    turnFor(d.node, '', step).textContent =
      u.tools.length ? u.tools.map(toolLine).join('\n') : 'no tool needed';
  } else if (d.node === 'alfred_judge' && u.judgement) {
    turnFor(d.node, '', step).textContent =
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
}
