'use strict';
// MX Nexus API GET /micro_deposits, second implementation (JavaScript, Node.js 20, no dependencies).
// Written from spec/SEMANTICS.md (rules S1..S22) and nexus_micro_kit/README.md only.

const http = require('node:http');
const https = require('node:https');
const { parseJSON, stringify, jsonType, MAX_INT_DIGITS } = require('./json.js');

const VERSION = '0.1.0';
const USER_AGENT = `nexus-micro-js/${VERSION} (node ${process.version})`;
const MEDIA_TYPE = 'application/vnd.mx.nexus.v1+json';
const DEFAULT_BASE_URL = 'https://int-data.moneydesktop.com/';
const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024; // S20a
const ERROR_BODY_LIMIT = 64 * 1024; // S20c
const RETRY_AFTER_CAP = 60; // S17b, seconds

// ---------------------------------------------------------------- errors

const CATEGORIES = new Set([
  'malformed_response', 'schema_drift', 'unauthorized', 'session_expired', 'forbidden', 'not_found',
  'rate_limited', 'server_error', 'http_error', 'unexpected_redirect', 'response_too_large',
  'transport_error', 'timeout', 'invalid_argument',
]);

class NexusError extends Error {
  constructor(category, message, extra = {}) {
    super(message);
    if (!CATEGORIES.has(category)) throw new TypeError(`unknown category ${category}`);
    this.name = 'NexusError';
    this.category = category;
    Object.assign(this, extra); // status, code, retryAfter, location, rule, ...
  }
}

// ---------------------------------------------------------------- S1: bytes -> JSON value

function decodeBody(body) {
  // S1a: strip one UTF-8 BOM, then strict UTF-8. TextDecoder with ignoreBOM=false strips exactly
  // one leading BOM; fatal=true rejects overlongs, encoded surrogates, > U+10FFFF, truncation.
  if (typeof body === 'string') {
    // S1b: text API. Remove one U+FEFF; lone surrogates are caught by the parser.
    return body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  }
  const bytes = body instanceof Uint8Array ? body : new Uint8Array(body);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch (e) {
    throw new NexusError('malformed_response', 'S1a: body is not valid UTF-8', { rule: 'S1a' });
  }
}

function parseBodyValue(body) {
  const text = decodeBody(body);
  try {
    return parseJSON(text);
  } catch (e) {
    // S1: no bare parser error escapes.
    throw new NexusError('malformed_response', `S1: body is not one JSON value: ${e.message}`, { rule: 'S1c' });
  }
}

// ---------------------------------------------------------------- S5..S10: fields

const FIELDS = [
  ['account_name', 'string'],
  ['account_number', 'string'],
  ['account_type', 'integer'],
  ['account_type_name', 'string'],
  ['created_at', 'timestamp'],
  ['email', 'string'],
  ['error_code', 'string'],
  ['error_message', 'string'],
  ['first_name', 'string'],
  ['guid', 'string'],
  ['institution_name', 'string'],
  ['last_name', 'string'],
  ['routing_number', 'routing'],
  ['status', 'integer'],
  ['status_name', 'string'],
  ['updated_at', 'timestamp'],
  ['verified_at', 'timestamp'],
];
const FIELD_NAMES = new Set(FIELDS.map(([f]) => f));

// Each coercer returns [value, action|null, rule]. action null means no drift.
function coerceString(v) {
  if (typeof v === 'string') return [v, null];
  if (typeof v === 'bigint') return [v.toString(), 'coerced', 'S6'];
  return [null, 'nulled', 'S6'];
}

const NINE_DIGITS = /^[0-9]{9}$/;
const ONE_TO_EIGHT_DIGITS = /^[0-9]{1,8}$/;

function coerceRouting(v) {
  if (typeof v === 'string') {
    if (ONE_TO_EIGHT_DIGITS.test(v)) return [v.padStart(9, '0'), 'padded', 'S7'];
    return [v, null]; // 9 digits, or any other string: unchanged, no drift
  }
  if (typeof v === 'bigint') {
    const s = v.toString();
    if (v >= 0n && v < 100000000n) return [s.padStart(9, '0'), 'padded', 'S7'];
    return [s, 'coerced', 'S7'];
  }
  return [null, 'nulled', 'S7'];
}

const DIGITS_STRING = new RegExp(`^[0-9]{1,${MAX_INT_DIGITS}}$`);

function coerceInteger(v) {
  if (typeof v === 'bigint') return [v, null];
  if (typeof v === 'number') {
    // A double whose value is integral becomes that exact integer (1e20 -> 100000000000000000000).
    if (Number.isInteger(v)) return [BigInt(v), 'coerced', 'S8'];
    return [null, 'nulled', 'S8'];
  }
  if (typeof v === 'string' && DIGITS_STRING.test(v)) return [BigInt(v), 'coerced', 'S8'];
  return [null, 'nulled', 'S8'];
}

// S9 timestamps. Whole-string match, ASCII only.
const TS_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?$/;

function isLeap(y) { return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0; }
function daysInMonth(y, m) { return [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]; }

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}
function civilFromDays(z) {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const pad = (x, w) => String(x).padStart(w, '0');

// Returns [canonical string|null, action|null, rule].
function coerceTimestamp(v) {
  if (typeof v !== 'string') return [null, 'nulled', 'S9e'];
  const m = TS_RE.exec(v);
  if (!m) return [null, 'nulled', 'S9e'];
  const [Y, M, D, h, mi, s] = m.slice(1, 7).map(Number);
  const frac = m[7];
  if (Y < 1 || M < 1 || M > 12 || D < 1 || D > daysInMonth(Y, M) || h > 23 || mi > 59 || s > 59) {
    return [null, 'nulled', 'S9e'];
  }
  let offsetMin = 0;
  const hasZone = m[8] !== undefined || m[9] !== undefined;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return [null, 'nulled', 'S9e'];
    offsetMin = (m[9] === '+' ? 1 : -1) * (oh * 60 + om);
  }
  // UTC = local - offset; work in whole seconds (fraction is unaffected by whole-minute offsets).
  let secs = daysFromCivil(Y, M, D) * 86400 + h * 3600 + mi * 60 + s - offsetMin * 60;
  const days = Math.floor(secs / 86400);
  secs -= days * 86400;
  const [uy, um, ud] = civilFromDays(days);
  if (uy < 1 || uy > 9999) return [null, 'nulled', 'S9d'];
  const micros = frac === undefined ? '000000' : frac.slice(0, 6).padEnd(6, '0');
  const out = `${pad(uy, 4)}-${pad(um, 2)}-${pad(ud, 2)}T${pad(Math.floor(secs / 3600), 2)}:` +
    `${pad(Math.floor(secs / 60) % 60, 2)}:${pad(secs % 60, 2)}.${micros}Z`;
  // S9b and S9c may both apply: one note. We report assumed_utc first (see README).
  if (!hasZone) return [out, 'assumed_utc', 'S9b'];
  if (frac !== undefined && frac.length > 6) return [out, 'truncated', 'S9c'];
  return [out, null];
}

const COERCERS = { string: coerceString, routing: coerceRouting, integer: coerceInteger, timestamp: coerceTimestamp };

// ---------------------------------------------------------------- S2, S3, S11, S12: records

function isObject(v) { return v instanceof Map; }

function parseValueToRecords(doc, strict) {
  if (!isObject(doc)) throw new NexusError('malformed_response', 'S1h: top-level value is not an object', { rule: 'S1h' });
  const items = doc.has('micro_deposits') ? doc.get('micro_deposits') : null;
  const records = [];
  const drift = [];
  if (items !== null && !Array.isArray(items)) {
    throw new NexusError('malformed_response', `S2: micro_deposits is ${jsonType(items)}, not an array`, { rule: 'S2' });
  }
  const note = (n) => {
    if (strict) {
      throw new NexusError('schema_drift',
        `${n.rule}: item ${n.index}, field ${n.field === null ? '(item)' : n.field}: ${n.action} a value of type ${n.type}`,
        { rule: n.rule, note: n });
    }
    drift.push(n);
  };
  for (let index = 0; items !== null && index < items.length; index++) {
    const item = items[index];
    const md = isObject(item) ? item.get('micro_deposit') : undefined;
    if (!isObject(md)) {
      note({ index, field: null, type: jsonType(isObject(item) ? (md === undefined ? null : md) : item), action: 'skipped', rule: 'S3' });
      continue;
    }
    const rec = {};
    for (const [field, kind] of FIELDS) {
      const v = md.has(field) ? md.get(field) : null;
      if (v === null) { rec[field] = null; continue; } // S5a
      const [value, action, rule] = COERCERS[kind](v);
      rec[field] = value;
      if (action) note({ index, field, type: jsonType(v), action, rule });
    }
    const extra = new Map();
    for (const [k, v] of md) if (!FIELD_NAMES.has(k)) extra.set(k, v); // S5b
    rec.extra = extra;
    Object.defineProperty(rec, 'raw', { value: md, enumerable: false }); // S5c
    Object.defineProperty(rec, 'toString', { value: recordToString, enumerable: false });
    records.push(rec);
  }
  Object.defineProperty(records, 'drift', { value: drift, enumerable: false });
  Object.defineProperty(records, 'raw', { value: doc, enumerable: false });
  return records;
}

// S22b: a record shown to people.
function maskAccountNumber(a) {
  if (typeof a !== 'string' || a.length <= 4) return null;
  return '…' + a.slice(-4);
}
function recordToString() {
  return `Microdeposit(guid=${JSON.stringify(this.guid)}, status_name=${JSON.stringify(this.status_name)}, ` +
    `account_number=${JSON.stringify(maskAccountNumber(this.account_number))})`;
}

// ---------------------------------------------------------------- S14, S15, S16

function headerGet(headers, name) {
  // headers: list of [name, value] pairs, or an object (Node's IncomingMessage.headers).
  const lname = name.toLowerCase();
  if (Array.isArray(headers)) {
    for (const [k, v] of headers) if (String(k).toLowerCase() === lname) return String(v);
    return null;
  }
  if (headers && typeof headers === 'object') {
    for (const k of Object.keys(headers)) {
      if (k.toLowerCase() === lname) {
        const v = headers[k];
        return Array.isArray(v) ? String(v[0]) : String(v);
      }
    }
  }
  return null;
}

function errorBodyInfo(body) {
  // S15: never raises.
  let doc;
  try { doc = parseBodyValue(body); } catch (e) { return { code: null, message: null }; }
  if (!isObject(doc)) return { code: null, message: null };
  const e = doc.has('error') ? doc.get('error') : null;
  let code = null;
  let message = null;
  if (isObject(e)) {
    code = e.has('code') ? e.get('code') : null;
    message = e.has('message') ? e.get('message') : null;
  }
  if (code === null && doc.has('code')) code = doc.get('code');
  if (message === null && doc.has('message')) message = doc.get('message');
  if (message === null && typeof e === 'string') message = e;
  if (typeof code === 'bigint') code = code.toString();
  else if (typeof code !== 'string') code = null;
  if (typeof message !== 'string') message = null;
  return { code, message };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const IMF_RE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT$/;

// S16: delay in seconds, or null when unknown.
function retryAfterSeconds(headers, now = Date.now()) {
  const raw = headerGet(headers, 'retry-after');
  if (raw === null) return null;
  const v = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  if (/^[0-9]+$/.test(v)) return Number(v); // may be huge; callers compare against the cap
  const m = IMF_RE.exec(v);
  if (!m) return null;
  const [d, y, h, mi, s] = [m[2], m[4], m[5], m[6], m[7]].map(Number);
  const mo = MONTHS.indexOf(m[3]) + 1;
  if (d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 60) return null;
  const t = daysFromCivil(y, mo, d) * 86400000 + (h * 3600 + mi * 60 + s) * 1000;
  return Math.max(0, (t - now) / 1000);
}

// S14 for a non-2xx status: build the error (never throws anything else).
function statusError(status, headers, body) {
  const info = errorBodyInfo(body || Buffer.alloc(0));
  const extra = { status, code: info.code, serverMessage: info.message };
  const shown = info.message !== null && info.message.length > 200 ? info.message.slice(0, 200) + '…' : info.message;
  const detail = `HTTP ${status}${info.code !== null ? ` code ${info.code}` : ''}${shown !== null ? `: ${shown}` : ''}`;
  if (status >= 300 && status <= 399) {
    const location = headerGet(headers, 'location');
    return new NexusError('unexpected_redirect', `S19: ${detail}, redirect not followed` +
      (location !== null ? ` (Location: ${location})` : ''), { ...extra, location });
  }
  if (info.code === '4011') return new NexusError('session_expired', `S14: ${detail}`, extra);
  if (status === 401) return new NexusError('unauthorized', `S14: ${detail}`, extra);
  if (status === 403) return new NexusError('forbidden', `S14: ${detail}`, extra);
  if (status === 404) return new NexusError('not_found', `S14: ${detail}`, extra);
  if (status === 429) {
    return new NexusError('rate_limited', `S14: ${detail}`, { ...extra, retryAfter: retryAfterSeconds(headers) });
  }
  if (status >= 500 && status <= 599) {
    return new NexusError('server_error', `S14: ${detail}`, { ...extra, retryAfter: retryAfterSeconds(headers) });
  }
  return new NexusError('http_error', `S14: ${detail}`, extra);
}

/**
 * parseResponse(status, headers, body, {strict}) -> records (Array with .drift and .raw).
 * body: Buffer/Uint8Array (bytes) or string (text, S1b). Throws NexusError with .category.
 */
function parseResponse(status, headers, body, { strict = false } = {}) {
  if (!(Number.isInteger(status) && status >= 200 && status <= 299)) throw statusError(status, headers, body);
  return parseValueToRecords(parseBodyValue(body), strict);
}

function toCanonical(records) {
  return records.map((r) => {
    const o = {};
    for (const [f] of FIELDS) o[f] = r[f];
    o.extra = r.extra;
    return o;
  });
}

// ---------------------------------------------------------------- S13, S17..S22: fetch

function validateToken(token) {
  if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
    throw new NexusError('invalid_argument', 'S13c: the session token must be 1+ visible ASCII characters');
  }
}

function isLoopbackHost(hostname) {
  if (hostname === 'localhost') return true;
  if (hostname === '[::1]') return true;
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(hostname);
  return m !== null && m[1] === '127' && m.slice(2).every((x) => Number(x) <= 255);
}

// S13a, S13d. Returns the request URL (a URL object).
function buildUrl(baseUrl) {
  const bad = (why) => new NexusError('invalid_argument', `S13d: bad base URL: ${why}`);
  if (typeof baseUrl !== 'string') throw bad('not a string');
  // WHATWG URL silently strips surrounding spaces and inner tabs/newlines: refuse them first.
  if (/[\x00-\x20\x7f]/.test(baseUrl)) throw bad('control character or space');
  if (baseUrl.includes('?')) throw bad('has a query');
  if (baseUrl.includes('#')) throw bad('has a fragment');
  let u;
  try { u = new URL(baseUrl); } catch (e) { throw bad('not an absolute URL'); }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw bad('scheme must be https');
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(baseUrl)) throw bad('no authority');
  const authority = baseUrl.slice(baseUrl.indexOf('//') + 2).split('/')[0];
  if (authority.includes('@') || u.username || u.password) throw bad('has user info');
  if (!u.hostname) throw bad('no host');
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) throw bad('http is only allowed for a loopback host');
  const path = u.pathname.endsWith('/') ? u.pathname : u.pathname + '/';
  return new URL(path + 'micro_deposits', u.origin);
}

// S22a: the token never appears in an error's message or properties (a server may echo it).
function scrub(err, token) {
  if (!token) return err;
  const clean = (v) => (typeof v === 'string' && v.includes(token) ? v.split(token).join('[token]') : v);
  err.message = clean(err.message);
  for (const k of ['serverMessage', 'location', 'code']) if (k in err) err[k] = clean(err[k]);
  return err;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One attempt. Resolves with records, rejects with NexusError.
 */
function attempt(url, token, { timeout, maxResponseBytes, strict }) {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    let settled = false;
    let timer = null;
    let req = null;
    const timeoutMs = Math.max(1, Math.round(timeout * 1000));
    const finish = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (req) req.destroy();
      if (err) reject(scrub(err, token)); else resolve(value);
    };
    // S21a: each wait on the network (connect, headers, each read) is bounded by `timeout`.
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(new NexusError('timeout', `S21a: no network progress for ${timeout} s`)), timeoutMs);
    };
    arm();
    req = mod.request({
      protocol: url.protocol,
      hostname,
      port: url.port || undefined,
      path: url.pathname,
      method: 'GET',
      agent: false,
      headers: {
        'MD-SESSION-TOKEN': token,
        'Accept': MEDIA_TYPE,
        'Content-Type': MEDIA_TYPE,
        'User-Agent': USER_AGENT,
      },
    });
    req.on('error', (e) => {
      // S22a: Node's messages never hold our headers; keep only the code and message.
      finish(new NexusError('transport_error', `transport: ${e.code || ''} ${e.message}`.trim(), { cause: e.code }));
    });
    req.on('response', (res) => {
      arm();
      const status = res.statusCode;
      // Pairs in wire order, duplicates kept (S16: the *first* Retry-After).
      const headers = [];
      for (let k = 0; k + 1 < res.rawHeaders.length; k += 2) headers.push([res.rawHeaders[k], res.rawHeaders[k + 1]]);
      const is2xx = status >= 200 && status <= 299;
      if (status >= 300 && status <= 399) { finish(statusError(status, headers, Buffer.alloc(0))); return; }
      const limit = is2xx ? maxResponseBytes : ERROR_BODY_LIMIT;
      if (is2xx) {
        const cl = headerGet(headers, 'content-length');
        if (cl !== null && /^[0-9]+$/.test(cl.trim()) && BigInt(cl.trim()) > BigInt(maxResponseBytes)) {
          finish(new NexusError('response_too_large', `S20a: Content-Length ${cl.trim()} > ${maxResponseBytes}`));
          return;
        }
      }
      const chunks = [];
      let size = 0;
      const done = (complete) => {
        const body = Buffer.concat(chunks, Math.min(size, limit));
        if (is2xx) {
          if (!complete) { finish(new NexusError('transport_error', 'S20b: body cut short')); return; }
          try {
            finish(null, parseResponse(status, headers, body, { strict }));
          } catch (e) {
            finish(e instanceof NexusError ? e : new NexusError('malformed_response', `S1: ${e.message}`));
          }
        } else {
          // S20c: the status decides, even when the error body was cut or capped.
          finish(statusError(status, headers, body));
        }
      };
      res.on('data', (chunk) => {
        if (settled) return;
        arm();
        chunks.push(chunk);
        size += chunk.length;
        if (size > limit) {
          if (is2xx) finish(new NexusError('response_too_large', `S20a: body over ${maxResponseBytes} bytes`));
          else done(true);
        }
      });
      res.on('end', () => { if (!settled) done(res.complete); });
      res.on('aborted', () => { if (!settled) done(false); });
      res.on('error', () => { if (!settled) done(false); });
      res.on('close', () => { if (!settled) done(res.complete); });
    });
    req.end();
  });
}

function isRetryable(err) {
  switch (err.category) {
    case 'transport_error':
      return !/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME|ALTNAME/i.test(String(err.cause || ''));
    case 'timeout':
    case 'rate_limited':
      return true;
    case 'server_error':
      return err.status === 502 || err.status === 503 || err.status === 504;
    default:
      return false;
  }
}

/**
 * listMicrodeposits(token, {baseUrl, timeout, maxResponseBytes, maxRetries, strict, deadline,
 *                           tokenProvider, retryAfterCap}) -> Promise<records>
 */
async function listMicrodeposits(token, opts = {}) {
  const {
    baseUrl = DEFAULT_BASE_URL,
    timeout = 10,
    maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES,
    maxRetries = 2,
    strict = false,
    deadline = null,
    tokenProvider = null,
    retryAfterCap = RETRY_AFTER_CAP,
  } = opts;
  validateToken(token);
  const url = buildUrl(baseUrl);
  if (!(typeof timeout === 'number' && timeout > 0)) throw new NexusError('invalid_argument', 'timeout must be > 0');
  if (!(Number.isInteger(maxResponseBytes) && maxResponseBytes >= 0)) throw new NexusError('invalid_argument', 'bad maxResponseBytes');
  if (!(Number.isInteger(maxRetries) && maxRetries >= 0)) throw new NexusError('invalid_argument', 'bad maxRetries');

  const end = deadline === null ? Infinity : Date.now() + deadline * 1000;
  const left = () => (end - Date.now()) / 1000;
  let refreshed = false;
  let retries = 0;
  let current = token;
  for (;;) {
    if (left() <= 0) throw new NexusError('timeout', 'S21b: deadline spent');
    const t = Math.min(timeout, left());
    let err;
    try {
      return await attempt(url, current, { timeout: t, maxResponseBytes, strict });
    } catch (e) {
      err = e;
    }
    if (err.category === 'timeout' && left() <= 0) throw new NexusError('timeout', 'S21b: deadline spent');
    // S18: one refresh on 401, not counted against maxRetries.
    if (tokenProvider && !refreshed && err.status === 401) {
      refreshed = true;
      current = await tokenProvider();
      validateToken(current);
      continue;
    }
    if (!isRetryable(err) || retries >= maxRetries) throw err;
    let wait;
    if (err.retryAfter !== undefined && err.retryAfter !== null) {
      // S17b: never before Retry-After; no retry past the cap or the deadline.
      if (err.retryAfter > retryAfterCap || err.retryAfter > left()) throw err;
      wait = err.retryAfter;
    } else {
      // S17c: full jitter.
      wait = Math.random() * Math.min(8, 0.5 * 2 ** retries);
      if (wait > left()) throw new NexusError('timeout', 'S21b: deadline would pass during backoff');
    }
    retries++;
    await sleep(wait * 1000);
  }
}

module.exports = {
  NexusError,
  parseResponse,
  listMicrodeposits,
  toCanonical,
  stringify,
  retryAfterSeconds,
  errorBodyInfo,
  buildUrl,
  VERSION,
  FIELDS,
};
