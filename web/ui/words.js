// What the workflow's steps and a run's outcomes are called in words a person reads: the UI
// never shows a node name as the message itself (docs/formats/workflow.md lists the nodes).
export const PERSONAS = ['ALFRED', 'BABS', 'BRICK', 'ROBIN'];

// node -> [what the lane calls the turn, what the progress line says, "while ..." for failures]
const STEPS = {
  alfred_route: ['route', 'ALFRED is reading the task and choosing a route…',
    'ALFRED was choosing a route'],
  babs_research: ['research report', 'BABS is researching the sources…',
    'BABS was researching the sources'],
  brick_tools: ['tools', 'BRICK is deciding whether a tool would help…',
    'BRICK was deciding on a tool'],
  brick_propose: ['proposal', 'BRICK is proposing candidate plans…',
    'BRICK was proposing candidate plans'],
  robin_evaluate: ['scores', "ROBIN is weighing BRICK's candidates…",
    "ROBIN was weighing BRICK's candidates"],
  tot_select: ['selection', 'keeping the best candidates (Tree of Thoughts)…',
    'the best candidates were being selected'],
  robin_respond: ['reply to BRICK', 'ROBIN is answering BRICK…', 'ROBIN was answering BRICK'],
  brick_respond: ['reply to ROBIN', 'BRICK is answering ROBIN…', 'BRICK was answering ROBIN'],
  alfred_answer: ['answer', 'ALFRED is writing the answer…', 'ALFRED was writing the answer'],
  alfred_judge: ['judgement', 'ALFRED is judging how far BRICK and ROBIN disagree…',
    'ALFRED was judging the disagreement'],
  dissonance: ['dissonance', 'measuring the dissonance between BRICK and ROBIN…',
    'the dissonance was being measured'],
};

export function personaOf(node) {
  const name = (node || '').split('_')[0].toUpperCase();
  return PERSONAS.includes(name) ? name : '';
}

// What a lane's turn is labelled: "proposal · candidate d1.2".
export function turnLabel(node, part) {
  const label = STEPS[node] ? STEPS[node][0] : (personaOf(node) ? 'turn' : 'step');
  return part ? `${label} · ${part}` : label;
}

// The progress line while `node` runs.
export function doing(node) {
  if (STEPS[node]) return STEPS[node][1];
  const persona = personaOf(node);
  return persona ? `${persona} is working…` : 'working…';
}

export function loadingModel(persona) { return `loading ${persona}'s model…`; }

function during(node) {
  if (STEPS[node]) return STEPS[node][2];
  const persona = personaOf(node);
  return persona ? `${persona} was working` : 'a step was running';
}

// The sentence that says how a run ended. `run` is GET /v1/runs/{id}'s object; `failure` the
// run's last `error` event ({node, message}), which says more than the run's row.
export function outcome(run, failure) {
  const steps = `${run.steps} step${run.steps === 1 ? '' : 's'}`;
  switch (run.status) {
    case 'done': return `Done: ALFRED answered after ${steps}.`;
    case 'error': {
      const node = (failure && failure.node) || run.error_node || '';
      const message = (failure && failure.message) || run.error || 'no reason was recorded';
      return `The run failed while ${during(node)}: ${message}`;
    }
    case 'cancelled':
      return `The run was cancelled after ${steps}. Resume it to go on from where it stopped.`;
    case 'interrupted': return 'The run is waiting for your answer below.';
    case 'step_limit':
      return `The run stopped at its step limit after ${steps}. Resume it to give it more steps.`;
    case 'crashed':
      return `The run stopped after ${steps} when the server that ran it went away. ` +
        'Resume it to go on from its last step.';
    case 'running': return 'The run is going.';
    default: return `The run ended ${run.status}.`;
  }
}

// A run's status as a short word for lists.
export function statusWord(status) {
  return {
    running: 'running', done: 'done', error: 'failed', cancelled: 'cancelled',
    interrupted: 'waiting for you', step_limit: 'stopped at its step limit', crashed: 'crashed',
  }[status] || status;
}

// Runs that leave their thread with unfinished work: a new task there is refused until the run
// is resumed (docs/http-api.md, POST /v1/runs/{id}/resume).
export const UNFINISHED = ['error', 'cancelled', 'interrupted', 'step_limit', 'crashed'];

// Goals (docs/formats/goals.md): what each kind is called, and why a goal exists in words.
const GOAL_KINDS = {
  synthesis: 'Synthesis of a disagreement',
  reflection: 'Reflection on recent runs',
  capability: 'A tool A4PS lacks',
  user: 'Your goal',
  evolve: 'Training a persona’s adapter',
};

export function goalKindWord(kind) { return GOAL_KINDS[kind] || `Goal (${kind})`; }

// A goal's status as a short word for its badge.
export function goalStatusWord(status) {
  return {
    queued: 'queued', running: 'running', paused: 'paused', done: 'done', failed: 'failed',
    cancelled: 'cancelled', expired: 'expired',
  }[status] || status;
}

// Which buttons a goal in `status` has (docs/formats/goals.md, Statuses).
export const GOAL_ACTIONS = {
  pause: { label: 'Pause', done: 'paused', when: ['queued', 'running'],
    title: 'Hold the goal back (a running one stops at its next step)' },
  resume: { label: 'Resume', done: 'resumed', when: ['paused'], title: 'Queue the goal again' },
  cancel: { label: 'Cancel', done: 'cancelled', when: ['queued', 'running', 'paused'],
    title: 'Give the goal up for good' },
};

const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
export const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

function names(list) {
  return list.length < 2 ? list.join('') : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
}

// Why `goal` (GET /v1/goals/{id}) exists, from its kind and context, as a clause that follows
// "Why: " — "BRICK and ROBIN disagreed (dissonance 0.83) on “…”", "you asked".
export function goalReason(goal) {
  const c = goal.context && typeof goal.context === 'object' ? goal.context : {};
  let why;
  if (goal.kind === 'synthesis') {
    const who = Object.keys(c.positions || {}).map((k) => k.toUpperCase());
    const score = typeof c.score === 'number' ? ` (dissonance ${c.score.toFixed(2)})` : '';
    why = `${who.length ? names(who) : 'the personas'} disagreed${score}` +
      (c.task ? ` on “${clip(String(c.task), 140)}”` : '');
  } else if (goal.kind === 'capability') {
    const reasons = Array.isArray(c.reasons) ? c.reasons : [];
    why = `a tool failed: the Tool Forge could not make “${c.capability || c.name || '?'}”` +
      (typeof c.attempts === 'number' ? ` in ${plural(c.attempts, 'attempt')}` : '') +
      (reasons.length ? ` (last: ${clip(String(reasons.at(-1)), 160)})` : '');
  } else if (goal.kind === 'reflection') {
    why = `reflection over the last ${plural((c.episodes || []).length, 'episode')}`;
  } else if (goal.kind === 'user') {
    why = 'you asked';
  } else if (goal.kind === 'evolve') {
    const who = String(c.persona || '?').toUpperCase();
    const n = typeof c.golden_since_last_dataset === 'number' ? c.golden_since_last_dataset : '?';
    why = `${who} has ${n} new golden turns since the last dataset (the Oracle's judgements)`;
  } else {
    why = goal.cause_topic ? `the event ${goal.cause_topic}` : 'no reason was recorded';
  }
  if (goal.parent_goal) why += `; a follow-up of goal #${goal.parent_goal}'s run`;
  if (goal.merged > 0) why += `; ${plural(goal.merged, 'later cause')} merged in`;
  return why;
}

// How one run a goal became ended (GET /v1/goals/{id} "runs"[].outcome); '' while it goes on.
export function goalRunOutcome(outcome) {
  return {
    done: 'done', failed: 'failed', cancelled: 'cancelled', paused: 'paused',
    requeued: "stopped for a person's run; it goes on later", '': 'not finished',
  }[outcome] ?? (outcome || '');
}

// The living loop's state (GET /v1/goals "loop", the goal stream's `loop` event) in words:
// [the headline, what it means].
export function loopWords(loop) {
  if (!loop) return ['Autonomous loop: not known yet', ''];
  if (!loop.on) {
    return ['Autonomous loop: off', `${loop.why || 'no reason given'}. Queued goals wait.`];
  }
  if (loop.running) return ['Autonomous loop: on', `goal #${loop.running} is running now.`];
  const next = loop.next_check_ms
    ? ` It looks again at ${new Date(loop.next_check_ms).toLocaleTimeString()}.` : '';
  return ['Autonomous loop: on',
    `the best queued goal runs when nobody has used A4PS for a while.${next}`];
}

// The strategic loop (docs/formats/evolve.md): an adapter's status, a version, a loss and the
// adoption gate's decisions in words.
export function adapterStatusWord(status) {
  return {
    candidate: 'candidate: not decided yet', adopted: 'adopted: in use', rejected: 'rejected',
    retired: 'retired: was in use',
  }[status] || status;
}

// "v2", or "the base model" for null (a persona without an adapter).
export const versionWord = (version) => (version == null ? 'the base model' : `v${version}`);

// A loss or a difference of losses, as a person reads it: two decimals, more for a small
// one (0.0043), a true minus sign.
export function lossNumber(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '?';
  const text = Math.abs(x) >= 0.1 || x === 0 ? x.toFixed(2) : String(Number(x.toPrecision(2)));
  return text.replace(/^-/, '−');
}

export function trainerWord(trainer) {
  return { a4ps: "A4PS's own trainer", external: 'an external trainer' }[trainer] ||
    `trainer ${trainer}`;
}

// What ALFRED's pairwise check said ("figures"."pairwise"), as a sentence; '' when none.
function pairwiseWords(p) {
  if (!p || typeof p !== 'object') return '';
  if (p.skipped) return `Pairwise check skipped: ${p.skipped}.`;
  if (typeof p.win_rate !== 'number') return '';
  const flips = typeof p.flips === 'number' && p.flips
    ? `; ${plural(p.flips, 'prompt')} judged differently in the two orders` : '';
  return `Pairwise check: ALFRED preferred its replies ${Math.round(p.win_rate * 100)}% of the ` +
    `time on ${plural(p.prompts, 'held-out prompt')}${flips} (it needs at least 50%).`;
}

// One decision of the adoption gate, or a rollback (GET /v1/evolve/adoptions "decisions"[]), in
// words: [the headline with its figures, what else it said]. "Adopted v1: held-out loss 8.50 →
// 8.10, improvement 0.40 (95% interval 0.32 to 0.46) over the base model on 6 examples; needed
// 0.01."
export function decisionWords(d) {
  const f = d.figures && typeof d.figures === 'object' ? d.figures : {};
  if (d.action === 'rollback') {
    return [`Rolled back from ${versionWord(d.baseline)} to ${versionWord(d.version)}.`, ''];
  }
  const verb = { adopt: 'Adopted', reject: 'Rejected' }[d.action] || d.action;
  if (typeof f.mean_improvement !== 'number') {
    return [`${verb} ${versionWord(d.version)}: ${d.reason || 'no figures were recorded'}.`, ''];
  }
  const n = lossNumber;
  let head = `${verb} ${versionWord(d.version)}: held-out loss ${n(f.baseline_mean_loss)} → ` +
    `${n(f.candidate_mean_loss)}, improvement ${n(f.mean_improvement)} (95% interval ` +
    `${n(f.ci_low)} to ${n(f.ci_high)}) over ${versionWord(d.baseline)} on ` +
    `${plural(f.n, 'example')}; needed ${n(f.min_improvement)}.`;
  if (d.action === 'reject' && f.ci_low < f.min_improvement) {
    head += f.mean_improvement < 0
      ? ' It made the held-out loss worse.'
      : ` Not sure enough: the interval's lower end ${n(f.ci_low)} is below the ` +
        `${n(f.min_improvement)} needed.`;
  }
  return [head, pairwiseWords(f.pairwise)];
}
