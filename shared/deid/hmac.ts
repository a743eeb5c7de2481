/**
 * HMAC-SHA-256 (RFC 2104 over FIPS 180-4) for the short messages pseudonyms hash, many times under one
 * key. `node:crypto`'s `createHmac` costs about 10-25 µs a call here (a new object, the key padded and
 * hashed again each time); this keeps the key's inner and outer states and costs two or three block
 * compressions, a few µs. The same bytes as `createHmac("sha256", key)`: `hmac_test.ts` compares them
 * over keys and messages of every length around the block boundaries.
 */

/** The first 32 bits of the fractional parts of the square roots (H0) and cube roots (K) of the first primes. */
const H0 = new Int32Array(8);
const K = new Int32Array(64);
{
  const primes: number[] = [];
  for (let n = 2; primes.length < 64; n++) if (primes.every((p) => n % p !== 0)) primes.push(n);
  const fraction32 = (x: number) => Math.floor((x - Math.floor(x)) * 2 ** 32) | 0;
  primes.forEach((p, i) => {
    if (i < 8) H0[i] = fraction32(Math.sqrt(p));
    K[i] = fraction32(Math.cbrt(p));
  });
}

const w = new Int32Array(64);
/** The state `finish` works on (one hash at a time: nothing here awaits). */
const state = new Int32Array(8);

/** One SHA-256 compression of the 64-byte block at `at` in `block` into `state`. */
function compress(state: Int32Array, block: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) {
    const j = at + 4 * i;
    w[i] = (block[j] << 24) | (block[j + 1] << 16) | (block[j + 2] << 8) | block[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15];
    const b = w[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K[i] + w[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

/**
 * Hashes `length` bytes of `data` from a state that has already taken `before` bytes (whole blocks),
 * padding as FIPS 180-4 5.1.1 says; `data` must have room for the padding (up to 72 bytes past `length`).
 */
function finish(from: Int32Array, before: number, data: Uint8Array, length: number): Int32Array {
  state.set(from);
  let at = 0;
  for (; at + 64 <= length; at += 64) compress(state, data, at);
  const rest = length - at;
  const tail = rest < 56 ? 64 : 128;
  data.fill(0, length, at + tail);
  data[length] = 0x80;
  const bits = (before + length) * 8;
  const end = at + tail;
  data[end - 8] = 0;
  data[end - 7] = 0;
  data[end - 6] = 0;
  data[end - 5] = Math.floor(bits / 2 ** 32) & 0xff;
  data[end - 4] = bits >>> 24;
  data[end - 3] = (bits >>> 16) & 0xff;
  data[end - 2] = (bits >>> 8) & 0xff;
  data[end - 1] = bits & 0xff;
  for (; at < end; at += 64) compress(state, data, at);
  return state;
}

/** A key's states after its inner and outer padded blocks. */
interface Keyed {
  key: Uint8Array;
  inner: Int32Array;
  outer: Int32Array;
}

let last: Keyed | undefined;
const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

function keyed(key: Uint8Array): Keyed {
  if (last && last.key.length === key.length && last.key.every((b, i) => b === key[i])) return last;
  let k = key;
  if (k.length > 64) {
    const buf = new Uint8Array(k.length + 72);
    buf.set(k);
    k = new Uint8Array(32);
    digestInto(finish(H0, 0, buf, buf.length - 72), k);
  }
  const pad = new Uint8Array(64);
  const inner = H0.slice();
  const outer = H0.slice();
  for (let i = 0; i < 64; i++) pad[i] = (k[i] ?? 0) ^ 0x36;
  compress(inner, pad, 0);
  for (let i = 0; i < 64; i++) pad[i] = (k[i] ?? 0) ^ 0x5c;
  compress(outer, pad, 0);
  last = { key: key.slice(), inner, outer };
  return last;
}

function digestInto(state: Int32Array, out: Uint8Array): Uint8Array {
  for (let i = 0; i < 8; i++) {
    out[4 * i] = state[i] >>> 24;
    out[4 * i + 1] = (state[i] >>> 16) & 0xff;
    out[4 * i + 2] = (state[i] >>> 8) & 0xff;
    out[4 * i + 3] = state[i] & 0xff;
  }
  return out;
}

/** HMAC-SHA-256 of `message` (UTF-8) under `key`: 32 bytes. */
export function hmacSha256(key: Uint8Array, message: string): Uint8Array {
  const { inner, outer } = keyed(key);
  // UTF-8 takes at most 3 bytes per UTF-16 unit; 72 more for the padding.
  if (scratch.length < message.length * 3 + 72) scratch = new Uint8Array(message.length * 3 + 72);
  const { written } = encoder.encodeInto(message, scratch);
  digestInto(finish(inner, 64, scratch, written), scratch);
  return digestInto(finish(outer, 64, scratch, 32), new Uint8Array(32));
}
