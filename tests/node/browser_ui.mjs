// The browser UI end to end, in Debian's chromium driven by playwright-core, against a4ps serve
// on a copy of the demo image (real llama.cpp on generated models). What a person does in the
// first hour, in order:
//   a whitespace-only task is refused in words; the panels open in view;
//   a run whose model file is missing fails, and the page says why in words;
//   a new task in that stuck thread is refused with a way out (a new thread);
//   the demo task runs live there (Run disabled, progress in words), survives a reload, is
//   cancelled and resumed, and ends done with all four lanes; a reload of that run (two
//   run_finished events) shows it done again; the panels open in view over the scrolled run;
//   the Goals panel shows the loop's state and the queue in run order, a goal added through its
//   form is queued because "you asked", is paused, resumed and cancelled with its buttons, one
//   added through the API appears without a reload (the goal stream), and a synthesis goal says
//   that BRICK and ROBIN disagreed and links to the run that caused it;
//   the Adapters panel shows what each persona uses and its counts, ROBIN's adapters with their
//   statuses and loss plots, and the gate's decisions in words (the rejection's reason too),
//   also on a narrow window;
//   the thread list holds each thread, a task goes into the open thread, New thread starts
//   another; an unknown run clears the page and says so.
// Leaves a screenshot of each state in SCREEN_DIR.
// Usage: node browser_ui.mjs BASE_URL SCREEN_DIR DOCUMENT_FILE HIDEABLE_MODEL_FILE
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [base, screens, documentFile, hideableModel] = process.argv.slice(2);
mkdirSync(screens, { recursive: true });
const VIEWPORT = { width: 1400, height: 1000 };
const NODE_NAME = /\b(alfred|babs|brick|robin|tot)_[a-z]+\b/;
const DEMO_TASK = "Design the core user onboarding protocol for the Commonwealth's " +
  "'Community Resource Atlas', balancing rapid adoption with a welcoming experience.";

async function get(path) {
  const response = await fetch(base + path);
  assert.ok(response.ok, `GET ${path}: HTTP ${response.status}`);
  return path.endsWith('/events') ? response.text() : response.json();
}
const runCount = async () => (await get('/v1/runs')).runs.length;
async function post(path, body = {}) {
  const response = await fetch(base + path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.ok(response.ok, `POST ${path}: HTTP ${response.status} ${await response.clone().text()}`);
  return response.json();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
let shot = 0;
let page;
async function screenshot(name) {
  const path = `${screens}/${String(++shot).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path });
  console.log(`screenshot ${path}`);
}
const text = (selector) => page.textContent(selector);
const hashRun = () => page.evaluate(() => location.hash.replace(/^#run=/, ''));
const outcome = (status) => page.waitForSelector(`#outcome[data-status="${status}"]`);

// The drawer lies in the window and nothing covers it: a person sees it where they clicked.
async function assertPanelInView(name) {
  await page.click(`nav button[data-panel="${name}"]`);
  const drawer = page.locator('#drawer');
  await drawer.waitFor({ state: 'visible' });
  const box = await drawer.boundingBox();
  assert.ok(box.y >= 0 && box.y < 100 && box.x + box.width <= VIEWPORT.width &&
    box.height > VIEWPORT.height / 2, `the ${name} panel is in the window: ${JSON.stringify(box)}`);
  const onTop = await page.evaluate(({ x, y }) =>
    document.elementFromPoint(x, y)?.closest('#drawer') !== null,
  { x: box.x + box.width / 2, y: box.y + box.height / 2 });
  assert.ok(onTop, `the ${name} panel is not covered`);
  assert.ok(await page.isVisible(`#${name}`), `the drawer shows ${name}`);
}

async function closePanel() {
  await page.keyboard.press('Escape');
  await page.locator('#drawer').waitFor({ state: 'hidden' });
}

async function cancelRunOnScreen() {
  await page.waitForSelector('#cancel', { state: 'visible' });
  await page.click('#cancel');
  await outcome('cancelled');
  assert.match(await text('#outcome .text'), /^The run was cancelled after \d+ steps?\. Resume it/);
}

// The Goals panel (docs/http-api.md, The browser UI). `runId` is the demo task's run;
// `published` whether the page said its dissonance was over the threshold.
async function checkGoalsPanel(runId, published) {
  const streams = [];
  page.on('request', (r) => { if (r.url().includes('/v1/goals/events')) streams.push(r.url()); });
  const before = await get('/v1/goals');  // turns the events stored so far into goals
  await assertPanelInView('goals');
  await page.waitForFunction(() =>
    /^Autonomous loop: (on|off)/.test(document.querySelector('#goal-loop').textContent));
  assert.match(await text('#goal-loop'), before.loop.on ? /^Autonomous loop: on/
    : /^Autonomous loop: off — \[motivator\] autonomous = false in /);
  await checkSynthesisGoals(before.goals, runId, published);

  // The form: an empty prompt is refused in words; a goal of one's own is queued, "you asked".
  await page.fill('#goal-prompt', '   ');
  await page.click('#goal-form button[type=submit]');
  await page.waitForSelector('#goal-notice:has-text("Say what A4PS should work on first")');
  const prompt = 'List the three questions a new volunteer asks first.';
  await page.fill('#goal-prompt', prompt);
  await page.fill('#goal-priority', '70');
  await page.click('#goal-form button[type=submit]');
  await page.waitForSelector('#goal-notice:has-text("Added goal #")');
  const id = Number(/^Added goal #(\d+)\.$/.exec(await text('#goal-notice'))[1]);
  const mine = await get(`/v1/goals/${id}`);
  assert.equal(mine.prompt, prompt);
  assert.ok(mine && mine.kind === 'user' && mine.priority === 70, JSON.stringify(mine));
  const item = `#goals .goal[data-goal="${mine.id}"]`;
  await page.waitForSelector(`#goals [data-section=queued] .goal[data-goal="${mine.id}"]`);
  assert.equal(await text(`${item} .badge`), 'queued');
  assert.equal(await text(`${item} .why`), 'Why: you asked.');
  assert.equal(await text(`${item} .task`), `Task: ${prompt}`);
  await assertQueueOrder();
  await screenshot('goals-panel');

  // Its buttons: paused, queued again, cancelled; the server agrees each time.
  const steps = [['pause', 'paused'], ['resume', 'queued'], ['cancel', 'cancelled']];
  for (const [verb, status] of steps) {
    await page.click(`${item} [data-action=${verb}]`);
    await page.waitForSelector(`${item}[data-status=${status}]`);
    assert.equal(await text(`${item} .badge`), status);
    assert.equal((await get(`/v1/goals/${mine.id}`)).status, status, `${verb} reached the server`);
    if (status === 'paused') await screenshot('goal-paused');
  }
  assert.equal(await page.locator(`${item} button`).count(), 0, 'a cancelled goal has no buttons');
  await checkGoalsLive(streams);
  await closePanel();
}

// The queue on screen is in the order the loop takes it (GET /v1/goals?status=queued).
async function assertQueueOrder() {
  const { goals: queued } = await get('/v1/goals?status=queued');
  const shown = await page.$$eval('#goals [data-section=queued] .goal',
    (items) => items.map((li) => Number(li.dataset.goal)));
  assert.deepEqual(shown, queued.map((g) => g.id), 'the queue is shown in the order it runs');
}

// A synthesis goal says who disagreed and how much, and links to the run that caused it.
async function checkSynthesisGoals(goals, runId, published) {
  const synthesis = goals.filter((g) => g.kind === 'synthesis');
  console.log(`goals: ${goals.length}, synthesis ${synthesis.length}, the demo run's dissonance ` +
    `${published ? 'was' : 'was not'} over the threshold`);
  // browser_ui.sh sets the copy's [motivator] dissonance_threshold to 0.
  assert.ok(published, "the demo run's dissonance is over the threshold");
  assert.ok(synthesis.some((g) => g.context.episode.run === runId),
    `the demo run ${runId} left a synthesis goal: ${JSON.stringify(synthesis)}`);
  for (const g of synthesis) {
    const why = await text(`#goals .goal[data-goal="${g.id}"] .why`);
    const score = g.context.score.toFixed(2);
    assert.ok(why.startsWith(`Why: BRICK and ROBIN disagreed (dissonance ${score}) on “`), why);
    assert.ok(why.endsWith(`It came from run ${g.context.episode.run}.`), why);
  }
  const mine = synthesis.find((g) => g.context.episode.run === runId);
  if (!mine) return;
  await page.click(`#goals .goal[data-goal="${mine.id}"] .why a`);  // opens like History does
  await page.locator('#drawer').waitFor({ state: 'hidden' });
  assert.equal(await hashRun(), runId);
  await outcome('done');
  await page.click('nav button[data-panel="goals"]');
  await page.waitForSelector(`#goals .goal[data-goal="${mine.id}"]`);
}

// A goal added and cancelled through the API shows without a reload: the goal stream.
async function checkGoalsLive(streams) {
  await page.evaluate(() => { window.goalsNotReloaded = true; });
  const theirs = await post('/v1/goals', { prompt: 'Sent through the API, not the page.',
    priority: 10 });
  const item = `#goals .goal[data-goal="${theirs.id}"]`;
  await page.waitForSelector(`${item}[data-status=queued]`, { timeout: 30_000 });
  assert.equal(await text(`${item} .why`), 'Why: you asked.');
  await page.locator(item).scrollIntoViewIfNeeded();
  await screenshot('goal-from-the-api');
  await post(`/v1/goals/${theirs.id}/cancel`);
  await page.waitForSelector(`${item}[data-status=cancelled]`, { timeout: 30_000 });
  assert.ok(await page.evaluate(() => window.goalsNotReloaded), 'the page was not reloaded');
  assert.ok(streams.length > 0, 'the panel follows GET /v1/goals/events');
}

// A loss as the Adapters panel writes it: two decimals (more below 0.1), a true minus sign.
function loss(x) {
  const text = Math.abs(x) >= 0.1 || x === 0 ? x.toFixed(2) : String(Number(x.toPrecision(2)));
  return text.replace(/^-/, '\u2212');
}

// The Adapters panel (docs/http-api.md, The browser UI), read-only: for each persona the adapter
// in use and the counts, as GET /v1/evolve says; for ROBIN (browser_ui.sh: the demo's adopted
// adapter, a harmful one the gate rejected, an external one undecided) every adapter with its
// status and loss plot, and every decision in words with its figures.
async function checkAdaptersPanel() {
  const loop = await get('/v1/evolve');
  await assertPanelInView('adapters');
  const robin = loop.personas.find((p) => p.persona === 'robin');
  const { candidates } = await get('/v1/evolve/candidates?persona=robin');
  const { decisions, current } = await get('/v1/evolve/adoptions?persona=robin');
  assert.ok(robin.adopted != null && current.robin === robin.adopted,
    `the demo adopted an adapter for ROBIN: ${JSON.stringify(robin)}`);
  const statuses = new Set(candidates.map((c) => c.status));
  for (const status of ['adopted', 'rejected', 'candidate']) {
    assert.ok(statuses.has(status), `browser_ui.sh left a ${status} adapter for ROBIN`);
  }
  const section = '#adapters .persona[data-persona=robin]';
  await page.waitForFunction(({ section, n }) =>
    document.querySelectorAll(`${section} .adapter`).length === n,
  { section, n: candidates.length });

  // Each persona: what it uses now and its counts.
  for (const p of loop.personas) {
    const at = `#adapters .persona[data-persona=${p.persona}]`;
    assert.equal(await text(`${at} h3 .name`), p.name);
    assert.equal(await text(`${at} .uses`),
      p.adopted == null ? 'uses the base model' : `uses v${p.adopted}`);
    for (const key of ['judged', 'golden', 'golden_since_last_dataset', 'datasets']) {
      assert.equal(Number(await text(`${at} [data-count=${key}] dd`)), p[key], `${p.name} ${key}`);
    }
  }
  assert.equal(await text(`${section} .uses`), `uses v${robin.adopted}`);

  // Each adapter: its status, and a plot with the step losses as a line and the held-out
  // losses as points.
  const shown = await page.$$eval(`${section} .adapter`, (items) =>
    items.map((li) => [Number(li.dataset.version), li.dataset.status]));
  assert.deepEqual(shown, candidates.map((c) => [c.version, c.status]), 'newest first');
  const words = { candidate: 'candidate: not decided yet', adopted: 'adopted: in use',
    rejected: 'rejected', retired: 'retired: was in use' };
  for (const c of candidates) {
    const item = `${section} .adapter[data-version="${c.version}"]`;
    assert.equal(await text(`${item} .badge`), words[c.status]);
    assert.equal(await text(`${item} .adapter-head strong`), `ROBIN v${c.version}`);
    const trainer = c.trainer === 'a4ps' ? "A4PS's own trainer" : 'an external trainer';
    assert.ok((await text(`${item} .adapter-head small`))
      .startsWith(`dataset v${c.dataset_version} · ${trainer}`), `v${c.version}'s origin`);
    const plot = `${item} svg.plot`;
    assert.match(await page.getAttribute(plot, 'aria-label'),
      new RegExp(`^Loss curves of ROBIN v${c.version}: `));
    const d = c.step_losses.length ? await page.getAttribute(`${plot} path.steps`, 'd') : '';
    assert.equal((d.match(/[ML]/g) || []).length, c.step_losses.length,
      `v${c.version}: one point of the line per optimizer step`);
    assert.equal(await page.locator(`${plot} circle.held-out`).count(), c.held_out_losses.length,
      `v${c.version}: one mark per held-out loss`);
    // What it is measured by, dashed: what the gate compared it with, or for one not decided
    // yet the adapter in use when both were measured on the same held-out examples (a demo
    // image made again and again has candidates of later datasets too).
    const baselines = await page.locator(`${plot} path.baseline`).count();
    if (c.status === 'candidate') {
      assert.ok(baselines <= 1, `v${c.version}'s baseline`);
    } else {
      assert.equal(baselines, 1, `v${c.version}'s baseline`);
    }
    const labels = await page.$$eval(`${plot} text`, (t) => t.map((e) => e.textContent));
    assert.ok(labels.includes('loss'), 'the y axis says loss');
    if (c.step_losses.length) assert.ok(labels.includes('optimizer step'), 'the x axis says steps');
    assert.ok(labels.includes(loss(c.held_out_losses.at(-1))), 'the last held-out loss is written');
  }

  // Every decision in words with its figures; the rejection says why.
  const said = await page.$$eval(`${section} .decision`, (items) =>
    items.map((li) => [li.dataset.action, li.querySelector('.words').textContent]));
  assert.deepEqual(said.map(([a]) => a), decisions.map((d) => d.action), 'newest first');
  decisions.forEach((d, i) => {
    const f = d.figures;
    const over = d.baseline == null ? 'the base model' : `v${d.baseline}`;
    if (d.action === 'rollback') return;
    const verb = d.action === 'adopt' ? 'Adopted' : 'Rejected';
    const expected = `${verb} v${d.version}: held-out loss ${loss(f.baseline_mean_loss)} → ` +
      `${loss(f.candidate_mean_loss)}, improvement ${loss(f.mean_improvement)} (95% interval ` +
      `${loss(f.ci_low)} to ${loss(f.ci_high)}) over ${over} on ${f.n} example${f.n === 1 ? '' : 's'}; needed ` +
      `${loss(f.min_improvement)}.`;
    assert.ok(said[i][1].startsWith(expected), `${said[i][1]}\nexpected: ${expected}`);
  });
  const rejected = candidates.find((c) => c.status === 'rejected');
  const rejection = `${section} .decision[data-action=reject][data-version="${rejected.version}"]`;
  assert.match(await text(`${rejection} .words`), / It made the held-out loss worse\.$/);
  assert.match(await text(rejection), /Pairwise check skipped: the losses already decide\./);
  assert.match(await text(rejection), /decided by the gate · /);
  const adoption = `${section} .decision[data-action=adopt][data-version="${robin.adopted}"]`;
  assert.match(await text(`${adoption} .words`), new RegExp(`^Adopted v${robin.adopted}: `));
  const waiting = candidates.find((c) => c.status === 'candidate');
  assert.match(await text(`${section} .hint`),
    new RegExp(`not decided yet\\. .*a4ps evolve adopt robin ${waiting.version}\\.$`));
  assert.equal(await page.locator('#adapters button').count(), 0, 'the panel changes nothing');
  await page.$eval(section, (e) => e.scrollIntoView({ block: 'start' }));
  await screenshot('adapters-panel');

  // On a narrow window the drawer takes the width, and nothing in it runs off to the side.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForFunction(() => [...document.querySelectorAll('#adapters svg.plot')]
    .every((svg) => svg.viewBox.baseVal.width <= 360), null, { timeout: 10_000 });
  await page.locator(`${section} .adapter[data-status=adopted]`).scrollIntoViewIfNeeded();
  const overflow = await page.$eval('#drawer', (d) => d.scrollWidth - d.clientWidth);
  assert.ok(overflow <= 0, `the narrow drawer scrolls sideways by ${overflow}px`);
  const plotBox = await page.locator(`${section} .adapter[data-status=adopted] svg.plot`)
    .boundingBox();
  assert.ok(plotBox.x >= 0 && plotBox.x + plotBox.width <= 390, JSON.stringify(plotBox));
  await screenshot('adapters-panel-narrow');
  await closePanel();
  for (const b of await page.locator('header nav > *').all()) {  // the header wraps
    const box = await b.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 390, `${await b.textContent()} is in view`);
  }
  await page.setViewportSize(VIEWPORT);
}

try {
  page = await browser.newPage({ viewport: VIEWPORT });
  page.setDefaultTimeout(600_000);
  // Every progress line the page shows, across reloads.
  await page.addInitScript(() => {
    const seen = JSON.parse(sessionStorage.getItem('progress-seen') || '[]');
    document.addEventListener('DOMContentLoaded', () => {
      const line = document.querySelector('#progress');
      new MutationObserver(() => {
        if (line.textContent) seen.push(line.textContent);
        sessionStorage.setItem('progress-seen', JSON.stringify(seen));
      }).observe(line, { childList: true, characterData: true, subtree: true });
    });
  });
  await page.goto(`${base}/`);
  await page.waitForFunction(() =>  // the list came: the demo image's own run, or none
    document.querySelector('#thread-list li') || document.querySelector('#threads-note').textContent);
  assert.equal(await text('#thread-title'), 'New thread');
  assert.equal(await text('#task-label'), 'Task for a new thread');
  await screenshot('new-thread');

  // A whitespace-only task: refused in words, nothing sent.
  const before = await runCount();
  await page.fill('#task', '  \n\t  ');
  await page.click('#send');
  await page.waitForSelector('#notice:not([hidden])');
  assert.match(await text('#notice'), /Type a task first/);
  assert.equal(await runCount(), before);
  assert.equal(await hashRun(), '');
  await screenshot('whitespace-task-refused');

  // A run whose model file is missing fails at its first step, and says why in words.
  renameSync(hideableModel, `${hideableModel}.away`);
  await page.fill('#task', 'Plan a picnic for the reading group.');
  await page.click('#send');
  await outcome('error');
  renameSync(`${hideableModel}.away`, hideableModel);
  const failedId = await hashRun();
  const failed = await get(`/v1/runs/${failedId}`);
  assert.equal(failed.status, 'error');
  const said = await text('#outcome .text');
  assert.match(said, /^The run failed while ALFRED was choosing a route: ./);
  const events = await get(`/v1/runs/${failedId}/events`);
  const message = JSON.parse(/event: error\ndata: (.*)\n/.exec(events)[1]).message;
  assert.ok(said.includes(message), `the error event's message is on screen: ${message}`);
  assert.ok(await page.isVisible('#resume'), 'a failed run can be retried');
  await page.waitForFunction(() => document.querySelector('#thread-list a[aria-current=true] small')
    ?.textContent === '1 run · last failed');
  await screenshot('run-failed');

  // A new task in that thread: refused with a way out, nothing sent; the way out starts the
  // demo task in a new thread.
  await page.fill('#task', DEMO_TASK);
  await page.click('#doc-box summary');
  await page.fill('#doc-label', 'seeding-task.md');
  await page.fill('#doc-text', readFileSync(documentFile, 'utf8'));
  const stuckCount = await runCount();
  await page.press('#task', 'Control+Enter');
  await page.waitForSelector('#notice button');
  assert.match(await text('#notice'), /last run failed and has unfinished work.*new thread/);
  assert.equal(await runCount(), stuckCount);
  await screenshot('stuck-thread-offers-a-new-one');
  await page.click('#notice button:has-text("Ask in a new thread")');
  await page.waitForFunction((old) => /^#run=r-/.test(location.hash) &&
    location.hash !== `#run=${old}`, failedId);
  const runId = await hashRun();
  const threadB = (await get(`/v1/runs/${runId}`)).thread_id;
  assert.notEqual(threadB, failed.thread_id, 'the task went into a new thread');

  // Live: the first streamed text arrives while the run is still going; Run takes nothing
  // meanwhile, the progress line says in words who does what; then reload.
  await page.waitForFunction(() => document.querySelector('.lane .turn span:last-child')?.textContent);
  assert.ok(await page.isDisabled('#send'), 'Run is disabled while the run goes');
  assert.ok(await page.isVisible('#cancel'));
  const progress = await text('#progress');
  assert.match(progress, /^Step \d+ · /);
  assert.doesNotMatch(progress, NODE_NAME);
  await screenshot('run-going');
  await page.reload();
  assert.equal(await hashRun(), runId);

  // After the reload the same run streams on; cancelled, it says so and can go on.
  await page.waitForFunction(() =>
    document.querySelector('.lane[data-persona="BRICK"] .turn span:last-child')?.textContent);
  await cancelRunOnScreen();
  assert.ok(await page.isVisible('#resume'));
  await screenshot('run-cancelled');
  await page.click('#resume');
  await outcome('done');
  assert.match(await text('#outcome .text'), /^Done: ALFRED answered after \d+ steps\.$/);
  assert.ok(!(await page.isDisabled('#send')), 'Run is enabled again');

  // Every persona in its lane, the answer, the dissonance, the Tree of Thoughts.
  const assertWholeRun = async () => {
    for (const persona of ['ALFRED', 'BABS', 'BRICK', 'ROBIN']) {
      const said = await text(`.lane[data-persona="${persona}"] .turns`);
      assert.ok(said.trim().length > 0, `${persona} spoke`);
    }
    assert.ok((await text('#answer .text')).trim().length > 0, 'an answer');
    assert.match(await text('#dissonance'), /^Dissonance \d\.\d\d/);
    assert.ok((await page.locator('#tot li').count()) > 0, 'Tree-of-Thoughts candidates');
  };
  await assertWholeRun();
  const published = /over the threshold/.test(await text('#dissonance'));
  const labels = await page.$$eval('.turn .part', (parts) => parts.map((p) => p.textContent));
  for (const label of labels) assert.doesNotMatch(label, NODE_NAME, 'lane labels are words');
  await screenshot('run-done');

  // The progress lines were words, never a node's name.
  const seen = await page.evaluate(() => JSON.parse(sessionStorage.getItem('progress-seen')));
  for (const line of seen) assert.doesNotMatch(line, NODE_NAME, `progress in words: ${line}`);
  assert.ok(seen.some((l) => /(ALFRED|BABS|BRICK|ROBIN) is [a-z]+ing /.test(l)), seen.join('\n'));

  // The stored run holds a cancelled and a done run_finished; shown again, it is done, whole.
  const finishes = (await get(`/v1/runs/${runId}/events`)).match(/event: run_finished/g);
  assert.equal(finishes.length, 2, 'the run finished twice: cancelled, then done');
  await page.reload();
  await outcome('done');
  await assertWholeRun();

  // The panels open in view over a scrolled run.
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  await assertPanelInView('history');
  await page.waitForSelector(`#history a[href="#run=${runId}"]`);
  await screenshot('history-panel');
  await closePanel();
  await assertPanelInView('models');
  await page.waitForFunction(() => /Memory budget/.test(document.querySelector('#models').textContent));
  await screenshot('models-panel');
  await closePanel();
  await assertPanelInView('memory');
  await page.fill('#memory-q', 'onboarding');
  await page.press('#memory-q', 'Enter');
  await page.waitForSelector('#memory .hits li, #memory .hits:has-text("Nothing")');
  await screenshot('memory-panel');
  await closePanel();
  await checkGoalsPanel(runId, published);
  await checkAdaptersPanel();

  // The threads: the failed one, opened from the list, shows its failure again.
  await page.click(`#thread-list a[href="#thread=${failed.thread_id}"]`);
  await outcome('error');
  assert.ok((await text('#outcome .text')).includes(message));
  assert.equal(await page.locator('#conversation .card').count(), 1);
  await screenshot('failed-thread-opened');

  // A task in the open thread goes into it, as its second run.
  await page.click(`#thread-list a[href="#thread=${threadB}"]`);
  await outcome('done');
  assert.equal(await text('#task-label'), 'Next task in this thread');
  assert.equal(await page.inputValue('#doc-text'), '', 'the document went with the task it was sent with');
  await page.fill('#task', 'Now say it in one sentence.');
  await page.click('#send');
  await page.waitForFunction((old) => location.hash.startsWith('#run=') &&
    location.hash !== `#run=${old}`, runId);
  const followUp = await hashRun();
  assert.equal((await get(`/v1/runs/${followUp}`)).thread_id, threadB);
  await page.waitForFunction(() => document.querySelectorAll('#conversation .card').length === 2);
  await cancelRunOnScreen();
  await screenshot('second-run-in-thread');

  // New thread: an empty page whose task starts another thread.
  await page.click('#new-thread');
  await page.waitForFunction(() => document.querySelector('#thread-title').textContent === 'New thread');
  assert.equal(await hashRun(), '');
  assert.equal(await page.locator('#conversation .card').count(), 0);
  assert.ok(await page.isHidden('#run'));
  await page.fill('#task', 'Sketch a welcome letter for new volunteers.');
  await page.click('#send');
  await page.waitForFunction(() => location.hash.startsWith('#run='));
  const threadC = (await get(`/v1/runs/${await hashRun()}`)).thread_id;
  assert.ok(![threadB, failed.thread_id].includes(threadC), 'New thread made a new thread');
  await cancelRunOnScreen();
  for (const t of [failed.thread_id, threadB, threadC]) {
    await page.waitForSelector(`#thread-list a[href="#thread=${t}"]`);
  }
  assert.equal(await page.getAttribute(`#thread-list a[href="#thread=${threadC}"]`,
    'aria-current'), 'true');
  await screenshot('threads-listed');

  // An unknown run: nothing of the previous run stays; the page says what is missing.
  await page.evaluate(() => { location.hash = 'run=r-000000000000'; });
  await page.waitForSelector('#page-notice:not([hidden])');
  assert.match(await text('#page-notice'), /There is no run r-000000000000 in this image/);
  assert.ok(await page.isHidden('#run'));
  assert.equal((await text('#lanes')).replace(/\s+/g, ' ').trim(),
    'ALFRED supervisor BABS research BRICK thesis ROBIN antithesis');
  assert.equal(await page.locator('#conversation .card').count(), 0);
  await screenshot('unknown-run');
  console.log(`browser UI: ${shot} states checked, run ${runId} streamed live, survived a ` +
    'reload, a cancel and a resume; goals followed live');
} finally {
  await browser.close();
}
