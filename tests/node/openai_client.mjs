// The official openai package as a real client of the A4PS API: lists the models, runs the
// whole system as model "a4ps" (plain and streamed), talks to one persona, and gets an
// error it can read for an unknown model. Usage: node openai_client.mjs BASE_URL
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: `${process.argv[2]}/v1`, apiKey: 'unused-on-loopback' });

const models = await client.models.list();
const ids = models.data.map((m) => m.id).sort();
assert.deepEqual(ids, ['a4ps', 'a4ps-alfred', 'a4ps-babs', 'a4ps-brick', 'a4ps-robin']);

const whole = await client.chat.completions.create({
  model: 'a4ps',
  messages: [{ role: 'user', content: 'plan the week' }],
});
assert.equal(whole.choices[0].message.content, 'answer to plan the week');
assert.equal(whole.choices[0].finish_reason, 'stop');
assert.deepEqual(whole.a4ps.turns, ['one', 'two', 'three']);

const stream = await client.chat.completions.create({
  model: 'a4ps',
  messages: [{ role: 'user', content: 'stream the week' }],
  stream: true,
});
let content = '';
let extensions = 0;
let finish = null;
for await (const chunk of stream) {
  content += chunk.choices[0]?.delta?.content ?? '';
  if (chunk.a4ps) extensions += 1;
  finish = chunk.choices[0]?.finish_reason ?? finish;
}
assert.equal(content, 'answer to stream the week');
assert.equal(finish, 'stop');
assert.ok(extensions > 9, `persona events arrive in the a4ps field (${extensions})`);

const brick = await client.chat.completions.create({
  model: 'a4ps-brick',
  messages: [{ role: 'user', content: 'how fast?' }],
  temperature: 0,
  max_tokens: 32,
});
assert.equal(brick.choices[0].message.content, 'BRICK hears: how fast?');

await assert.rejects(
  client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
  (error) => error.status === 404 && /a4ps-PERSONA/.test(error.message),
);
console.log('openai client: 5 checks passed');
