// Validates the gateway answers that the end-to-end tests recorded (tests/support/testsupport.c,
// OUTDIAL_RECORD_RESPONSES) against docs/openapi.json, with ajv (JSON Schema 2020-12, the
// dialect of OpenAPI 3.1) and ajv-formats: nobody here wrote the validator.
//
// For each recorded answer: the path is matched against the document's path templates (a
// literal segment wins over a parameter, as in gateway/router.c), then the operation by
// method, the response by status (exact code, else "4XX"/"5XX", else "default" for errors),
// the media type by Content-Type, and the body against that response's schema. An unknown
// route must answer the Error shape with 404 (405 for a known path with another method).
//
// Usage: node validate.mjs <openapi.json> <recordings dir>   (exit 1 on any mismatch)
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const [docPath, dir] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(docPath, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
ajv.addSchema(doc, 'openapi.json');

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const templates = Object.keys(doc.paths).map((t) => ({
  template: t,
  segments: t.split('/').slice(1),
}));

function pointer(...parts) {
  return parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

// The template for a concrete path; null when none matches.
function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; } // a test sending a malformed path
}

function matchTemplate(path) {
  const segs = path.replace(/\/$/, '').split('/').slice(1).map(safeDecode);
  let best = null;
  for (const t of templates) {
    if (t.segments.length !== segs.length) continue;
    if (!t.segments.every((s, i) => s.startsWith('{') || s === segs[i])) continue;
    if (best === null) { best = t; continue; }
    // the first segment where one is literal and the other a parameter decides
    for (let i = 0; i < segs.length; i++) {
      const a = t.segments[i].startsWith('{'), b = best.segments[i].startsWith('{');
      if (a !== b) { if (!a) best = t; break; }
    }
  }
  return best;
}

const validators = new Map();
function validatorFor(ptr) {
  if (!validators.has(ptr)) validators.set(ptr, ajv.compile({ $ref: 'openapi.json#' + ptr }));
  return validators.get(ptr);
}

function resolveResponse(resp) {
  // components/responses/$ref
  while (resp && resp.$ref) {
    const parts = resp.$ref.replace(/^#\//, '').split('/');
    resp = parts.reduce((o, k) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return resp;
}

const failures = new Map(); // key -> {count, example}
const seen = new Set();
let checked = 0, skipped = 0;

function fail(key, example) {
  const f = failures.get(key) || { count: 0, example };
  f.count++;
  failures.set(key, f);
}

function checkBody(rec, label, schemaPtr) {
  let body;
  try {
    body = JSON.parse(rec.body);
  } catch {
    fail(`${label}: body is not JSON`, rec.body.slice(0, 300));
    return;
  }
  const validate = validatorFor(schemaPtr);
  if (!validate(body)) {
    const errs = validate.errors.slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}` +
      (e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ''));
    fail(`${label}: ${errs.join('; ')}`, rec.body.slice(0, 400));
  }
}

function checkRecord(rec) {
  const url = new URL(rec.url);
  const path = url.pathname;
  if (!path.startsWith('/v1/') && !path.startsWith('/api/')) return;
  if (rec.truncated) { skipped++; return; }
  checked++;
  const method = rec.method.toLowerCase();
  const t = matchTemplate(path);
  const errorPtr = '/components/schemas/Error';
  if (t === null || !doc.paths[t.template][method]) {
    const label = `${rec.method} ${t ? t.template : path} (not documented) -> ${rec.status}`;
    const want = t === null ? [404] : [404, 405];
    // a public rate limit or an auth failure may come before routing
    if (![...want, 401, 413, 429, 503].includes(rec.status)) fail(`${label}: an unknown route answered ${rec.status}`, rec.body.slice(0, 200));
    else checkBody(rec, label, errorPtr);
    return;
  }
  const op = doc.paths[t.template][method];
  const status = String(rec.status);
  const range = status[0] + 'XX';
  const code = op.responses[status] ? status
    : op.responses[range] ? range
    : (rec.status >= 400 && op.responses.default) ? 'default' : null;
  const label = `${rec.method} ${t.template} -> ${rec.status}`;
  if (code === null) {
    fail(`${label}: status not documented`, rec.body.slice(0, 300));
    return;
  }
  seen.add(`${rec.method} ${t.template} ${code}`);
  const resp = resolveResponse(op.responses[code]);
  const media = (rec.contentType || '').split(';')[0].trim().toLowerCase();
  if (!resp.content) {
    if (rec.body.length > 0) fail(`${label}: a body where the document has none`, rec.body.slice(0, 200));
    return;
  }
  if (!resp.content[media]) {
    fail(`${label}: Content-Type ${media || '(none)'} is not documented (${Object.keys(resp.content).join(', ')})`, rec.body.slice(0, 200));
    return;
  }
  if (media !== 'application/json') return; // text/xml TwiML, text/csv: no schema to check
  // the schema of this response, by JSON pointer into the document
  const base = op.responses[code].$ref
    ? op.responses[code].$ref.replace(/^#/, '')
    : '/' + pointer('paths', t.template, method, 'responses', code);
  checkBody(rec, label, base + '/' + pointer('content', media, 'schema'));
}

const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.jsonl')) : [];
for (const f of files) {
  const lines = readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean);
  for (const line of lines) {
    let rec;
    try { rec = JSON.parse(line); } catch { fail(`${f}: unreadable record`, line.slice(0, 200)); continue; }
    checkRecord(rec);
  }
}

let ops = 0, opsSeen = 0;
for (const [t, item] of Object.entries(doc.paths))
  for (const m of METHODS)
    if (item[m]) {
      ops++;
      if (Object.keys(item[m].responses).some((c) => seen.has(`${m.toUpperCase()} ${t} ${c}`))) opsSeen++;
    }
console.log(`openapi contract: ${checked} recorded answers from ${files.length} test(s) checked ` +
  `(${skipped} too large to check); ${opsSeen} of ${ops} documented operations seen`);
if (files.length === 0)
  console.log('openapi contract: no recordings yet: run the end-to-end tests first (ctest -L e2e)');
if (failures.size > 0) {
  console.log(`openapi contract: FAIL: ${failures.size} kind(s) of mismatch:`);
  for (const [key, f] of failures) console.log(`  ${key}  [x${f.count}]\n      e.g. ${f.example}`);
  process.exit(1);
}
console.log('openapi contract: every recorded answer matches docs/openapi.json');
