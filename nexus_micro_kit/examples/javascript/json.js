'use strict';
// A small strict JSON parser for SEMANTICS.md S1 (RFC 8259 grammar, S1c..S1h).
//
// Value model (what the rest of the module sees):
//   integer literal (no fraction, no exponent) -> BigInt        (S1d: exact, any size up to 4300 digits)
//   number with fraction or exponent           -> Number        (IEEE 754 double; overflow is malformed)
//   string -> string, true/false -> boolean, null -> null
//   array  -> Array
//   object -> Map (insertion order; duplicate names: last value wins, first position kept, S1g;
//            a Map also makes "__proto__" and integer-like names safe and ordered)

const MAX_DEPTH = 64; // S1f
const MAX_INT_DIGITS = 4300; // S1d

class JSONSyntaxError extends Error {}

function fail(msg, pos) {
  throw new JSONSyntaxError(`${msg} at offset ${pos}`);
}

function isWs(c) {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function hexVal(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function parseJSON(text) {
  let i = 0;
  const n = text.length;

  function skipWs() {
    while (i < n && isWs(text.charCodeAt(i))) i++;
  }

  function read4Hex() {
    if (i + 4 > n) fail('truncated \\u escape', i);
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const h = hexVal(text.charCodeAt(i + k));
      if (h < 0) fail('bad \\u escape', i + k);
      v = v * 16 + h;
    }
    i += 4;
    return v;
  }

  function parseString() {
    // text[i] === '"'
    i++;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unterminated string', i);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('unescaped control character in string', i);
      if (c >= 0xd800 && c <= 0xdfff) {
        // Cannot come from valid UTF-8 bytes, but may come from a JS string given as text (S1b).
        if (c <= 0xdbff && i + 1 < n) {
          const d = text.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) { i += 2; continue; }
        }
        fail('lone surrogate in text', i);
      }
      if (c !== 0x5c) { i++; continue; }
      out += text.slice(start, i);
      i++;
      if (i >= n) fail('unterminated escape', i);
      const e = text.charCodeAt(i);
      i++;
      switch (e) {
        case 0x22: out += '"'; break;
        case 0x5c: out += '\\'; break;
        case 0x2f: out += '/'; break;
        case 0x62: out += '\b'; break;
        case 0x66: out += '\f'; break;
        case 0x6e: out += '\n'; break;
        case 0x72: out += '\r'; break;
        case 0x74: out += '\t'; break;
        case 0x75: {
          const u = read4Hex();
          if (u >= 0xd800 && u <= 0xdbff) {
            // S1e: a high surrogate escape must be immediately followed by a low one.
            if (text.charCodeAt(i) !== 0x5c || text.charCodeAt(i + 1) !== 0x75) fail('lone high surrogate escape', i);
            i += 2;
            const l = read4Hex();
            if (l < 0xdc00 || l > 0xdfff) fail('high surrogate escape not followed by a low one', i);
            out += String.fromCharCode(u, l);
          } else if (u >= 0xdc00 && u <= 0xdfff) {
            fail('lone low surrogate escape', i);
          } else {
            out += String.fromCharCode(u);
          }
          break;
        }
        default:
          fail('bad escape', i - 1);
      }
      start = i;
    }
  }

  function isDigit(c) { return c >= 0x30 && c <= 0x39; }

  function parseNumber() {
    const s = i;
    if (text.charCodeAt(i) === 0x2d) i++;
    const intStart = i;
    if (i >= n) fail('bad number', i);
    if (text.charCodeAt(i) === 0x30) {
      i++;
    } else if (isDigit(text.charCodeAt(i))) {
      while (i < n && isDigit(text.charCodeAt(i))) i++;
    } else {
      fail('bad number', i);
    }
    const intDigits = i - intStart;
    let isInt = true;
    if (i < n && text.charCodeAt(i) === 0x2e) {
      isInt = false;
      i++;
      const f = i;
      while (i < n && isDigit(text.charCodeAt(i))) i++;
      if (i === f) fail('bad fraction', i);
    }
    if (i < n && (text.charCodeAt(i) === 0x65 || text.charCodeAt(i) === 0x45)) {
      isInt = false;
      i++;
      if (i < n && (text.charCodeAt(i) === 0x2b || text.charCodeAt(i) === 0x2d)) i++;
      const f = i;
      while (i < n && isDigit(text.charCodeAt(i))) i++;
      if (i === f) fail('bad exponent', i);
    }
    const lit = text.slice(s, i);
    if (isInt) {
      if (intDigits > MAX_INT_DIGITS) fail(`integer with more than ${MAX_INT_DIGITS} digits`, s);
      return BigInt(lit); // "-0" -> 0n
    }
    const v = Number(lit); // V8: correctly rounded to nearest
    if (!Number.isFinite(v)) fail('number overflows a double', s);
    return v;
  }

  function expectLiteral(word, value) {
    if (text.startsWith(word, i)) { i += word.length; return value; }
    fail('unexpected token', i);
  }

  function parseValue(depth) {
    if (i >= n) fail('unexpected end of input', i);
    const c = text.charCodeAt(i);
    if (c === 0x7b) return parseObject(depth);
    if (c === 0x5b) return parseArray(depth);
    if (c === 0x22) return parseString();
    if (c === 0x2d || isDigit(c)) return parseNumber();
    if (c === 0x74) return expectLiteral('true', true);
    if (c === 0x66) return expectLiteral('false', false);
    if (c === 0x6e) return expectLiteral('null', null);
    fail('unexpected character', i);
  }

  function parseArray(depth) {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`, i);
    i++;
    const arr = [];
    skipWs();
    if (text.charCodeAt(i) === 0x5d) { i++; return arr; }
    for (;;) {
      skipWs();
      arr.push(parseValue(depth + 1));
      skipWs();
      const c = text.charCodeAt(i);
      if (c === 0x2c) { i++; continue; }
      if (c === 0x5d) { i++; return arr; }
      fail('expected , or ]', i);
    }
  }

  function parseObject(depth) {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`, i);
    i++;
    const obj = new Map();
    skipWs();
    if (text.charCodeAt(i) === 0x7d) { i++; return obj; }
    for (;;) {
      skipWs();
      if (text.charCodeAt(i) !== 0x22) fail('expected member name', i);
      const key = parseString();
      skipWs();
      if (text.charCodeAt(i) !== 0x3a) fail('expected :', i);
      i++;
      skipWs();
      obj.set(key, parseValue(depth + 1)); // Map.set on an existing key keeps its first position
      skipWs();
      const c = text.charCodeAt(i);
      if (c === 0x2c) { i++; continue; }
      if (c === 0x7d) { i++; return obj; }
      fail('expected , or }', i);
    }
  }

  skipWs();
  if (i >= n) fail('empty body', i);
  const v = parseValue(1);
  skipWs();
  if (i !== n) fail('trailing data', i);
  return v;
}

// Canonical printer: BigInt printed with all digits, Map/objects as JSON objects.
function stringify(v) {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'bigint': return v.toString();
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError('non-finite number');
      // Shortest round-trip form ("1e+21" is valid JSON). Keep a float recognisable as a float
      // (and keep the sign of -0.0) so that readers do not turn it into an integer.
      if (Object.is(v, -0)) return '-0.0';
      { const s = String(v); return /[.eE]/.test(s) ? s : s + '.0'; }
    case 'string': return JSON.stringify(v);
    case 'boolean': return v ? 'true' : 'false';
    default: break;
  }
  if (Array.isArray(v)) return '[' + v.map(stringify).join(',') + ']';
  const parts = [];
  const entries = v instanceof Map ? v.entries() : Object.entries(v);
  for (const [k, x] of entries) parts.push(JSON.stringify(k) + ':' + stringify(x));
  return '{' + parts.join(',') + '}';
}

function jsonType(v) {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return 'integer';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

module.exports = { parseJSON, stringify, jsonType, JSONSyntaxError, MAX_DEPTH, MAX_INT_DIGITS };
