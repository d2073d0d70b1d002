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
