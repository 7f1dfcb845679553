// The AI Assistant's language model (an OpenAI-compatible chat endpoint with tool calling),
// served here on loopback as a stand-in for a vLLM or llama.cpp server: the test stack's edge
// is configured with it (`ASSISTANT_LLM_URL`, model, key). The planner stays the fast path —
// the model is asked only when the planner would ask back — and the model's plan runs only if
// it passes core's checks; a refused plan, an error or a non-answer leaves the planner's
// question.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Client, fixture, giveAppCredits, uniqueEmail } from './lib/helpers.mjs';

const PORT = Number(process.env.ATELIER_LLM_PORT ?? 18799);
const TOKEN = uniqueEmail('llm').split('@')[0];
const seen = [];
let server;
let c;
let photo;

const toolCall = (args) => ({
  id: 'chatcmpl-1', object: 'chat.completion', model: 'atelier-test',
  choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'run_plan', arguments: JSON.stringify(args) } }] } }],
});

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const b = JSON.parse(body);
      seen.push({ path: req.url, auth: req.headers.authorization, body: b });
      const last = b.messages.at(-1).content;
      const send = (status, v) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(v)); };
      if (last.includes('zorp')) return send(200, toolCall({ reply: 'Zorping it.', steps: [{ model_name: 'upscale', inputs: { image: '$image:0', factor: '4x' } }] }));
      if (last.includes('blorp')) return send(200, toolCall({ reply: 'Teleporting.', steps: [{ model_name: 'teleport', inputs: { image: '$image:0' } }] }));
      if (last.includes('glorp')) return send(200, toolCall({ reply: 'From the web.', steps: [{ model_name: 'upscale', inputs: { image: 'http://127.0.0.1/evil.png' } }] }));
      if (last.includes('flarp')) return send(500, { error: 'overloaded' });
      return send(200, { choices: [{ index: 0, message: { role: 'assistant', content: 'I am not sure.' } }] });
    });
  });
  await new Promise((r) => server.listen(PORT, '127.0.0.1', r));
  c = await new Client().signUp();
  await giveAppCredits(c.email, 10);
  photo = (await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset;
});

after(() => server?.close());

const say = async (message, images = [photo.hash]) => {
  const r = await c.json('POST', '/api/assistant/messages', { message, images });
  assert.equal(r.status, 201, await r.clone().text());
  return (await r.json()).message;
};
const mine = () => seen.filter((s) => JSON.stringify(s.body.messages).includes(TOKEN));

test('what the planner understands never reaches the model', async () => {
  const m = await say(`remove the background (${TOKEN})`);
  assert.equal(m.kind, 'run');
  assert.deepEqual(m.steps.map((s) => s.tool), ['background-remove']);
  assert.equal(mine().length, 0);
});

test("when the planner is unsure, the model's checked plan runs: same tools, same price, same run", async () => {
  const before = (await (await c.req('GET', '/api/me')).json()).credits;
  const m = await say(`zorp this photo ${TOKEN}`);
  assert.equal(m.kind, 'run', JSON.stringify(m));
  assert.match(m.reply, /^Zorping it\. I'll run Upscale \(4x\) — 1 credit\./);
  assert.deepEqual(m.steps.map((s) => [s.tool, s.params.factor]), [['upscale', '4x']]);
  assert.equal(m.steps[0].generation.inputs.image, photo.hash);
  // What the endpoint was sent: the model, the key, one function, the references that exist.
  const call = mine().at(-1);
  assert.equal(call.path, '/v1/chat/completions');
  assert.equal(call.auth, 'Bearer test-llm-key');
  assert.equal(call.body.model, 'atelier-test');
  assert.deepEqual(call.body.tools.map((t) => t.function.name), ['run_plan']);
  assert.match(call.body.messages[0].content, /\$image:0\.\.\$image:0 \(the 1 image\(s\) attached/);
  assert.match(call.body.messages.at(-1).content, /\[1 image attached\]$/);
  // It runs like any plan: a Studio generation, charged.
  for (let i = 0; i < 240; i++) {
    const t = (await (await c.req('GET', '/api/assistant/messages')).json()).messages.find((x) => x.id === m.id);
    if (t.status !== 'running') { assert.equal(t.status, 'completed', JSON.stringify(t)); break; }
    await new Promise((r) => setTimeout(r, 500));
  }
  const after = (await (await c.req('GET', '/api/me')).json()).credits;
  assert.equal(before - after, m.steps[0].credits, 'the upscale, at its price (holds count from the start)');
});

test("a model's plan that fails the checks, an error or no plan leaves the planner's question", async () => {
  for (const word of ['blorp', 'glorp', 'flarp', 'snorp']) {
    const n = mine().length;
    const m = await say(`${word} this photo ${TOKEN}`);
    assert.equal(m.kind, 'question', `${word}: ${JSON.stringify(m)}`);
    assert.deepEqual(m.steps, []);
    assert.equal(mine().length, n + 1, `${word}: the model was asked once`);
  }
  // The service keeps serving.
  assert.equal((await c.req('GET', '/api/assistant/messages')).status, 200);
});
