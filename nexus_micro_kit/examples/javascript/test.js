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

test('S13d: the base URL table', () => {
  const accepted = ['https://int-data.moneydesktop.com/', 'https://data.moneydesktop.com', 'https://example.com:8443/api/',
    'HTTPS://data.moneydesktop.com/', 'Http://localhost/', 'http://localhost/', 'http://LOCALHOST:8080/',
    'http://127.0.0.1:8080/', 'http://127.255.255.254/', 'http://127.0.0.0/', 'http://[::1]:8080/', 'http://[0::1]/',
    'http://[0:0:0:0:0:0:0:1]/', 'https://[2001:db8::1]/', 'https://10.0.0.1/'];
  const refused = ['http://example.com/', 'http://10.0.0.1/', 'http://192.168.1.1/', 'http://127.1/', 'http://127.0.1/',
    'http://0x7f.0.0.1/', 'http://2130706433/', 'http://0177.0.0.1/', 'http://127.000.000.001/', 'http://127.0.0.01/',
    'http://localhost./', 'http://127.0.0.1./', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/',
    'http://[::1%25lo]/', 'http://[fe80::1%25eth0]/', 'http://localhost:/', 'http://localhost:0/',
    'http://localhost:65536/', 'http://localhost:+80/', 'http://localhost:8o/', 'ftp://example.com/', '//example.com/',
    'example.com', 'https:///x', 'https://', 'https://user@example.com/', 'https://@example.com/',
    'https://example.com/?', 'https://example.com/#', 'https://example.com/a?b=1', 'https://exa mple.com/',
    'https://example.com/\t', 'https://bücher.example/'];
  for (const u of accepted) assert.doesNotThrow(() => nm.buildUrl(u), u);
  for (const u of refused) assert.equal(category(() => nm.buildUrl(u)), 'invalid_argument', u);
});

test('S22a: the token is redacted in every percent-encoded form', async () => {
  const token = 'SeCrEt+Tok/1=';
  const encoded = [token, 'SeCrEt%2BTok%2F1%3D', 'SeCrEt%2bTok/1%3d', '%53%65CrEt+Tok/1='];
  const s = await rawServer((sock) => {
    const b = JSON.stringify({ error: { code: 4010, message: `bad token ${encoded.join(' ')}` } });
    sock.end(`HTTP/1.1 401 No\r\nLocation: /x?t=${encoded[1]}\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
  });
  const [cat, err] = await nm.listMicrodeposits(token, { baseUrl: s.url, timeout: 1 }).then((r) => ['ok', r], (e) => [e.category, e]);
  s.srv.close();
  assert.equal(cat, 'unauthorized');
  for (const form of encoded) assert.ok(!err.message.includes(form) && !String(err.serverMessage).includes(form), form);
});

test('S14/S21a: interim 1xx responses are skipped, 101 is final', async () => {
  const ok = '{"micro_deposits":[]}';
  let s = await rawServer((sock) => sock.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' +
    `HTTP/1.1 200 OK\r\nContent-Length: ${ok.length}\r\n\r\n${ok}`));
  let [cat] = await fetchCat(s.url);
  s.srv.close();
  assert.equal(cat, 'ok');
  s = await rawServer((sock) => sock.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'));
  [cat] = await fetchCat(s.url);
  s.srv.close();
  assert.equal(cat, 'http_error');
  assert.equal(s.seen.length, 1);
});

test('S20d: Content-Length lists, conflicts and overflow; S20c: error bodies', async () => {
  const ok = '{"micro_deposits":[]}';
  const n = ok.length;
  const cases = [
    [`Content-Length: ${n}, ${n}\r\n`, 'ok'],
    [`Content-Length: ${n}\r\nContent-Length: ${n}\r\n`, 'ok'],
    [`Content-Length: ${n}, ${n + 1}\r\n`, 'transport_error'],
    [`Content-Length: +${n}\r\n`, 'transport_error'],
    [`Content-Length: ${n}\r\nTransfer-Encoding: chunked\r\n`, 'transport_error'],
    ['Content-Length: 99999999999999999999999\r\n', 'response_too_large'],
  ];
  for (const [head, want] of cases) {
    const s = await rawServer((sock) => sock.end(`HTTP/1.1 200 OK\r\n${head}\r\n${ok}`));
    const [cat] = await fetchCat(s.url, { maxRetries: 0 });
    s.srv.close();
    assert.equal(cat, want, head);
  }
  // a bad Content-Length on an error: the status decides
  let s = await rawServer((sock) => sock.end('HTTP/1.1 404 No\r\nContent-Length: x\r\n\r\n{"code":4011}'));
  let [cat] = await fetchCat(s.url, { maxRetries: 0 });
  s.srv.close();
  assert.equal(cat, 'not_found');
  // an error body that trickles: one wait of `timeout`, then what arrived decides
  s = await rawServer((sock) => {
    sock.write('HTTP/1.1 401 No\r\nContent-Length: 1000\r\n\r\n{"code":4011}');
    const t = setInterval(() => sock.write(' '), 50);
    sock.on('close', () => clearInterval(t));
  });
  const t0 = Date.now();
  [cat] = await fetchCat(s.url, { timeout: 0.3, maxRetries: 0 });
  s.srv.close();
  assert.equal(cat, 'session_expired');
  assert.ok(Date.now() - t0 < 1500);
  // at most 64 KiB of an error body is read: past it, the JSON is cut and has no code
  const big = `{"code":4011,"pad":"${'x'.repeat(65536)}"}`;
  s = await rawServer((sock) => sock.end(`HTTP/1.1 401 No\r\nContent-Length: ${big.length}\r\n\r\n${big}`));
  [cat] = await fetchCat(s.url, { maxRetries: 0 });
  s.srv.close();
  assert.equal(cat, 'unauthorized');
});

test('S18: a token provider refreshes once on 401 or 4011 with any status; S21b: deadline', async () => {
  let s = await rawServer((sock, n, head) => {
    const fresh = /MD-SESSION-TOKEN: tok-new/i.test(head);
    if (fresh) sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}');
    else sock.end('HTTP/1.1 400 No\r\nContent-Length: 13\r\n\r\n{"code":4011}');
  });
  let [cat] = await fetchCat(s.url, { tokenProvider: () => 'tok-new' });
  s.srv.close();
  assert.equal(cat, 'ok');
  assert.equal(s.seen.length, 2);
  // a Retry-After past the deadline: no wait is started, the outcome is that response's
  s = await rawServer((sock) => sock.end('HTTP/1.1 503 No\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n'));
  const t0 = Date.now();
  [cat] = await fetchCat(s.url, { deadline: 1 });
  s.srv.close();
  assert.equal(cat, 'server_error');
  assert.equal(s.seen.length, 1);
  assert.ok(Date.now() - t0 < 900);
  // a stalled head under a deadline shorter than the timeout: timeout at the deadline
  s = await rawServer(() => {});
  [cat] = await fetchCat(s.url, { timeout: 5, deadline: 0.3 });
  s.srv.close();
  assert.equal(cat, 'timeout');
});

test('S16: Retry-After second 60 and impossible dates', () => {
  const now = Date.UTC(2030, 0, 1, 0, 0, 0);
  assert.equal(nm.retryAfterSeconds([['Retry-After', 'Tue, 01 Jan 2030 00:00:60 GMT']], now), 59);
  for (const v of ['Sat, 30 Feb 2030 00:00:00 GMT', 'Tue, 01 Jan 2030 00:00:00 gmt', 'Tue, 00 Jan 2030 00:00:00 GMT',
    'Tue, 01 Jan 0000 00:00:00 GMT', 'tue, 01 Jan 2030 00:00:00 GMT', '-1', '1.5', '']) {
    assert.equal(nm.retryAfterSeconds([['Retry-After', v]], now), null, v);
  }
  assert.equal(nm.retryAfterSeconds([['Retry-After', '007']], now), 7);
});
