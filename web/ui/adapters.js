// The Adapters panel: the strategic loop (docs/formats/evolve.md, docs/http-api.md, The
// strategic loop). For each persona, the adapter it uses now (or the base model), how many of
// its parts in finished runs were judged and found golden, every decision of the adoption
// gate with its figures in words, and every adapter trained for it with its loss curves, drawn
// here as an SVG plot: the training loss of every optimizer step as a line, the held-out loss
// after each epoch as points on the same axes, and the held-out loss it is measured by as a
// dashed line. Read-only: adopting and rolling back are command-line acts (a4ps evolve adopt,
// a4ps evolve rollback).
import { api } from './api.js';
import {
  adapterStatusWord, decisionWords, lossNumber, plural, trainerWord, versionWord,
} from './words.js';

const $ = (selector, root = document) => root.querySelector(selector);
const SVG = 'http://www.w3.org/2000/svg';

let opening = 0;  // counts opens and closes: a late answer for a closed panel is dropped
let plotWidth = 360;  // the loss plots' width in CSS pixels
let shown = null;     // what the open panel shows: [{p, candidates, decisions, failed}]
let drawing = 0;      // a pending requestAnimationFrame

// The panel opened: the loop's counts and settings, then each persona's adapters and
// decisions (only for personas that have any).
export async function openAdapters() {
  const generation = ++opening;
  note('Reading the strategic loop…');
  let loop;
  try {
    loop = await api('/v1/evolve');
  } catch (e) {
    if (generation !== opening) return;
    note(`The strategic loop could not be read: ${e.message}`);
    shown = null;
    $('#adapters .persona-lists').replaceChildren();
    return;
  }
  const details = await Promise.all(loop.personas.map(async (p) => {
    if (!p.candidates && p.adopted == null && !p.last_decision) return { p };
    const q = `?persona=${encodeURIComponent(p.persona)}`;
    try {
      const [{ candidates }, { decisions }] = await Promise.all([
        api(`/v1/evolve/candidates${q}`), api(`/v1/evolve/adoptions${q}`)]);
      return { p, candidates, decisions };
    } catch (e) {
      return { p, failed: e.message };
    }
  }));
  if (generation !== opening) return;
  note('');
  renderSettings(loop.settings);
  shown = details;
  render();
}

export function closeAdapters() {
  ++opening;
  shown = null;
}

// The plots are drawn at the width they get (within bounds), so that their words keep the
// page's size on a narrow window as on a wide one: an adapter's card pads them by ~1.7rem.
const widthFor = () =>
  Math.round(Math.min(480, Math.max(240, $('#adapters .persona-lists').clientWidth - 28)));

function render() {
  drawing = 0;
  if (!shown) return;
  plotWidth = widthFor();
  $('#adapters .persona-lists').replaceChildren(...shown.map(personaSection));
}

// A window made narrower or wider draws the plots again at their new width.
window.addEventListener('resize', () => {
  if (shown && !drawing && Math.abs(widthFor() - plotWidth) > 8) {
    drawing = requestAnimationFrame(render);
  }
});

function note(text) {
  const p = $('#adapter-note');
  p.hidden = !text;
  p.textContent = text;
}

function element(tag, className, ...content) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  e.append(...content);
  return e;
}

function code(text) { return element('code', '', text); }

// How the loop is set ([evolve] in config.toml), in one line.
function renderSettings(s) {
  const p = $('#adapter-settings');
  if (!s) {
    p.replaceChildren();
    return;
  }
  p.replaceChildren(
    element('strong', '', 'The gate: '),
    `a candidate is adopted only if it lowers the held-out loss by at least ` +
    `${lossNumber(s.min_improvement)} with 95% confidence. Datasets hold ` +
    `${Math.round(s.held_out_fraction * 100)}% of their examples out and need at least ` +
    `${plural(s.min_examples, 'golden turn')}; a judged part is golden from a score of ` +
    `${s.golden_threshold.toFixed(2)}. Training: ${trainerWord(s.trainer)}.`);
}

function personaSection({ p, candidates = [], decisions = [], failed }) {
  const section = element('section', 'persona');
  section.dataset.persona = p.persona;
  section.setAttribute('aria-label', p.name);
  const uses = element('span', 'uses', p.adopted == null ? 'uses the base model'
    : `uses ${versionWord(p.adopted)}`);
  uses.dataset.adopted = p.adopted == null ? 'base' : String(p.adopted);
  section.append(element('h3', '', element('span', 'name', p.name), ' ', uses), counts(p));
  if (failed) {
    const refused = element('p', 'refused', `Its adapters could not be read: ${failed}`);
    refused.setAttribute('role', 'alert');
    section.append(refused);
    return section;
  }
  const next = nextStep(p, candidates);
  if (next) section.append(next);
  if (decisions.length) {
    section.append(element('h4', '', `Decisions, newest first (${decisions.length})`),
      element('ol', 'decisions', ...decisions.map(decisionItem)));
  }
  if (candidates.length) {
    section.append(element('h4', '', `Adapters, newest first (${candidates.length})`),
      element('ol', 'adapters', ...candidates.map((c) => adapterItem(p, c, candidates,
        decisions))));
  }
  return section;
}

function counts(p) {
  const dl = element('dl', 'counts');
  const rows = [
    ['judged', 'judged', p.judged],
    ['golden', 'golden', p.golden],
    ['golden_since_last_dataset', 'new golden since the last dataset',
      p.golden_since_last_dataset],
    ['datasets', p.datasets === 1 ? 'dataset' : 'datasets', p.datasets],
  ];
  for (const [key, word, value] of rows) {
    const item = element('div', '', element('dt', '', word), element('dd', '', String(value)));
    item.dataset.count = key;
    dl.append(item);
  }
  if (p.latest_dataset != null) dl.lastChild.title = `the latest is v${p.latest_dataset}`;
  return dl;
}

// What the command line would do next for this persona, when nothing has been trained or a
// candidate waits for the gate.
function nextStep(p, candidates) {
  const waiting = candidates.filter((c) => c.status === 'candidate');
  if (waiting.length) {
    const v = waiting[0].version;
    return element('p', 'hint', `${plural(waiting.length, 'candidate')} not decided yet. `,
      'The gate decides from the command line: ', code(`a4ps evolve adopt ${p.persona} ${v}`),
      '.');
  }
  if (candidates.length) return null;
  if (!p.datasets) {
    return element('p', 'hint muted', 'No dataset yet: ',
      code(`a4ps evolve dataset ${p.persona}`), ' makes one from its golden turns.');
  }
  return element('p', 'hint muted', `No adapter yet: `, code(`a4ps evolve train ${p.persona}`),
    ` trains one on dataset v${p.latest_dataset}.`);
}

function decisionItem(d) {
  const li = element('li', 'decision');
  li.dataset.action = d.action;
  if (d.version != null) li.dataset.version = String(d.version);
  const [headline, more] = decisionWords(d);
  const who = { gate: 'the gate', user: 'a person' }[d.decided_by] || d.decided_by;
  li.append(element('p', 'words', headline));
  if (more) li.append(element('p', 'more', more));
  const when = new Date(d.created_ms).toLocaleString();
  li.append(element('small', '', `decided by ${who} · ${when}`));
  return li;
}

function adapterItem(p, c, candidates, decisions) {
  const li = element('li', 'adapter');
  li.dataset.version = String(c.version);
  li.dataset.status = c.status;
  const o = c.options && typeof c.options === 'object' ? c.options : {};
  const trained = [
    `dataset v${c.dataset_version}`, trainerWord(c.trainer),
    c.step_losses.length ? plural(c.step_losses.length, 'step') : '',
    typeof o.epochs === 'number' && c.trainer === 'a4ps' ? plural(o.epochs, 'epoch') : '',
    typeof o.learning_rate === 'number' ? `learning rate ${Number(o.learning_rate.toPrecision(3))}`
      : '',
    typeof o.rank === 'number' ? `rank ${o.rank}` : '',
    o.resumed_at_step ? `resumed at step ${o.resumed_at_step}` : '',
  ].filter(Boolean).join(' · ');
  const head = element('div', 'adapter-head', element('span', 'badge', adapterStatusWord(c.status)),
    element('strong', '', `${p.name} v${c.version}`),
    element('small', '', `${trained} · made ${new Date(c.created_ms).toLocaleString()}`));
  li.append(head, lossPlot(p, c, reference(p, c, candidates, decisions)));
  return li;
}

// What candidate `c`'s held-out loss is measured by: once decided, what the gate compared it
// with (the newest decision on it); while undecided, the adapter in use, when that was
// measured on the same dataset's held-out examples (the base model's loss is known only from
// a decision).
function reference(p, c, candidates, decisions) {
  const gate = decisions.find((d) => d.version === c.version && d.action !== 'rollback');
  const f = gate && gate.figures && typeof gate.figures === 'object' ? gate.figures : {};
  if (Number.isFinite(f.baseline_mean_loss)) {
    return { version: gate.baseline, loss: f.baseline_mean_loss,
      why: 'which the gate compared it with' };
  }
  const inUse = c.status === 'candidate' && p.adopted != null &&
    candidates.find((o) => o.version === p.adopted && o.dataset_version === c.dataset_version);
  const loss = inUse && inUse.held_out_losses.at(-1);
  return Number.isFinite(loss)
    ? { version: p.adopted, loss, why: 'in use now, on the same held-out examples' } : null;
}

// Round numbers for an axis from `lo` to `hi`: about `count` ticks.
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count || 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + 1e-9; t += step) {
    out.push(Number(t.toPrecision(12)));
  }
  return out;
}

function svg(tag, attributes, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// The loss plot of candidate `c`: the x axis is the optimizer step (the held-out loss after
// epoch e sits at the epoch's last step), or the epoch where no steps were recorded (an
// external trainer); the y axis the loss (mean cross-entropy per assistant token). `ref`, if
// any, is a held-out loss to measure it by, drawn as a dashed line: {version, loss, why}.
function lossPlot(p, c, ref) {
  const steps = (c.step_losses || []).filter(Number.isFinite);
  const held = (c.held_out_losses || []).filter(Number.isFinite);
  const bySteps = steps.length > 0;
  const perEpoch = bySteps && held.length ? steps.length / held.length : 1;
  const heldAt = (i) => (bySteps ? (i + 1) * perEpoch : i + 1);
  const baseline = ref ? ref.loss : null;
  const values = [...steps, ...held, ...(baseline == null ? [] : [baseline])];
  const figure = element('figure', 'loss-plot');
  if (!steps.length && !held.length) {
    figure.append(element('figcaption', 'muted', 'No losses were recorded for this adapter.'));
    return figure;
  }
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
  lo -= pad;
  hi += pad;
  const W = plotWidth;
  const H = 190;
  const m = { left: 40, right: 14, top: 22, bottom: 36 };
  const x0 = bySteps ? 1 : 0.5;
  const x1 = bySteps ? Math.max(steps.length, 2) : held.length + 0.5;
  const x = (v) => m.left + ((v - x0) / (x1 - x0)) * (W - m.left - m.right);
  const y = (v) => m.top + (1 - (v - lo) / (hi - lo)) * (H - m.top - m.bottom);
  const at = (px, py) => `${x(px).toFixed(1)} ${y(py).toFixed(1)}`;
  const plot = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'plot' });
  const epochWord = (i) => (bySteps || held.length > 1 ? `epoch ${i + 1}` : 'training');
  const summary = [
    bySteps ? `training loss over ${plural(steps.length, 'step')}, from ` +
      `${lossNumber(steps[0])} to ${lossNumber(steps.at(-1))}` : 'no per-step training loss',
    held.length ? `held-out loss after ${bySteps || held.length > 1 ? 'each epoch' : 'training'}` +
      `: ${held.map(lossNumber).join(', ')}` : 'no held-out loss',
    baseline == null ? '' : `held-out loss of ${versionWord(ref.version)}, ${ref.why}: ` +
      lossNumber(baseline),
  ].filter(Boolean).join('; ');
  plot.setAttribute('aria-label', `Loss curves of ${p.name} v${c.version}: ${summary}`);

  const grid = svg('g', { class: 'grid' });
  for (const t of ticks(lo, hi, 4)) {
    grid.append(svg('line', { x1: m.left, x2: W - m.right, y1: y(t), y2: y(t) }));
    grid.append(svg('text', { x: m.left - 5, y: y(t) + 3.5, 'text-anchor': 'end' }, String(t)));
  }
  // Steps: the first, the last and round numbers between that do not crowd them.
  const perStep = (W - m.left - m.right) / (x1 - x0);
  const n = steps.length;
  const between = ticks(1, n, 5).filter((t) => Number.isInteger(t) && t > 1 && t < n &&
    (t - 1) * perStep >= 18 && (n - t) * perStep >= 18);
  const xTicks = bySteps ? [...new Set([1, ...between, n])] : held.map((_, i) => i + 1);
  const once = !bySteps && held.length === 1;  // an external trainer: one loss, at its end
  for (const t of xTicks) {
    grid.append(svg('text', { x: x(t), y: H - m.bottom + 14, 'text-anchor': 'middle' },
      once ? 'after training' : String(t)));
  }
  grid.append(svg('text', { class: 'axis-label', x: (m.left + W - m.right) / 2, y: H - 5,
    'text-anchor': 'middle' }, bySteps ? 'optimizer step' : once ? '' : 'epoch'));
  grid.append(svg('text', { class: 'axis-label', x: 2, y: 12 }, 'loss'));
  plot.append(grid);
  plot.append(svg('path', { class: 'axis',
    d: `M${m.left} ${m.top - 6}V${H - m.bottom}H${W - m.right}` }));

  // The baseline's value and the last held-out loss are written at the right, one above and
  // one below when they lie close together; neither leaves the plot.
  const labels = { baselineBelow: false, heldBelow: false };
  if (held.length) {
    const yLast = y(held.at(-1));
    labels.heldBelow = yLast < m.top + 14;
    if (baseline != null && Math.abs(yLast - y(baseline)) < 18) {
      labels.heldBelow = yLast >= y(baseline);
      labels.baselineBelow = !labels.heldBelow;
    }
    if (labels.heldBelow && yLast + 15 > H - m.bottom) labels.heldBelow = false;
  }
  if (baseline != null) {
    const line = svg('path', { class: 'baseline', d: `M${at(x0, baseline)}H${x(x1)}` });
    line.append(svg('title', {}, `${versionWord(ref.version)}: ${lossNumber(baseline)}`));
    plot.append(line, svg('text', { class: 'baseline-value', x: W - m.right,
      y: y(baseline) + (labels.baselineBelow ? 13 : -4), 'text-anchor': 'end' },
    `${versionWord(ref.version)} ${lossNumber(baseline)}`));
  }
  if (bySteps) {
    const line = svg('path', { class: 'steps',
      d: steps.map((v, i) => `${i ? 'L' : 'M'}${at(i + 1, v)}`).join('') });
    line.append(svg('title', {}, `training loss per step: ${steps.map(lossNumber).join(', ')}`));
    plot.append(line);
  }
  if (held.length > 1) {
    plot.append(svg('path', { class: 'held-out-line',
      d: held.map((v, i) => `${i ? 'L' : 'M'}${at(heldAt(i), v)}`).join('') }));
  }
  held.forEach((v, i) => {
    const dot = svg('circle', { class: 'held-out', cx: x(heldAt(i)).toFixed(1),
      cy: y(v).toFixed(1), r: 4 });
    dot.append(svg('title', {}, `held-out loss after ${epochWord(i)}: ${lossNumber(v)}`));
    plot.append(dot);
  });
  if (held.length) {  // the last held-out loss, written by its point
    const last = held.at(-1);
    plot.append(svg('text', { class: 'held-out-value', x: x(heldAt(held.length - 1)) - 7,
      y: y(last) + (labels.heldBelow ? 15 : -8), 'text-anchor': 'end' }, lossNumber(last)));
  }

  const keys = [];
  if (bySteps) keys.push(element('span', 'key steps', 'training loss, each step'));
  if (held.length) {
    keys.push(element('span', 'key held-out', bySteps || held.length > 1
      ? 'held-out loss after each epoch' : 'held-out loss'));
  }
  if (baseline != null) {
    keys.push(element('span', 'key baseline',
      `held-out loss of ${versionWord(ref.version)}, ${ref.why}`));
  }
  figure.append(plot, element('figcaption', '', ...keys));
  return figure;
}
