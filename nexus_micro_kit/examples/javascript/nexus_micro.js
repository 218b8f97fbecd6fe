'use strict';
// MX Nexus API GET /micro_deposits, second implementation (JavaScript, Node.js 20, no dependencies).
// Written from spec/SEMANTICS.md (rules S1..S22) and nexus_micro_kit/README.md only.

const net = require('node:net');
const tls = require('node:tls');
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
  const [d, y, h, mi, sec] = [m[2], m[4], m[5], m[6], m[7]].map(Number);
  const mo = MONTHS.indexOf(m[3]) + 1;
  // S16: impossible dates are ignored; a leap second 60 is read as 59 (the day name is not checked)
  if (y < 1 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || sec > 60) return null;
  const s = Math.min(sec, 59);
  const t = daysFromCivil(y, mo, d) * 86400000 + (h * 3600 + mi * 60 + s) * 1000;
  return Math.max(0, (t - now) / 1000);
}

// S22c: server text in a message has its control characters escaped (C0, DEL, C1, bidi).
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
function shownText(text) {
  return text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// S14 for a non-2xx status: build the error (never throws anything else).
function statusError(status, headers, body) {
  const info = errorBodyInfo(body || Buffer.alloc(0));
  const extra = { status, code: info.code, serverMessage: info.message };
  const cut = info.message !== null && info.message.length > 200 ? info.message.slice(0, 200) + '…' : info.message;
  const detail = `HTTP ${status}${info.code !== null ? ` code ${shownText(info.code)}` : ''}` +
    `${cut !== null ? `: ${shownText(cut)}` : ''}`;
  if (status >= 300 && status <= 399) {
    const location = headerGet(headers, 'location');
    return new NexusError('unexpected_redirect', `S19: ${detail}, redirect not followed` +
      (location !== null ? ` (Location: ${shownText(location)})` : ''), { ...extra, location });
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

// S13d: a dotted quad in 127.0.0.0/8 written plainly (four decimal parts 0-255, no leading zeros).
const OCTET = '(?:0|[1-9][0-9]{0,2})';
const DOTTED_QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

function isLoopbackIPv4(host) {
  if (!DOTTED_QUAD.test(host)) return false;
  const parts = host.split('.').map(Number);
  return parts[0] === 127 && parts.every((p) => p <= 255);
}

// S13d: [::1] in any spelling of that address ([0::1], [0:0:0:0:0:0:0:1]); no zone id, no
// IPv4-mapped form.
function isLoopbackIPv6(bracketed) {
  const inner = bracketed.slice(1, -1);
  if (!/^[0-9A-Fa-f:]+$/.test(inner)) return false;
  const halves = inner.split('::');
  if (halves.length > 2) return false;
  const groups = (s) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if ([...head, ...tail].some((g) => !/^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return false;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((g) => parseInt(g, 16));
  return all.slice(0, 7).every((g) => g === 0) && all[7] === 1;
}

function isLoopbackHost(host) {
  if (host.toLowerCase() === 'localhost') return true;
  if (host.startsWith('[')) return isLoopbackIPv6(host);
  return isLoopbackIPv4(host);
}

/**
 * S13a, S13d: the request target of a base URL, checked by the rule itself (WHATWG URL parsing
 * would silently accept `127.1`, strip tabs and normalise hosts). Returns {href, protocol,
 * hostname, port, path, hostHeader}.
 */
function buildUrl(baseUrl) {
  const bad = (why) => new NexusError('invalid_argument', `S13d: bad base URL: ${why}`);
  if (typeof baseUrl !== 'string') throw bad('not a string');
  if (!/^[\x21-\x7e]*$/.test(baseUrl)) throw bad('whitespace, a control or a non-ASCII character (percent-encode it)');
  if (baseUrl.includes('?')) throw bad('has a query');
  if (baseUrl.includes('#')) throw bad('has a fragment');
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/]*)(\/.*)?$/.exec(baseUrl);
  if (m === null) throw bad('not an absolute URL with a host');
  const scheme = m[1].toLowerCase();
  if (scheme !== 'https' && scheme !== 'http') throw bad('scheme must be https');
  const authority = m[2];
  if (authority.includes('@')) throw bad('has user info');
  let host;
  let rest;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw bad('unclosed [');
    host = authority.slice(0, close + 1);
    rest = authority.slice(close + 1);
  } else {
    const colon = authority.indexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    rest = colon < 0 ? '' : authority.slice(colon);
  }
  if (host === '' || host === '[]') throw bad('no host');
  let port = scheme === 'https' ? 443 : 80;
  let portText = '';
  if (rest !== '') {
    if (!/^:[0-9]{1,5}$/.test(rest) || Number(rest.slice(1)) < 1 || Number(rest.slice(1)) > 65535) {
      throw bad('the port must be 1 to 65535');
    }
    port = Number(rest.slice(1));
    portText = `:${port}`;
  }
  if (host.startsWith('[') && !/^\[[0-9A-Fa-f:.]+\]$/.test(host)) throw bad('not an IPv6 address (no zone ids)');
  if (scheme === 'http' && !isLoopbackHost(host)) throw bad('http is only allowed for a loopback host');
  let path = m[3] || '/';
  if (!path.endsWith('/')) path += '/';
  path += 'micro_deposits';
  return {
    href: `${scheme}://${host}${portText}${path}`,
    protocol: `${scheme}:`,
    hostname: host.startsWith('[') ? host.slice(1, -1) : host,
    port,
    path,
    hostHeader: `${host}${portText}`,
  };
}

// S22a: a secret in any percent-encoded form (some or all characters %HH, hex in any case).
function secretPattern(secret) {
  const parts = [];
  for (const ch of secret) {
    const hex = Buffer.from(ch, 'utf8').toString('hex').toUpperCase();
    const encoded = hex.match(/../g).map((h) => '%' + [...h].map((d) => (/[A-F]/.test(d) ? `[${d}${d.toLowerCase()}]` : d)).join('')).join('');
    parts.push(`(?:${ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}|${encoded})`);
  }
  return new RegExp(parts.join(''), 'g');
}

// S22a: no secret in an error's message or properties (a server may echo it, also encoded).
function scrub(err, secrets) {
  const patterns = secrets.filter((s) => typeof s === 'string' && s.length > 0).map(secretPattern);
  const clean = (v) => (typeof v === 'string' ? patterns.reduce((text, p) => text.replace(p, '[token]'), v) : v);
  err.message = clean(err.message);
  for (const k of Object.keys(err)) err[k] = clean(err[k]);
  return err;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ERROR_BODY_LIMIT_BYTES = ERROR_BODY_LIMIT;
const HEAD_LIMIT = 64 * 1024;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

// S20d: the Content-Length of a response: null when absent, a BigInt, or 'bad'.
function contentLength(headers) {
  const values = headers.filter(([k]) => k.toLowerCase() === 'content-length').map(([, v]) => v);
  if (values.length === 0) return null;
  const parts = values.flatMap((v) => v.split(',').map((p) => p.replace(/^[ \t]+|[ \t]+$/g, '')));
  if (!parts.every((p) => /^[0-9]+$/.test(p))) return 'bad';
  const first = BigInt(parts[0]);
  return parts.every((p) => BigInt(p) === first) ? first : 'bad';
}

function isChunked(headers) {
  const codings = headers.filter(([k]) => k.toLowerCase() === 'transfer-encoding')
    .flatMap(([, v]) => v.split(',')).map((c) => c.trim().toLowerCase()).filter((c) => c !== '');
  if (codings.length === 0) return null;
  return codings[codings.length - 1] === 'chunked' ? 'chunked' : 'other';
}

/**
 * One attempt over a raw HTTP/1.1 connection (node:net / node:tls): S13 request, S14 interim 1xx,
 * S20 framing and caps, S21 waits. Resolves with records, rejects with NexusError.
 */
function attempt(target, token, { timeout, end, maxResponseBytes, strict }) {
  return new Promise((resolve, reject) => {
    let sock = null;
    let timer = null;
    let settled = false;
    let buf = Buffer.alloc(0);
    let eof = false;
    let phase = 'connect';
    let status = 0;
    let headers = [];
    let framing = null; // {kind: 'length', left} | {kind: 'chunked', ...} | {kind: 'close'}
    const chunks = [];
    let size = 0;
    const left = () => end - Date.now();

    const finish = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (sock) sock.destroy();
      if (err) reject(err); else resolve(value);
    };
    const timedOut = (what) => (left() <= 0
      ? new NexusError('timeout', `S21b: the deadline was spent ${what}`)
      : new NexusError('timeout', `S21a: ${what} took longer than the timeout of ${timeout} s`));
    // One wait on the network: at most `timeout`, and never past the deadline (S21a, S21b).
    const wait = (what, onExpire) => {
      clearTimeout(timer);
      timer = setTimeout(onExpire || (() => finish(timedOut(what))), Math.max(0, Math.min(timeout * 1000, left())));
    };
    // S20c: the error body read (at most 64 KiB of it) gives the code; the status decides.
    const errorOutcome = () => finish(statusError(status, headers, Buffer.concat(chunks).subarray(0, ERROR_BODY_LIMIT_BYTES)));

    function onHead() {
      for (;;) {
        const endOfHead = buf.indexOf('\r\n\r\n');
        if (endOfHead < 0) {
          if (buf.length > HEAD_LIMIT) finish(new NexusError('transport_error', 'response head over 64 KiB'));
          else if (eof) finish(new NexusError('transport_error', 'the connection closed before a response'));
          return;
        }
        const lines = buf.subarray(0, endOfHead).toString('latin1').split('\r\n');
        buf = buf.subarray(endOfHead + 4);
        const statusLine = /^HTTP\/1\.[01] ([0-9]{3})(?: .*)?$/.exec(lines[0]);
        if (statusLine === null) { finish(new NexusError('transport_error', 'not an HTTP/1.1 status line')); return; }
        status = Number(statusLine[1]);
        headers = [];
        for (const line of lines.slice(1)) {
          const h = HEADER_LINE.exec(line);
          if (h === null) { finish(new NexusError('transport_error', 'a malformed header line')); return; }
          headers.push([h[1], h[2]]);
        }
        // S14: an interim 1xx (not 101) is skipped; the head wait goes on (it is one wait, S21a).
        if (status >= 100 && status <= 199 && status !== 101) continue;
        startBody();
        return;
      }
    }

    function startBody() {
      if (status === 101) { finish(new NexusError('http_error', 'S14: 101 Switching Protocols, never asked for', { status })); return; }
      if (status >= 300 && status <= 399) { finish(statusError(status, headers, Buffer.alloc(0))); return; }
      const is2xx = status >= 200 && status <= 299;
      const chunked = isChunked(headers);
      const length = contentLength(headers);
      if (is2xx) {
        // S20d: one decimal Content-Length (repeats of the same number are fine), not with chunked.
        if (length === 'bad') { finish(new NexusError('transport_error', 'S20d: malformed or conflicting Content-Length')); return; }
        if (length !== null && chunked !== null) { finish(new NexusError('transport_error', 'S20d: Content-Length with Transfer-Encoding')); return; }
        if (chunked === 'other') { finish(new NexusError('transport_error', 'an unknown Transfer-Encoding')); return; }
        if (length !== null && length > BigInt(maxResponseBytes)) {
          finish(new NexusError('response_too_large', `S20a: Content-Length ${length} > ${maxResponseBytes}`));
          return;
        }
      }
      if (status === 204 || status === 304) framing = { kind: 'length', left: 0 };
      else if (chunked === 'chunked' && length === null) framing = { kind: 'chunked', need: null };
      else if (length !== null && length !== 'bad') framing = { kind: 'length', left: Number(length) };
      else if (!is2xx && (length === 'bad' || chunked !== null)) { errorOutcome(); return; } // S20d: code null at worst
      else framing = { kind: 'close' };
      if (is2xx) {
        phase = 'body';
        wait('reading the body');
      } else {
        // S20c: an error body is ONE wait of `timeout` after the headers, then what arrived decides.
        phase = 'error';
        wait('reading the error body', errorOutcome);
      }
      onBody();
    }

    const cap = () => (phase === 'body' ? maxResponseBytes : ERROR_BODY_LIMIT_BYTES);

    // Take body bytes; true when the cap was passed (the caller finishes).
    function take(bytes) {
      chunks.push(bytes);
      size += bytes.length;
      return size > cap();
    }

    function bodyDone() {
      if (phase === 'error') { errorOutcome(); return; }
      try {
        finish(null, parseResponse(status, headers, Buffer.concat(chunks), { strict }));
      } catch (e) {
        finish(e instanceof NexusError ? e : new NexusError('malformed_response', `S1: ${e.message}`));
      }
    }

    function overCap() {
      if (phase === 'error') { errorOutcome(); return; } // S20c: the rest is discarded
      finish(new NexusError('response_too_large', `S20a: body over ${maxResponseBytes} bytes`));
    }

    function cutShort(why) {
      if (phase === 'error') { errorOutcome(); return; } // S20c: the status still decides
      finish(new NexusError('transport_error', `S20b: ${why}; retry`));
    }

    function onBody() {
      if (framing.kind === 'length') {
        const n = Math.min(framing.left, buf.length);
        if (n > 0) {
          framing.left -= n;
          if (take(buf.subarray(0, n))) { overCap(); return; }
          buf = buf.subarray(n);
        }
        if (framing.left === 0) bodyDone();
        else if (eof) cutShort('the body ended before its Content-Length');
        return;
      }
      if (framing.kind === 'close') {
        if (buf.length > 0) {
          const full = take(buf);
          buf = Buffer.alloc(0);
          if (full) { overCap(); return; }
        }
        if (eof) bodyDone();
        return;
      }
      for (;;) { // chunked
        if (framing.need === null) {
          const eol = buf.indexOf('\r\n');
          if (eol < 0) {
            if (eof || buf.length > 4096) cutShort('broken chunked framing');
            return;
          }
          const line = /^([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?$/.exec(buf.subarray(0, eol).toString('latin1'));
          if (line === null) { cutShort('broken chunked framing'); return; }
          buf = buf.subarray(eol + 2);
          framing.need = parseInt(line[1], 16);
          if (framing.need === 0) framing.trailers = true;
        }
        if (framing.trailers) {
          const eol = buf.indexOf('\r\n');
          if (eol < 0) { if (eof) cutShort('broken chunked framing'); return; }
          const empty = eol === 0;
          buf = buf.subarray(eol + 2);
          if (empty) { bodyDone(); return; }
          continue;
        }
        if (buf.length < framing.need + 2) {
          if (eof) cutShort('broken chunked framing');
          return;
        }
        if (buf[framing.need] !== 0x0d || buf[framing.need + 1] !== 0x0a) { cutShort('broken chunked framing'); return; }
        if (take(buf.subarray(0, framing.need))) { overCap(); return; }
        buf = buf.subarray(framing.need + 2);
        framing.need = null;
      }
    }

    const pump = () => {
      if (settled) return;
      if (phase === 'head') onHead();
      else if (phase === 'body' || phase === 'error') onBody();
    };

    const onError = (e) => {
      if (settled) return;
      const code = String(e.code || '');
      if (phase === 'error') { errorOutcome(); return; }
      if (phase === 'body') { cutShort(`the connection failed (${code})`); return; }
      // S22a: Node's messages never hold our headers; keep only the code and message.
      finish(new NexusError('transport_error', `transport: ${code} ${e.message}`.trim(), { cause: code }));
    };

    const request = Buffer.from([
      `GET ${target.path} HTTP/1.1`,
      `Host: ${target.hostHeader}`,
      `MD-SESSION-TOKEN: ${token}`,
      `Accept: ${MEDIA_TYPE}`,
      `Content-Type: ${MEDIA_TYPE}`,
      `User-Agent: ${USER_AGENT}`,
      'Connection: close',
      '', '',
    ].join('\r\n'), 'latin1');

    const send = () => {
      phase = 'send';
      wait('sending the request');
      sock.write(request, () => {
        if (settled || phase !== 'send') return;
        phase = 'head';
        wait('waiting for the response head'); // one wait, 1xx included (S21a)
        pump();
      });
    };

    wait('connecting');
    const raw = net.connect({ host: target.hostname, port: target.port });
    sock = raw;
    raw.on('error', onError);
    raw.once('connect', () => {
      if (settled) return;
      if (target.protocol !== 'https:') { send(); return; }
      wait('the TLS handshake');
      const servername = net.isIP(target.hostname) ? undefined : target.hostname;
      sock = tls.connect({ socket: raw, servername, ALPNProtocols: ['http/1.1'] });
      sock.on('error', onError);
      sock.on('data', onData);
      sock.on('end', onEnd);
      sock.once('secureConnect', () => { if (!settled) send(); });
    });
    const onData = (chunk) => {
      if (settled) return;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (phase === 'body') wait('reading the body'); // each read of a 2xx body is its own wait
      pump();
    };
    const onEnd = () => { eof = true; pump(); };
    if (target.protocol !== 'https:') {
      raw.on('data', onData);
      raw.on('end', onEnd);
    }
    raw.on('close', () => { eof = true; if (!settled && phase !== 'connect') pump(); if (!settled) onError(new Error('connection closed')); });
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

// S18, S21b: ask the token provider, within the deadline.
function refreshedToken(tokenProvider, left) {
  const ask = Promise.resolve().then(() => tokenProvider());
  if (left() === Infinity) return ask;
  let timer;
  const spent = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new NexusError('timeout', 'S21b: the deadline was spent waiting for the token provider')),
      Math.max(0, left()));
  });
  return Promise.race([ask, spent]).finally(() => clearTimeout(timer));
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
  const target = buildUrl(baseUrl);
  if (!(typeof timeout === 'number' && timeout > 0 && Number.isFinite(timeout))) throw new NexusError('invalid_argument', 'timeout must be > 0');
  if (deadline !== null && !(typeof deadline === 'number' && deadline > 0)) throw new NexusError('invalid_argument', 'deadline must be > 0');
  if (!(Number.isInteger(maxResponseBytes) && maxResponseBytes >= 0)) throw new NexusError('invalid_argument', 'bad maxResponseBytes');
  if (!(Number.isInteger(maxRetries) && maxRetries >= 0)) throw new NexusError('invalid_argument', 'bad maxRetries');

  const end = deadline === null ? Infinity : Date.now() + deadline * 1000;
  const left = () => end - Date.now(); // ms
  const secrets = [token];
  let refreshed = false;
  let retries = 0;
  let current = token;
  for (;;) {
    if (left() <= 0) throw new NexusError('timeout', 'S21b: the deadline was spent');
    let err;
    try {
      return await attempt(target, current, { timeout, end, maxResponseBytes, strict });
    } catch (e) {
      err = scrub(e, secrets);
    }
    // S18: with a token provider, any 401 and any session_expired refresh once (not a retry).
    if (tokenProvider && !refreshed && (err.category === 'unauthorized' || err.category === 'session_expired')) {
      refreshed = true;
      current = await refreshedToken(tokenProvider, left);
      validateToken(current);
      secrets.push(current);
      continue;
    }
    if (!isRetryable(err) || retries >= maxRetries) throw err;
    let wait;
    if (err.retryAfter !== undefined && err.retryAfter !== null) {
      // S17b: exactly the delay; none past the cap or the deadline (the outcome is this response's).
      if (err.retryAfter > retryAfterCap || err.retryAfter * 1000 > left()) throw err;
      wait = err.retryAfter;
    } else {
      // S17c: full jitter; S21b: a wait that would end after the deadline is not started.
      wait = Math.random() * Math.min(8, 0.5 * 2 ** retries);
      if (wait * 1000 > left()) throw err;
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
