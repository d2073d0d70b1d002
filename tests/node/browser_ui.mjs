// The browser UI end to end, in Debian's chromium driven by playwright-core, against a4ps serve
// on a copy of the demo image (real llama.cpp on generated models). What a person does in the
// first hour, in order:
//   a whitespace-only task is refused in words; the panels open in view;
//   a run whose model file is missing fails, and the page says why in words;
//   a new task in that stuck thread is refused with a way out (a new thread);
//   the demo task runs live there (Run disabled, progress in words), survives a reload, is
//   cancelled and resumed, and ends done with all four lanes; a reload of that run (two
//   run_finished events) shows it done again; the panels open in view over the scrolled run;
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
    'reload, a cancel and a resume');
} finally {
  await browser.close();
}
