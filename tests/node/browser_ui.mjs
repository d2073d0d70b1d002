// The browser UI end to end, in Debian's chromium driven by playwright-core: the demo task with
// a document goes in, the four personas' turns appear live in their lanes, a reload in the
// middle of the run picks the stream up again, and the run ends with ALFRED's answer and the
// dissonance. Leaves a screenshot. Usage: node browser_ui.mjs BASE_URL SCREENSHOT DOCUMENT_FILE
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [base, screenshot, documentFile] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(180_000);
  await page.goto(`${base}/`);
  await page.fill('#task', "Design the core user onboarding protocol for the Commonwealth's " +
    "'Community Resource Atlas', balancing rapid adoption with a welcoming experience.");
  await page.click('#doc-box summary');
  await page.fill('#doc-label', 'seeding-task.md');
  await page.fill('#doc-text', readFileSync(documentFile, 'utf8'));
  await page.press('#task', 'Control+Enter');

  // Live: the first streamed text arrives while the run is still going; then reload.
  await page.waitForFunction(() => document.querySelector('.lane .turn span:last-child')?.textContent);
  const runId = await page.evaluate(() => location.hash.slice(5));
  assert.match(runId, /^r-/);
  const before = await page.evaluate(() => document.querySelector('#status').textContent);
  assert.doesNotMatch(before, /run (done|error)/, 'the reload happens mid-run');
  await page.reload();
  assert.equal(await page.evaluate(() => location.hash.slice(5)), runId);

  // After the reload the same run streams on to its end, every persona in its lane.
  await page.waitForFunction(() => /run done/.test(document.querySelector('#status').textContent));
  for (const persona of ['ALFRED', 'BABS', 'BRICK', 'ROBIN']) {
    const text = await page.textContent(`.lane[data-persona="${persona}"] .turns`);
    assert.ok(text.trim().length > 0, `${persona} spoke`);
  }
  assert.ok((await page.textContent('#answer .text')).trim().length > 0, 'an answer');
  assert.match(await page.textContent('#dissonance'), /^Dissonance \d\.\d\d/);
  assert.ok((await page.locator('#tot li').count()) > 0, 'Tree-of-Thoughts candidates with scores');

  // The history panel lists the run; the models panel shows the budget.
  await page.click('nav button[data-panel="history"]');
  await page.waitForSelector(`#history a[href="#run=${runId}"]`);
  await page.click('nav button[data-panel="models"]');
  await page.waitForFunction(() => /budget/.test(document.querySelector('#models .body').textContent));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`browser UI: run ${runId} streamed live, survived a reload, screenshot ${screenshot}`);
} finally {
  await browser.close();
}
