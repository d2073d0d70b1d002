// The official openai package as a real client of the A4PS API: lists the models, runs the
// whole system as model "a4ps" (plain and streamed), talks to one persona (content as parts,
// penalties, a stream with its usage chunk), and gets an error it can read for an unknown
// model and for an image part. Usage: node openai_client.mjs BASE_URL
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

// Content as an array of parts, as the SDKs' typed messages, LangChain and Open WebUI send it;
// OpenAI's penalties.
const parts = await client.chat.completions.create({
  model: 'a4ps-brick',
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'how' },
        { type: 'text', text: 'fast?' },
      ],
    },
  ],
  frequency_penalty: 0.5,
  presence_penalty: 0.5,
});
assert.equal(parts.choices[0].message.content, 'BRICK hears: how\nfast?');
assert.ok(parts.usage.completion_tokens > 0, 'a persona counts its tokens');

const counted = await client.chat.completions.create({
  model: 'a4ps-brick',
  messages: [{ role: 'user', content: 'count me' }],
  stream: true,
  stream_options: { include_usage: true },
});
let usage = null;
let streamed = '';
for await (const chunk of counted) {
  streamed += chunk.choices[0]?.delta?.content ?? '';
  if (chunk.usage) {
    assert.deepEqual(chunk.choices, [], 'the usage chunk has no choices');
    usage = chunk.usage;
  }
}
assert.equal(streamed, 'BRICK hears: count me');
assert.ok(usage, 'include_usage sends a usage chunk');
assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);

await assert.rejects(
  client.chat.completions.create({
    model: 'a4ps-brick',
    messages: [
      {
        role: 'user',
        content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA==' } }],
      },
    ],
  }),
  (error) => error.status === 400 && /"image_url".*text only/.test(error.message),
);

await assert.rejects(
  client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
  (error) => error.status === 404 && /a4ps-PERSONA/.test(error.message),
);
console.log('openai client: 8 checks passed');
