// The OpenAPI contract test: the requests the carrier driver (lib/carrier_twilio.c, through
// tests/support/carrier_cli) sends and the responses carrier-sim gives back are validated
// against the Calls operations of Twilio's twilio_api_v2010.json.
//
// A recording proxy sits between the driver and carrier-sim, so what is checked is the wire:
//   create  POST /2010-04-01/Accounts/{AccountSid}/Calls.json        requestBody (form) + 201
//   fetch   GET  /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json  200
//   list    GET  /2010-04-01/Accounts/{AccountSid}/Calls.json        query parameters + 200
//   update  POST /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json  requestBody (form) + 200
// Usage: node contract.js <carrier-sim> <carrier_cli> <twilio_api_v2010.json>
'use strict';
const http = require('http');
const fs = require('fs');
const net = require('net');
const { spawn, execFileSync } = require('child_process');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

const [simBin, cliBin, specPath] = process.argv.slice(2);
const ACCOUNT = 'AC0123456789abcdef0123456789abcdef';
const TOKEN = '0123456789abcdef0123456789abcdef';
const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
const failures = [];
const fail = (msg) => { failures.push(msg); console.error('FAIL: ' + msg); };

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const rfc2822 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$/;
ajv.addFormat('date-time-rfc-2822', rfc2822);
for (const f of ['uri-map', 'currency', 'endpoint', 'phone-number', 'http-method', 'sid',
                 'uri-template', 'twiml', 'callback-event']) {
  if (!ajv.formats[f]) ajv.addFormat(f, true);
}
// Twilio's document uses "uri" for relative URIs ("/2010-04-01/..."): accept a URI reference.
ajv.addFormat('uri', { type: 'string', validate: (s) => /^(https?:\/\/|\/)/.test(s) });
ajv.addSchema(spec, 'twilio');

const CALLS = '/2010-04-01/Accounts/{AccountSid}/Calls.json';
const CALL = '/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json';
const escapePointer = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
function validator(pointer) {
  return ajv.getSchema('twilio#' + pointer) || ajv.compile({ $ref: 'twilio#' + pointer });
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function request(options, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// ---- checks ----

function checkForm(op, path, form) {
  const rb = spec.paths[path][op].requestBody;
  const schema = rb && rb.content['application/x-www-form-urlencoded'].schema;
  if (!schema) return fail(`${op} ${path}: the spec has no form requestBody`);
  const obj = {};
  for (const [name, value] of form) {
    const prop = schema.properties[name];
    if (!prop) { fail(`${op} ${path}: parameter ${name} is not in the spec`); continue; }
    if (prop.type === 'array') (obj[name] = obj[name] || []).push(value);
    else if (prop.type === 'integer') obj[name] = /^-?\d+$/.test(value) ? Number(value) : value;
    else if (prop.type === 'boolean') obj[name] = value === 'true' ? true : value === 'false' ? false : value;
    else obj[name] = value;
  }
  const v = validator(`/paths/${escapePointer(path)}/${op}/requestBody/content/application~1x-www-form-urlencoded/schema`);
  if (!v(obj)) fail(`${op} ${path}: request ${JSON.stringify(obj)}: ${ajv.errorsText(v.errors)}`);
  return obj;
}

function checkQuery(op, path, search) {
  const params = spec.paths[path][op].parameters || [];
  for (const [name, value] of search) {
    const p = params.find((x) => x.in === 'query' && x.name === name);
    if (!p) { fail(`${op} ${path}: query parameter ${name} is not in the spec`); continue; }
    const schema = p.schema || {};
    const typed = schema.type === 'integer' ? Number(value) : value;
    const v = ajv.compile({ ...schema });
    if (!v(typed)) fail(`${op} ${path}: query ${name}=${value}: ${ajv.errorsText(v.errors)}`);
  }
}

function checkResponse(op, path, status, body) {
  const responses = spec.paths[path][op].responses;
  if (!responses[String(status)]) return fail(`${op} ${path}: status ${status} is not in the spec (${Object.keys(responses)})`);
  let json;
  try { json = JSON.parse(body); } catch (e) { return fail(`${op} ${path}: the response is not JSON`); }
  const v = validator(`/paths/${escapePointer(path)}/${op}/responses/${status}/content/application~1json/schema`);
  if (!v(json)) fail(`${op} ${path}: response ${status}: ${ajv.errorsText(v.errors)}`);
  return json;
}

function route(method, url) {
  const u = new URL(url, 'http://x');
  if (/^\/2010-04-01\/Accounts\/[^/]+\/Calls\.json$/.test(u.pathname)) return [method.toLowerCase(), CALLS, u];
  if (/^\/2010-04-01\/Accounts\/[^/]+\/Calls\/[^/]+\.json$/.test(u.pathname)) return [method.toLowerCase(), CALL, u];
  return [null, null, u];
}

async function main() {
  const simPort = await freePort();
  const proxyPort = await freePort();
  const hookPort = await freePort();
  const exchanges = [];

  // callbacks and TwiML: answered, not checked here (tests/svc/test_carrier_sim.c does that)
  const hooks = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url.startsWith('/twiml')) {
        res.writeHead(200, { 'Content-Type': 'text/xml' });
        res.end('<Response><Say>Hello</Say></Response>');
      } else { res.writeHead(204); res.end(); }
    });
  }).listen(hookPort, '127.0.0.1');

  const proxy = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = { ...req.headers, host: `127.0.0.1:${simPort}` };
      try {
        const r = await request({ host: '127.0.0.1', port: simPort, method: req.method, path: req.url, headers }, body);
        exchanges.push({ method: req.method, url: req.url, headers: req.headers, body, response: r });
        res.writeHead(r.status, { 'Content-Type': r.headers['content-type'] || 'application/json' });
        res.end(r.body);
      } catch (e) { res.writeHead(502); res.end(); }
    });
  }).listen(proxyPort, '127.0.0.1');

  const sim = spawn(simBin, [], {
    env: { ...process.env, CARRIER_SIM_LISTEN: `http://127.0.0.1:${simPort}`,
           CARRIER_ACCOUNT_SID: ACCOUNT, CARRIER_AUTH_TOKEN: TOKEN,
           CARRIER_SIM_RING_MS: '20', CARRIER_SIM_TALK_MS: '100' },
    stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    for (let i = 0; ; i++) {
      try { if ((await request({ host: '127.0.0.1', port: simPort, path: '/readyz' })).status === 200) break; }
      catch (e) { /* not yet */ }
      if (i > 200) throw new Error('carrier-sim did not become ready');
      await new Promise((r) => setTimeout(r, 50));
    }
    const env = { ...process.env, CARRIER_BASE_URL: `http://127.0.0.1:${proxyPort}`,
                  CARRIER_ACCOUNT_SID: ACCOUNT, CARRIER_AUTH_TOKEN: TOKEN };
    const cli = (...args) => new Promise((resolve) => {
      const p = spawn(cliBin, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d) => { out += d; });
      p.on('close', (code) => { console.log(`carrier_cli ${args.join(' ')} -> ${out.trim()}`); resolve({ code, out: JSON.parse(out) }); });
    });
    const hook = `http://127.0.0.1:${hookPort}`;
    const today = new Date().toISOString().slice(0, 10);
    // a number ending in 00 stays in progress, so the update hangs up a live call
    const created = await cli('create', '+15550100100', `${hook}/twiml?x=1`, `${hook}/status`);
    if (created.code !== 0) fail('create failed: ' + JSON.stringify(created.out));
    const sid = created.out.calls[0] && created.out.calls[0].sid;
    await new Promise((r) => setTimeout(r, 300));
    const answered = await cli('create', '+15550100123', `${hook}/twiml`, `${hook}/status`, '+15550001111');
    if (answered.code !== 0) fail('second create failed');
    for (const [args, want] of [[['fetch', sid], 0], [['list', '+15550100100', today], 0],
                                [['list', '+15550100123'], 0], [['hangup', sid], 0],
                                [['fetch', sid], 0]]) {
      const r = await cli(...args);
      if (r.code !== want) fail(`carrier_cli ${args.join(' ')}: exit ${r.code}`);
    }
    const last = await cli('fetch', sid);
    if (last.out.calls[0].status !== 'completed') fail('the hung-up call is ' + last.out.calls[0].status);
    await new Promise((r) => setTimeout(r, 300));
    const finished = await cli('fetch', answered.out.calls[0].sid);
    if (finished.out.calls[0].status !== 'completed' || finished.out.calls[0].duration_seconds !== 1)
      fail('the answered call did not complete with a duration: ' + JSON.stringify(finished.out));

    // ---- validate every exchange ----
    const seen = new Set();
    for (const x of exchanges) {
      const [op, path, u] = route(x.method, x.url);
      if (!op || !spec.paths[path] || !spec.paths[path][op]) { fail(`${x.method} ${x.url}: not a Calls operation`); continue; }
      seen.add(`${op} ${path}`);
      const auth = x.headers.authorization || '';
      const expected = 'Basic ' + Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64');
      if (auth !== expected) fail(`${op} ${path}: no HTTP Basic authentication with the account`);
      if (op === 'post') {
        if (!/^application\/x-www-form-urlencoded/.test(x.headers['content-type'] || ''))
          fail(`${op} ${path}: content-type ${x.headers['content-type']}`);
        checkForm(op, path, new URLSearchParams(x.body));
      } else {
        checkQuery(op, path, u.searchParams);
      }
      checkResponse(op, path, x.response.status, x.response.body);
      console.log(`checked ${x.method} ${x.url} -> ${x.response.status}`);
    }
    for (const want of [`post ${CALLS}`, `get ${CALLS}`, `get ${CALL}`, `post ${CALL}`])
      if (!seen.has(want)) fail(`no ${want} was exercised`);

    // carrier-sim's answers to requests sent directly: list paging fields, update with canceled
    const auth = 'Basic ' + Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64');
    const page = await request({ host: '127.0.0.1', port: simPort, headers: { Authorization: auth },
      path: `/2010-04-01/Accounts/${ACCOUNT}/Calls.json?PageSize=1&Status=completed` });
    const pageJson = checkResponse('get', CALLS, page.status, page.body);
    if (!pageJson || pageJson.calls.length !== 1 || !pageJson.next_page_uri) fail('paging: ' + page.body);
    const next = await request({ host: '127.0.0.1', port: simPort, headers: { Authorization: auth }, path: pageJson.next_page_uri });
    const nextJson = checkResponse('get', CALLS, next.status, next.body);
    if (!nextJson || nextJson.page !== 1 || nextJson.calls.length !== 1) fail('second page: ' + next.body);
  } catch (e) {
    fail(e.stack || String(e));
  } finally {
    sim.kill('SIGTERM');
    await new Promise((r) => sim.on('exit', r));
    proxy.close();
    hooks.close();
  }
  if (failures.length) {
    console.error(`contract: ${failures.length} failure(s)`);
    process.exit(1);
  }
  console.log('contract: every exchange matches twilio_api_v2010.json');
}

main();
