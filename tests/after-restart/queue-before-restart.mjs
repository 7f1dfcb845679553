// Run by `cargo xtask test` just before it stops the whole stack (`wrangler dev` and the node):
// 16 API predictions are submitted as fast as possible, so that the stop finds some queued, some
// on the node and some done. Their ids and key go to queued.json beside ATELIER_TEST_STATE;
// tests/after-restart/queued.test.mjs checks after the restart that none was lost or charged twice.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BASE, createKey, flatPng, uniqueEmail } from '../lib/helpers.mjs';

const granted = 20;
const key = await createKey(uniqueEmail('restart'), granted, 10);
const submit = async (i) => {
  const image = `data:image/png;base64,${flatPng(256, 256, 30 + i * 7).toString('base64')}`;
  const r = await fetch(`${BASE}/v1/run`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model_name: 'background-remove', inputs: { image } }),
  });
  const body = await r.json();
  if (r.status !== 200) throw new Error(`submit ${i}: ${r.status} ${JSON.stringify(body)}`);
  return body.id;
};
const ids = await Promise.all(Array.from({ length: 16 }, (_, i) => submit(i)));
const file = join(dirname(process.env.ATELIER_TEST_STATE), 'queued.json');
writeFileSync(file, JSON.stringify({ key, granted, ids, at: Date.now() }));
console.log(`queued ${ids.length} predictions just before the restart (${file})`);
