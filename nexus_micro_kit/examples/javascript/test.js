'use strict';
// Unit tests: node --test nexus_micro_kit/examples/javascript/
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const nm = require('./nexus_micro.js');

const body = (s) => Buffer.from(s, 'utf8');
const parse = (s, strict = false) => nm.parseResponse(200, [], typeof s === 'string' ? body(s) : s, { strict });
const category = (fn) => {
  try { fn(); } catch (e) { return e.category; }
  return 'ok';
};
const one = (md, strict = false) => parse(JSON.stringify({ micro_deposits: [{ micro_deposit: md }] }), strict)[0];

test('S1d: big integers stay exact; overflow and long integers are malformed', () => {
  const r = parse('{"micro_deposits":[{"micro_deposit":{"status":12345678901234567890,"n":-0,"f":1e-400}}]}');
  assert.equal(r[0].status, 12345678901234567890n);
  assert.equal(nm.stringify(nm.toCanonical(r)[0].status), '12345678901234567890');
  assert.equal(r[0].extra.get('n'), 0n);
  assert.equal(category(() => parse('{"a":1e400}')), 'malformed_response');
  assert.equal(category(() => parse('{"a":-1e400}')), 'malformed_response');
  assert.equal(category(() => parse(`{"a":${'9'.repeat(4301)}}`)), 'malformed_response');
  assert.equal(category(() => parse(`{"a":-${'9'.repeat(4300)}}`)), 'ok');
});

test('S1a/S1c/S1e/S1f/S1h: malformed bodies', () => {
  const bad = ['', ' ', '[]', 'null', '"x"', '{"a":NaN}', '{"a":Infinity}', '{} x', '{"a":1,}', "{'a':1}",
    '{"a":"\u0001"}', '{"a":"\\ud800"}', '{"a":"\\udc00"}', '{"a":"\\ud800x"}', '{"a":"\\ud800\\ud800"}',
    '{"a":01}', '{"a":.5}', '{"a":1.}', '{"a":+1}', '<html></html>', '{"a":1}\u00a0', '/*c*/{}'];
  for (const b of bad) assert.equal(category(() => parse(b)), 'malformed_response', JSON.stringify(b));
  assert.equal(category(() => parse(Buffer.from([0x7b, 0x7d, 0xc0, 0x80]))), 'malformed_response');
  assert.equal(category(() => parse(Buffer.from('{"a":"\xed\xa0\x80"}', 'latin1'))), 'malformed_response');
  assert.equal(category(() => parse(Buffer.from('\xef\xbb\xbf\xef\xbb\xbf{}', 'latin1'))), 'malformed_response');
  assert.equal(category(() => parse(Buffer.from('\xef\xbb\xbf{}', 'latin1'))), 'ok');
  assert.equal(category(() => parse('{"a":"\\u0000\\ud83d\\ude00"}')), 'ok');
  const nest = (d) => '{"a":'.repeat(d - 1) + '{}' + '}'.repeat(d - 1);
  assert.equal(category(() => parse(nest(64))), 'ok');
  assert.equal(category(() => parse(nest(65))), 'malformed_response');
  assert.equal(category(() => parse('{"micro_deposits":{}}')), 'malformed_response');
  assert.equal(category(() => parse('{"micro_deposits":null}', true)), 'ok');
});

test('S1g: duplicates, last wins, first position', () => {
  const r = parse('{"micro_deposits":[{"micro_deposit":{"z":1,"y":2,"z":3}}],"micro_deposits":[]}');
  assert.equal(r.length, 0);
  const r2 = parse('{"micro_deposits":[{"micro_deposit":{"z":1,"y":2,"z":3,"guid":"a","guid":"b"}}]}');
  assert.deepEqual([...r2[0].extra.entries()], [['z', 3n], ['y', 2n]]);
  assert.equal(r2[0].guid, 'b');
});

test('S3: items without a microdeposit', () => {
  const r = parse('{"micro_deposits":[1,null,{"micro_deposit":null},{"micro_deposit":{"guid":"g"}}]}');
  assert.equal(r.length, 1);
  assert.deepEqual(r.drift.map((n) => [n.index, n.field, n.action]), [[0, null, 'skipped'], [1, null, 'skipped'], [2, null, 'skipped']]);
  assert.equal(category(() => parse('{"micro_deposits":[[]]}', true)), 'schema_drift');
});

test('S6/S7/S8: coercions', () => {
  const r = parse('{"micro_deposits":[{"micro_deposit":{"error_code":4011,"email":true,"guid":4011.0,' +
    '"routing_number":91000019,"account_type":true,"status":"007","account_name":-7}}]}');
  assert.equal(r[0].error_code, '4011');
  assert.equal(r[0].email, null);
  assert.equal(r[0].guid, null);
  assert.equal(r[0].routing_number, '091000019');
  assert.equal(r[0].account_type, null);
  assert.equal(r[0].status, 7n);
  assert.equal(r[0].account_name, '-7');
  assert.equal(one({ routing_number: '12' }).routing_number, '000000012');
  assert.equal(one({ routing_number: '\u0660\u0669\u0661' }).routing_number, '\u0660\u0669\u0661');
  assert.equal(one({ routing_number: 'abc' }, true).routing_number, 'abc');
  assert.equal(parse('{"micro_deposits":[{"micro_deposit":{"routing_number":-5}}]}')[0].routing_number, '-5');
  assert.equal(parse('{"micro_deposits":[{"micro_deposit":{"status":1e20}}]}')[0].status, 100000000000000000000n);
  assert.equal(parse('{"micro_deposits":[{"micro_deposit":{"status":-0.0}}]}')[0].status, 0n);
  assert.equal(parse('{"micro_deposits":[{"micro_deposit":{"status":1.5}}]}')[0].status, null);
  for (const s of ['', '-1', '+1', ' 1', '1.0', '\u0661']) assert.equal(one({ status: s }).status, null);
  assert.equal(category(() => one({ status: 'x' }, true)), 'schema_drift');
  assert.equal(category(() => one({ status: 99, status_name: 'NEW' }, true)), 'ok');
});

test('S9: timestamps', () => {
  const ts = (v) => one({ created_at: v });
  assert.equal(ts('2021-10-22T21:44:38.000+05:30').created_at, '2021-10-22T16:14:38.000000Z');
  assert.equal(ts('2021-09-01t18:29:06z').created_at, '2021-09-01T18:29:06.000000Z');
  assert.equal(ts('2021-09-01T18:29:06.123456789Z').created_at, '2021-09-01T18:29:06.123456Z');
  assert.equal(ts('2021-09-01T18:29:06').drift, undefined);
  const r = ts('2021-09-01T18:29:06.1234567');
  assert.equal(r.created_at, '2021-09-01T18:29:06.123456Z');
  assert.equal(ts('2020-02-29T00:00:00-00:00').created_at, '2020-02-29T00:00:00.000000Z');
  assert.equal(ts('0001-01-01T00:30:00-01:00').created_at, '0001-01-01T01:30:00.000000Z');
  assert.equal(ts('9999-12-31T23:00:00-00:59').created_at, '9999-12-31T23:59:00.000000Z');
  for (const bad of ['2019-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2021-09-01 18:29:06Z', '2021-09-01',
    '2021-09-01T18Z', '2021-09-01T24:00:00Z', '2021-09-01T23:59:60Z', '2021-09-01T18:29:06.Z',
    '2021-09-01T18:29:06.1234567890Z', '2021-09-01T18:29:06+0530', '2021-09-01T18:29:06+05',
    '2021-09-01T18:29:06,5Z', '2021-09-01T18:29:06Z\n', '0000-01-01T00:00:00Z', '2021-09-01T18:29:06+24:00',
    '0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59-01:00', '\u0662021-09-01T18:29:06Z']) {
    assert.equal(ts(bad).created_at, null, bad);
  }
  assert.equal(category(() => one({ created_at: '2021-09-01T18:29:06' }, true)), 'schema_drift');
  assert.equal(category(() => one({ created_at: '2021-09-01T18:29:06.1234567Z' }, true)), 'schema_drift');
  assert.equal(category(() => one({ created_at: '2021-09-01T18:29:06.123456+01:00' }, true)), 'ok');
});

test('S14/S15: statuses and error bodies', () => {
  const st = (status, b, headers = []) => category(() => nm.parseResponse(status, headers, body(b), {}));
  assert.equal(st(401, '{"error":{"code":4011,"message":"Session expired"}}'), 'session_expired');
  assert.equal(st(400, '{"code":"4011"}'), 'session_expired');
  assert.equal(st(401, '{"code":4011.0}'), 'unauthorized');
  assert.equal(st(401, '{"code":true}'), 'unauthorized');
  assert.equal(st(401, 'not json'), 'unauthorized');
  assert.equal(st(302, '{"code":4011}', [['Location', 'https://evil.example/']]), 'unexpected_redirect');
  assert.equal(st(403, ''), 'forbidden');
  assert.equal(st(404, ''), 'not_found');
  assert.equal(st(429, ''), 'rate_limited');
  assert.equal(st(503, ''), 'server_error');
  assert.equal(st(422, ''), 'http_error');
  assert.equal(st(100, ''), 'http_error');
  assert.equal(st(600, ''), 'http_error');
  assert.equal(st(204, ''), 'malformed_response');
  assert.deepEqual(nm.errorBodyInfo(body('{"error":"boom"}')), { code: null, message: 'boom' });
});

test('S16: Retry-After', () => {
  assert.equal(nm.retryAfterSeconds([['retry-after', ' 7\t']]), 7);
  assert.equal(nm.retryAfterSeconds([['Retry-After', 'soon']]), null);
  const now = Date.UTC(1994, 10, 6, 8, 49, 30);
  assert.equal(nm.retryAfterSeconds([['Retry-After', 'Sun, 06 Nov 1994 08:49:37 GMT']], now), 7);
  assert.equal(nm.retryAfterSeconds([['Retry-After', 'Sun, 06 Nov 1994 08:49:37 GMT']], now + 60000), 0);
});

test('S13c/S13d: arguments', async () => {
  for (const t of ['', 'a b', 'a\r\nX: y', 'é']) {
    await assert.rejects(nm.listMicrodeposits(t, { baseUrl: 'http://127.0.0.1:1/' }), (e) => e.category === 'invalid_argument');
  }
  for (const u of ['http://example.com/', 'ftp://127.0.0.1/', 'https://u:p@h/', 'https://h/?q', 'https://h/#f',
    '/relative', 'http://127.0.0.1:1/ ', 'https://h/?']) {
    await assert.rejects(nm.listMicrodeposits('tok', { baseUrl: u }), (e) => e.category === 'invalid_argument', u);
  }
  assert.equal(nm.buildUrl('https://h/v1').href, 'https://h/v1/micro_deposits');
  assert.equal(nm.buildUrl('http://localhost:8080/s/ok/').href, 'http://localhost:8080/s/ok/micro_deposits');
  assert.equal(nm.buildUrl('http://[::1]:8080').href, 'http://[::1]:8080/micro_deposits');
});

// A raw TCP server, to send exactly the bytes (and faults) we want.
function rawServer(handler) {
  return new Promise((resolve) => {
    const seen = [];
    const srv = net.createServer((sock) => {
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        if (buf.includes('\r\n\r\n')) {
          seen.push(buf);
          handler(sock, seen.length, buf);
          buf = '';
        }
      });
      sock.on('error', () => {});
    });
    srv.listen(0, '127.0.0.1', () => resolve({ srv, seen, url: `http://127.0.0.1:${srv.address().port}/s/` }));
  });
}

const fetchCat = (url, opts = {}) => nm.listMicrodeposits('tok-123', { baseUrl: url, timeout: 1, ...opts })
  .then((r) => ['ok', r], (e) => [e.category, e]);

test('fetch: ok, headers, token', async () => {
  const s = await rawServer((sock) => {
    const b = '{"micro_deposits":[{"micro_deposit":{"guid":"MIC-1"}}]}';
    sock.end(`HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
  });
  const [cat, r] = await fetchCat(s.url);
  s.srv.close();
  assert.equal(cat, 'ok');
  assert.equal(r[0].guid, 'MIC-1');
  assert.match(s.seen[0], /^GET \/s\/micro_deposits HTTP\/1.1\r\n/);
  assert.match(s.seen[0], /\r\nMD-SESSION-TOKEN: tok-123\r\n/i);
  assert.match(s.seen[0], /\r\nAccept: application\/vnd\.mx\.nexus\.v1\+json\r\n/i);
});

test('fetch: S20 size and framing', async () => {
  const cases = [
    ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"micro_deposits":[]}', 'transport_error'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}', 'transport_error'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n', 'transport_error'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', 'response_too_large', { maxResponseBytes: 999 }],
    ['HTTP/1.1 200 OK\r\n\r\n{"micro_deposits":[]}     ', 'response_too_large', { maxResponseBytes: 25 }],
    ['HTTP/1.1 200 OK\r\n\r\n{"micro_deposits":[]}    ', 'ok', { maxResponseBytes: 25 }],
    ['HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2/\r\nContent-Length: 0\r\n\r\n', 'unexpected_redirect'],
    ['HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\n{"code":4011}', 'session_expired'],
  ];
  for (const [raw, want, opts] of cases) {
    const s = await rawServer((sock) => sock.end(raw));
    const [cat] = await fetchCat(s.url, { maxRetries: 0, ...opts });
    s.srv.close();
    assert.equal(cat, want, raw);
  }
});

test('fetch: S17 retries and S21 timeout', async () => {
  let s = await rawServer((sock, n) => {
    if (n < 3) sock.end('HTTP/1.1 503 No\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n');
    else sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}');
  });
  let [cat] = await fetchCat(s.url);
  s.srv.close();
  assert.equal(cat, 'ok');
  assert.equal(s.seen.length, 3);

  s = await rawServer(() => {}); // never answers
  const t0 = Date.now();
  [cat] = await fetchCat(s.url, { timeout: 0.2, maxRetries: 1 });
  s.srv.close();
  assert.equal(cat, 'timeout');
  assert.equal(s.seen.length, 2);
  assert.ok(Date.now() - t0 < 2000);

  s = await rawServer((sock) => sock.end('HTTP/1.1 429 Slow\r\nRetry-After: 61\r\nContent-Length: 0\r\n\r\n'));
  [cat] = await fetchCat(s.url);
  s.srv.close();
  assert.equal(cat, 'rate_limited');
  assert.equal(s.seen.length, 1);

  s = await rawServer((sock) => sock.end('HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n'));
  [cat] = await fetchCat(s.url);
  s.srv.close();
  assert.equal(cat, 'server_error');
  assert.equal(s.seen.length, 1);

  s = await rawServer((sock) => sock.destroy());
  const [cat2, err] = await fetchCat(s.url, { maxRetries: 0 });
  s.srv.close();
  assert.equal(cat2, 'transport_error');
  assert.ok(!String(err.message).includes('tok-123'));
});
