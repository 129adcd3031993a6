// docs/webhooks.md's Node example, run against a delivery signed by webhook-svc's code
// (sign_sample.c): the standardwebhooks library must accept it with either secret of a
// rotation, and refuse a changed body, a wrong secret and an old timestamp.
// Usage: node verify_webhook.mjs <sample.json>
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';

const sample = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let failed = 0;
function expect(what, fn, ok) {
  let threw = null;
  try { fn(); } catch (e) { threw = e; }
  if ((threw === null) !== ok) {
    failed++;
    console.log(`verify_webhook: FAIL: ${what}: ${threw ? threw.message : 'accepted'}`);
  } else {
    console.log(`verify_webhook: ok: ${what}`);
  }
}

// --- as in docs/webhooks.md ---
const wh = new Webhook(sample.secret);            // "whsec_..." as Outdial shows it
const event = wh.verify(sample.body, sample.headers); // the raw body text, the three headers
// ---
if (event.event !== 'import.completed') { failed++; console.log('verify_webhook: FAIL: payload'); }

expect('the previous secret during a rotation', () => new Webhook(sample.previousSecret).verify(sample.body, sample.headers), true);
expect('a changed body', () => wh.verify(sample.body.replace('"total":2', '"total":3'), sample.headers), false);
expect('another secret', () => new Webhook('whsec_' + Buffer.alloc(24, 7).toString('base64')).verify(sample.body, sample.headers), false);
expect('a timestamp 10 minutes old', () => wh.verify(sample.body, { ...sample.headers,
  'webhook-timestamp': String(Number(sample.headers['webhook-timestamp']) - 600) }), false);
process.exit(failed ? 1 : 0);
