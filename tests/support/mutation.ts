/**
 * A deterministic mutation fuzzer's material for the DIMSE port (tests/faults/dimse_mutation_test.ts): one
 * valid conversation built from PS3.8 with the PDU encoders here (an A-ASSOCIATE-RQ proposing a few storage
 * contexts, a C-STORE of a small generated object in several P-DATA-TF PDUs, an A-RELEASE-RQ), the named
 * mutations applied to it (each case drawn from its own seed, so one case can be replayed alone), the
 * writes it is cut into, and what a receiver reading the mutated bytes by PS3.8 could take as whole data
 * sets: an archived object must be one of those, byte for byte.
 */
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { prng } from "./crash.ts";
import {
  associateRq,
  cEchoRq,
  concat,
  cStoreRq,
  decodePdata,
  pdataTf,
  PduType,
  type Pdv,
  releaseRq,
} from "./pdu.ts";

/** A seeded generator: floats, integers below n, picks (mulberry32, tests/support/crash.ts). */
export function seeded(seed: number) {
  const next = prng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}
export type Rng = ReturnType<typeof seeded>;

/** Case `n`'s own seed under `seed`: a case replays alone, whatever ran before it. */
export function caseSeed(seed: number, n: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(n + 1, 0xc2b2ae35)) >>> 0;
}

/** One C-STORE of a conversation: its command set (implicit VR little endian) and data set. */
export interface StoreMessage {
  sopInstanceUid: string;
  command: Uint8Array;
  /** The data set (explicit VR little endian) sent after the command. */
  dataset: Uint8Array;
}

/** What one conversation is made of before it becomes bytes; mutations change any part. */
export interface Conversation {
  rq: Uint8Array;
  /** A C-ECHO before the stores. */
  echo: boolean;
  stores: StoreMessage[];
  contextId: number;
  /** PDUs, once built: the RQ, the C-ECHO's, each command's and data set's, the A-RELEASE-RQ. */
  pdus: Uint8Array[];
}

export const STORE_CONTEXT = 3;
const SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7";

/** The valid conversation storing `objects` (data sets in explicit VR little endian, one SOP class) to `calledAet`. */
export function conversation(
  calledAet: string,
  objects: { sopClassUid: string; sopInstanceUid: string; dataset: Uint8Array }[],
): Conversation {
  const explicit = TransferSyntax.ExplicitVRLittleEndian;
  const implicit = TransferSyntax.ImplicitVRLittleEndian;
  const rq = associateRq({
    calledAet,
    callingAet: "MUTATOR",
    maxPduLength: 16384,
    contexts: [
      { id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [implicit] },
      { id: STORE_CONTEXT, abstractSyntax: objects[0].sopClassUid, transferSyntaxes: [explicit, implicit] },
      { id: 5, abstractSyntax: SopClass.MrImage, transferSyntaxes: [explicit] },
      { id: 7, abstractSyntax: SECONDARY_CAPTURE, transferSyntaxes: [implicit] },
    ],
  });
  const stores = objects.map((o, i) => ({
    sopInstanceUid: o.sopInstanceUid,
    command: cStoreRq({ messageId: 7 + 2 * i, sopClassUid: o.sopClassUid, sopInstanceUid: o.sopInstanceUid }),
    dataset: o.dataset.slice(),
  }));
  return { rq, echo: false, stores, contextId: STORE_CONTEXT, pdus: [] };
}

/** The PDUs of `c`: each command in one or two fragments, each data set in PDVs of `chunk` bytes. */
export function build(r: Rng, c: Conversation): void {
  const pdv = (command: boolean, last: boolean, value: Uint8Array): Pdv => ({
    contextId: c.contextId,
    command,
    last,
    value,
  });
  const pdus = [c.rq];
  if (c.echo) pdus.push(pdataTf([{ contextId: 1, command: true, last: true, value: cEchoRq(1) }]));
  for (const { command, dataset } of c.stores) {
    const cut = r.int(2) ? 8 + 2 * r.int(command.length / 2 - 4) : command.length;
    if (cut < command.length) {
      pdus.push(pdataTf([pdv(true, false, command.subarray(0, cut))]));
      pdus.push(pdataTf([pdv(true, true, command.subarray(cut))]));
    } else pdus.push(pdataTf([pdv(true, true, command)]));
    const chunk = r.pick([255, 512, 1000, 1536]);
    for (let at = 0; at < dataset.length; at += 2 * chunk) {
      // two PDVs in a PDU now and then
      const pdvs: Pdv[] = [];
      for (let part = 0; part < (r.int(3) ? 1 : 2) && at + part * chunk < dataset.length; part++) {
        const from = at + part * chunk;
        const end = Math.min(dataset.length, from + chunk);
        pdvs.push(pdv(false, end === dataset.length, dataset.subarray(from, end)));
      }
      pdus.push(pdataTf(pdvs));
      if (pdvs.length === 1 && at + chunk < dataset.length) {
        const end = Math.min(dataset.length, at + 2 * chunk);
        pdus.push(pdataTf([pdv(false, end === dataset.length, dataset.subarray(at + chunk, end))]));
      }
    }
  }
  pdus.push(releaseRq());
  c.pdus = pdus;
}

/** Lengths that break readers: none, a little off, huge, undefined. */
const LENGTHS = [0, 1, 2, 3, 6, 0x7f, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0xfffffffe, 0xffffffff];

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** A length near `length` or an evil one. */
function lie(r: Rng, length: number): number {
  return r.int(2) ? r.pick(LENGTHS) : Math.max(0, length + r.pick([-4, -2, -1, 1, 2, 4, 64]));
}

/** Offsets of the elements of an implicit VR command set: [offset of the length field, its value]. */
function commandLengths(command: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 0; at + 8 <= command.length;) {
    const length = view(command).getUint32(at + 4, true);
    out.push([at + 4, length]);
    at += 8 + length;
  }
  return out;
}

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

/** The top-level elements of an explicit VR little endian data set: where each length is, how wide, its value. */
function datasetLengths(dataset: Uint8Array): { at: number; wide: boolean; length: number }[] {
  const out: { at: number; wide: boolean; length: number }[] = [];
  const v = view(dataset);
  for (let at = 0; at + 8 <= dataset.length;) {
    const vr = String.fromCharCode(dataset[at + 4], dataset[at + 5]);
    const wide = LONG_VRS.has(vr);
    const length = wide ? v.getUint32(at + 8, true) : v.getUint16(at + 6, true);
    out.push({ at: at + (wide ? 8 : 6), wide, length });
    if (length !== 0xffffffff) {
      at += (wide ? 12 : 8) + length;
      continue;
    }
    // undefined length: past its sequence delimitation item (no nested sequence in what is built here)
    const end = find(dataset, SEQUENCE_DELIMITATION, at + 12);
    if (end < 0) break;
    at = end + 8;
  }
  return out;
}

const ITEM = [0xfe, 0xff, 0x00, 0xe0];
const ITEM_DELIMITATION = [0xfe, 0xff, 0x0d, 0xe0];
const SEQUENCE_DELIMITATION = [0xfe, 0xff, 0xdd, 0xe0];

/** Where `pattern` is in `bytes` from `from` (-1: nowhere). */
function find(bytes: Uint8Array, pattern: number[], from = 0): number {
  outer: for (let at = from; at + pattern.length <= bytes.length; at++) {
    for (let i = 0; i < pattern.length; i++) if (bytes[at + i] !== pattern[i]) continue outer;
    return at;
  }
  return -1;
}

/** Every place `pattern` is in `bytes`. */
function findAll(bytes: Uint8Array, pattern: number[]): number[] {
  const out: number[] = [];
  for (let at = find(bytes, pattern); at >= 0; at = find(bytes, pattern, at + 1)) out.push(at);
  return out;
}

/**
 * `dataset` with a Referenced Image Sequence (0008,1140) of undefined length put in its place, holding one
 * item (of defined or undefined length) that names `sopInstanceUid`: nesting for the mutations to break.
 */
export function withSequence(
  dataset: Uint8Array,
  sopInstanceUid: string,
  undefinedItem: boolean,
): Uint8Array {
  const itemBody = concat([
    explicitElement(0x0008, 0x1150, "UI", "1.2.840.10008.5.1.4.1.1.2"),
    explicitElement(0x0008, 0x1155, "UI", sopInstanceUid),
  ]);
  const item = new Uint8Array(8 + itemBody.length + (undefinedItem ? 8 : 0));
  item.set(ITEM);
  view(item).setUint32(4, undefinedItem ? 0xffffffff : itemBody.length, true);
  item.set(itemBody, 8);
  if (undefinedItem) item.set(ITEM_DELIMITATION, 8 + itemBody.length);
  const head = Uint8Array.from([0x08, 0x00, 0x40, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  const sequence = concat([head, item, Uint8Array.from([...SEQUENCE_DELIMITATION, 0, 0, 0, 0])]);
  const tagAt = (at: number) =>
    ((view(dataset).getUint16(at, true) << 16) | view(dataset).getUint16(at + 2, true)) >>> 0;
  const next = datasetLengths(dataset).map(({ at, wide }) => at - (wide ? 8 : 6)).find((at) =>
    tagAt(at) > 0x00081140
  );
  if (next === undefined) return concat([dataset, sequence]);
  return concat([dataset.subarray(0, next), sequence, dataset.subarray(next)]);
}

/** One short-VR explicit little endian element; `text` padded with NUL to even length (latin1 bytes). */
function explicitElement(group: number, element: number, vr: string, text: string): Uint8Array {
  const value = Uint8Array.from(text.length % 2 ? `${text}\0` : text, (ch) => ch.charCodeAt(0));
  const out = new Uint8Array(8 + value.length);
  view(out).setUint16(0, group, true);
  view(out).setUint16(2, element, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  view(out).setUint16(6, value.length, true);
  out.set(value, 8);
  return out;
}

/** An explicit VR data set's top-level elements written in implicit VR (up to the first undefined length). */
function toImplicit(dataset: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { at, wide, length } of datasetLengths(dataset)) {
    if (length === 0xffffffff) break;
    const start = at - (wide ? 8 : 6);
    const value = dataset.subarray(at + (wide ? 4 : 2), at + (wide ? 4 : 2) + length);
    const head = new Uint8Array(8);
    head.set(dataset.subarray(start, start + 4));
    view(head).setUint32(4, value.length, true);
    parts.push(head, value);
  }
  return concat(parts);
}

/** Mutations of the parts, before the PDUs are built. */
const BEFORE_BUILD: Record<string, (r: Rng, c: StoreMessage) => void> = {
  "command group length lies": (r, c) => {
    const v = view(c.command);
    v.setUint32(8, lie(r, v.getUint32(8, true)) >>> 0, true);
  },
  "a command element's length lies": (r, c) => {
    const elements = commandLengths(c.command).slice(1);
    if (!elements.length) return;
    const [at, length] = r.pick(elements);
    view(c.command).setUint32(at, lie(r, length) >>> 0, true);
  },
  "a data set element's length lies": (r, c) => {
    const elements = datasetLengths(c.dataset);
    if (!elements.length) return;
    const { at, wide, length } = r.pick(elements);
    const value = lie(r, length);
    if (wide) view(c.dataset).setUint32(at, value >>> 0, true);
    else view(c.dataset).setUint16(at, value & 0xffff, true);
  },
  "a data set element's VR changed": (r, c) => {
    const elements = datasetLengths(c.dataset);
    if (!elements.length) return;
    const { at, wide } = r.pick(elements);
    const vr = r.pick(["SQ", "UN", "OB", "UT", "US", "UL", "DS", "XX", "\0\0", "sq"]);
    const vrAt = at - (wide ? 4 : 2);
    c.dataset[vrAt] = vr.charCodeAt(0);
    c.dataset[vrAt + 1] = vr.charCodeAt(1);
  },
  "the data set in implicit VR on the explicit context": (_r, c) => {
    c.dataset = toImplicit(c.dataset);
  },
  "File Meta elements in the data set": (r, c) => {
    const meta = r.int(2)
      ? explicitElement(0x0002, 0x0010, "UI", TransferSyntax.ImplicitVRLittleEndian)
      : concat([
        explicitElement(0x0002, 0x0000, "UL", "\x20\0\0\0"),
        explicitElement(0x0002, 0x0010, "UI", TransferSyntax.ExplicitVRBigEndian),
      ]);
    c.dataset = concat([meta, c.dataset]);
  },
  "the data set cut short": (r, c) => {
    c.dataset = c.dataset.slice(0, r.int(c.dataset.length));
  },
  "a byte of the data set changed": (r, c) => {
    c.dataset[r.int(c.dataset.length)] ^= 1 + r.int(255);
  },
};

/** Mutations inside a sequence, for data sets that have one ({@link withSequence}). */
const NESTED: Record<string, (r: Rng, c: StoreMessage) => void> = {
  "an item's length lies": (r, c) => {
    const items = findAll(c.dataset, ITEM);
    if (!items.length) return;
    const at = r.pick(items) + 4;
    view(c.dataset).setUint32(at, lie(r, view(c.dataset).getUint32(at, true)) >>> 0, true);
  },
  "a delimiter dropped": (r, c) => {
    const delimiters = [
      ...findAll(c.dataset, ITEM_DELIMITATION),
      ...findAll(c.dataset, SEQUENCE_DELIMITATION),
    ];
    if (!delimiters.length) return;
    const at = r.pick(delimiters);
    c.dataset = concat([c.dataset.subarray(0, at), c.dataset.subarray(at + 8)]);
  },
};

/** Mutations of the PDUs. */
const AFTER_BUILD: Record<string, (r: Rng, pdus: Uint8Array[]) => void> = {
  "a byte flipped": (r, pdus) => {
    const p = r.pick(pdus);
    p[r.int(p.length)] ^= 1 << r.int(8);
  },
  "a PDU length rewritten": (r, pdus) => {
    const p = r.pick(pdus);
    if (p.length < 6) return;
    view(p).setUint32(2, lie(r, p.length - 6) >>> 0, false);
  },
  "a PDV length rewritten": (r, pdus) => {
    const pdata = pdus.filter((p) => p[0] === PduType.PData && p.length >= 10);
    if (!pdata.length) return;
    const p = r.pick(pdata);
    view(p).setUint32(6, lie(r, view(p).getUint32(6, false)) >>> 0, false);
  },
  "an A-ASSOCIATE-RQ item length rewritten": (r, pdus) => {
    const rq = pdus[0];
    const items: number[] = [];
    for (let at = 74; at + 4 <= rq.length;) items.push(at), at += 4 + view(rq).getUint16(at + 2, false);
    if (!items.length) return;
    const at = r.pick(items);
    view(rq).setUint16(at + 2, lie(r, view(rq).getUint16(at + 2, false)) & 0xffff, false);
  },
  "the stream cut short": (r, pdus) => {
    if (pdus.length < 2) return;
    const k = 1 + r.int(pdus.length - 1);
    pdus.splice(k + 1);
    pdus[k] = pdus[k].subarray(0, r.int(pdus[k].length));
  },
  "a PDU sent twice": (r, pdus) => {
    const k = r.int(pdus.length);
    pdus.splice(k, 0, pdus[k].slice());
  },
  "two PDUs swapped": (r, pdus) => {
    if (pdus.length < 2) return;
    const k = r.int(pdus.length - 1);
    [pdus[k], pdus[k + 1]] = [pdus[k + 1], pdus[k]];
  },
  "a PDU dropped": (r, pdus) => {
    if (pdus.length < 2) return;
    pdus.splice(1 + r.int(pdus.length - 1), 1);
  },
  "a PDU of the wrong type": (r, pdus) => {
    r.pick(pdus)[0] = r.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 0x44, 0xff]);
  },
};

export const MUTATIONS = [...Object.keys(BEFORE_BUILD), ...Object.keys(AFTER_BUILD)];

/** A case: the bytes to send, the writes they are cut into, and the mutations named. */
export interface Case {
  n: number;
  /** How many C-STOREs it holds (before mutations), and whether a C-ECHO comes first. */
  stores: number;
  echo: boolean;
  mutations: string[];
  bytes: Uint8Array;
  /** Where each write ends. */
  writes: number[];
}

/**
 * Case `n` of `seed`: none (one case in ten, the control) to three mutations of the conversation, which
 * keeps its second store one time in three and starts with a C-ECHO one time in four (drawn apart, so a
 * case of one store and no C-ECHO is what it was before there could be more).
 */
export function makeCase(seed: number, n: number, c: Conversation): Case {
  const r = seeded(caseSeed(seed, n));
  const shape = seeded(caseSeed(seed, n) ^ 0x2545f491);
  if (shape.int(3) !== 0) c.stores.splice(1);
  c.echo = shape.int(4) === 0;
  // A sequence in the data sets one time in three, broken inside one time in two of those: drawn apart too.
  const nesting = seeded(caseSeed(seed, n) ^ 0x68e31da4);
  const nested = nesting.int(3) === 0;
  if (nested) {
    for (const m of c.stores) m.dataset = withSequence(m.dataset, `2.25.${n}`, nesting.int(2) === 0);
  }
  const count = r.int(10) === 0 ? 0 : 1 + (r.int(3) === 0 ? 1 + r.int(2) : 0);
  const names = Array.from({ length: count }, () => r.pick(MUTATIONS));
  for (const name of names) {
    if (BEFORE_BUILD[name]) BEFORE_BUILD[name](r, c.stores[shape.int(c.stores.length)]);
  }
  if (nested && nesting.int(2) === 0) {
    const name = nesting.pick(Object.keys(NESTED));
    NESTED[name](nesting, c.stores[nesting.int(c.stores.length)]);
    names.push(name);
  }
  build(r, c);
  for (const name of names) AFTER_BUILD[name]?.(r, c.pdus);
  const bytes = concat(c.pdus);
  return {
    n,
    stores: c.stores.length,
    echo: c.echo,
    mutations: names,
    bytes,
    writes: writePlan(r, bytes.length),
  };
}

/** Writes cut at odd places: whole, in a few random pieces, or byte by byte at first. */
function writePlan(r: Rng, length: number): number[] {
  const style = r.int(4);
  if (style === 0 || length < 2) return [length];
  const ends = new Set<number>([length]);
  if (style === 1) { for (let i = 0; i < 1 + r.int(6); i++) ends.add(1 + r.int(length - 1)); }
  if (style === 2) { for (let i = 1; i < Math.min(24, length); i++) ends.add(i); }
  if (style === 3) { for (let at = 1 + r.int(7); at < length; at += 1 + r.int(700)) ends.add(at); }
  return [...ends].sort((a, b) => a - b);
}

/**
 * The data sets a receiver could take from `bytes` read by PS3.8: PDUs in order, P-DATA-TF cut into PDVs
 * (reading stops where a PDU or PDV does not fit), and each C-STORE-RQ command's data set, its fragments up
 * to the last. More than the agent accepts (it refuses more), never less: what it archives must be one.
 */
export function sentDatasets(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let command: Uint8Array[] = [];
  let data: Uint8Array[] | undefined;
  for (let at = 0; at + 6 <= bytes.length;) {
    const length = view(bytes).getUint32(at + 2, false);
    if (at + 6 + length > bytes.length) break;
    const type = bytes[at];
    const body = bytes.subarray(at + 6, at + 6 + length);
    at += 6 + length;
    if (type !== PduType.PData) continue;
    if (!pdvsFit(body)) break;
    for (const pdv of decodePdata(body)) {
      if (data) {
        if (pdv.command) return out;
        data.push(pdv.value);
        if (pdv.last) out.push(concat(data)), data = undefined;
        continue;
      }
      if (!pdv.command) continue;
      command.push(pdv.value);
      if (!pdv.last) continue;
      if (announcesDataset(concat(command))) data = [];
      command = [];
    }
  }
  return out;
}

/**
 * True when `bytes` cut into PDUs by their lengths ends exactly with an A-RELEASE-RQ of 4 bytes: a peer
 * that sent that waits for an answer, which must come (A-RELEASE-RP, or A-ABORT at the latest at the idle
 * timeout, or a close), whatever came before.
 */
export function endsWithRelease(bytes: Uint8Array): boolean {
  let last = -1;
  for (let at = 0; at < bytes.length;) {
    if (at + 6 > bytes.length) return false;
    last = at;
    at += 6 + view(bytes).getUint32(at + 2, false);
    if (at > bytes.length) return false;
  }
  return last >= 0 && bytes[last] === PduType.ReleaseRq && bytes.length - last === 10;
}

function pdvsFit(body: Uint8Array): boolean {
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 6) return false;
    const length = view(body).getUint32(at, false);
    if (length < 2 || length > body.length - at - 4) return false;
    at += 4 + length;
  }
  return true;
}

/** A command set announcing a data set (Command Data Set Type not 0x0101), read leniently. */
function announcesDataset(command: Uint8Array): boolean {
  for (let at = 0; at + 8 <= command.length;) {
    const tag = view(command).getUint32(at, true);
    const length = view(command).getUint32(at + 4, true);
    if (tag === 0x08000000 && length >= 2 && at + 10 <= command.length) {
      return view(command).getUint16(at + 8, true) !== 0x0101;
    }
    at += 8 + length;
  }
  return true;
}
