/**
 * Decoding text under a Specific Character Set with ISO 2022 code extensions (PS3.5 6.1.2.5,
 * PS3.3 C.12.1.1.2 Tables C.12-3/C.12-4). Value 1 of (0008,0005) sets the initial G0 and G1 code
 * elements; escape sequences in a value designate others; the initial state comes back at every
 * delimiter the standard names. Each code element's bytes are handed to a WHATWG decoder that knows
 * them (EUC forms of the 94x94 sets), so no mapping tables live here.
 */

/**
 * How one code element's characters become text: `width` bytes per character, decoded by the WHATWG
 * decoder `decoder` after setting their high bits and putting `prefix` in front. "ascii" and "latin1"
 * are read as code points directly (WHATWG's "latin1" is windows-1252).
 */
interface CodeElement {
  width: 1 | 2;
  decoder: string;
  prefix?: number;
}

const ASCII: CodeElement = { width: 1, decoder: "ascii" };
// JIS X 0201 Romaji (ISO-IR 14) differs from ASCII only at 05/12 (yen) and 07/14 (overline). DICOM
// uses 05/12 as the value delimiter whatever its glyph, and pydicom reads these bytes as ASCII too,
// so they stay ASCII here.
const ROMAJI = ASCII;
// EUC-JP carries JIS X 0201 katakana after SS2 (0x8E), JIS X 0208 as two high bytes, and JIS X 0212
// after SS3 (0x8F).
const KATAKANA: CodeElement = { width: 1, decoder: "euc-jp", prefix: 0x8e };
const JIS_X_0208: CodeElement = { width: 2, decoder: "euc-jp" };
const JIS_X_0212: CodeElement = { width: 2, decoder: "euc-jp", prefix: 0x8f };
// KS X 1001 and GB 2312 in G1 are exactly EUC-KR and EUC-CN (which GB18030 contains).
const KS_X_1001: CodeElement = { width: 2, decoder: "euc-kr" };
const GB_2312: CodeElement = { width: 2, decoder: "gb18030" };

/** The 96-character sets invoked in G1 (the upper half of ISO 8859), by escape final byte. */
const G1_96: Record<string, CodeElement> = {
  A: { width: 1, decoder: "latin1" }, // ISO-IR 100
  B: { width: 1, decoder: "iso-8859-2" }, // ISO-IR 101
  C: { width: 1, decoder: "iso-8859-3" }, // ISO-IR 109
  D: { width: 1, decoder: "iso-8859-4" }, // ISO-IR 110
  F: { width: 1, decoder: "iso-8859-7" }, // ISO-IR 126
  G: { width: 1, decoder: "iso-8859-6" }, // ISO-IR 127
  H: { width: 1, decoder: "iso-8859-8" }, // ISO-IR 138
  L: { width: 1, decoder: "iso-8859-5" }, // ISO-IR 144
  M: { width: 1, decoder: "windows-1254" }, // ISO-IR 148 (WHATWG's ISO 8859-9)
  T: { width: 1, decoder: "windows-874" }, // ISO-IR 166 (TIS 620)
  b: { width: 1, decoder: "iso-8859-15" }, // ISO-IR 203
};

/** Escape sequences (the bytes after ESC) and the register and code element they designate. */
const DESIGNATIONS: Record<string, [register: 0 | 1, element: CodeElement]> = {
  "(B": [0, ASCII],
  "(J": [0, ROMAJI],
  ")I": [1, KATAKANA],
  "$B": [0, JIS_X_0208],
  "$@": [0, JIS_X_0208], // the 1978 edition's sequence, as some writers still send it
  "$(D": [0, JIS_X_0212],
  "$)C": [1, KS_X_1001],
  "$)A": [1, GB_2312],
  ...Object.fromEntries(Object.entries(G1_96).map(([f, el]) => [`-${f}`, [1, el] as [1, CodeElement]])),
};

/** Initial G0 and G1 of each defined term when it is value 1 (G1 undefined: none). */
function initialState(term: string): [CodeElement, CodeElement | undefined] {
  const m = /^ISO(?:_| 2022 )IR (\d+)$/.exec(term);
  const ir = m ? m[1] : "";
  if (ir === "13") return [ROMAJI, KATAKANA];
  // Multi-byte G1 sets cannot be value 1, but data naming only them exist; read them anyway.
  if (ir === "149") return [ASCII, KS_X_1001];
  if (ir === "58") return [ASCII, GB_2312];
  const final =
    { 100: "A", 101: "B", 109: "C", 110: "D", 126: "F", 127: "G", 138: "H", 144: "L", 148: "M" }[ir] ??
      { 166: "T", 203: "b" }[ir];
  return [ASCII, final ? G1_96[final] : undefined];
}

const decoders = new Map<string, TextDecoder>();
function decoderFor(label: string): TextDecoder {
  let d = decoders.get(label);
  if (!d) decoders.set(label, d = new TextDecoder(label));
  return d;
}

/** Bytes as text under one decoder; "ascii" and "latin1" map bytes to code points. */
function byteString(bytes: Uint8Array, decoder: string): string {
  if (decoder !== "ascii" && decoder !== "latin1") return decoderFor(decoder).decode(bytes);
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

const ESC = 0x1b;
const BACKSLASH = 0x5c;
const CARET = 0x5e;
const EQUALS = 0x3d;

/** Decodes values under a Specific Character Set that is not UTF-8, GB18030 or GBK. */
export class Iso2022Decoder {
  readonly #g0: CodeElement;
  readonly #g1: CodeElement | undefined;

  readonly #undesignated: CodeElement;

  /** `terms` are the values of (0008,0005); value 1 is "" when empty or absent (ISO-IR 6). */
  constructor(terms: string[]) {
    [this.#g0, this.#g1] = initialState(terms[0] ?? "");
    // A high byte while G1 holds nothing breaks the rules; some writers leave out the escape
    // sequence, so the G1 set named last is the best guess, ISO 8859-1 without one.
    const named = terms.map((t) => initialState(t)[1]).filter((g1) => g1 !== undefined);
    this.#undesignated = named.at(-1) ?? G1_96.A;
  }

  /**
   * Decodes one element's value bytes. The initial code elements come back before each control
   * character (CR, LF, FF, TAB...), each `\` of a multi-valued VR, and each `^` and `=` of a PN, as
   * writers must switch back there (PS3.5 6.1.2.5.3); a delimiter byte read as half of a two-byte
   * character is that character's.
   */
  decode(bytes: Uint8Array, vr: string): string {
    const fast = this.#g1 ?? this.#undesignated;
    if (!bytes.includes(ESC) && this.#g0 === ASCII && fast.width === 1 && fast.prefix === undefined) {
      // No code extension used and no two-byte set: one pass of one decoder, as most data take.
      return byteString(bytes, fast.decoder);
    }
    const multiValued = vr !== "LT" && vr !== "ST" && vr !== "UT";
    const isDelimiter = (b: number) =>
      (b === BACKSLASH && multiValued) || (vr === "PN" && (b === CARET || b === EQUALS));
    let g0 = this.#g0;
    let g1 = this.#g1;
    let out = "";
    let runDecoder = "";
    let run: number[] = [];
    const flush = () => {
      if (run.length === 0) return;
      out += byteString(new Uint8Array(run), runDecoder);
      run = [];
    };
    const emit = (el: CodeElement, ...chars: number[]) => {
      if (el.decoder !== runDecoder) {
        flush();
        runDecoder = el.decoder;
      }
      if (el.prefix !== undefined) run.push(el.prefix);
      for (const c of chars) run.push(el.decoder === "ascii" ? c : c | 0x80);
    };
    for (let i = 0; i < bytes.length;) {
      const b = bytes[i];
      if (b === ESC) {
        // ESC, intermediate bytes (02/00-02/15), one final byte (03/00-07/14).
        let end = i + 1;
        while (end < bytes.length && bytes[end] >= 0x20 && bytes[end] <= 0x2f) end++;
        const designation = DESIGNATIONS[String.fromCharCode(...bytes.subarray(i + 1, end + 1))];
        if (designation) {
          if (designation[0] === 0) g0 = designation[1];
          else g1 = designation[1];
        }
        // An escape we do not know designates a set we cannot read: it is dropped, the state kept.
        i = end + 1;
        continue;
      }
      if (b <= 0x20 || b === 0x7f || (b < 0x80 && g0.width === 1)) {
        emit(ASCII, b);
        if (b < 0x20 || isDelimiter(b)) [g0, g1] = [this.#g0, this.#g1];
        i++;
        continue;
      }
      const el = b < 0x80 ? g0 : g1 ?? this.#undesignated;
      if (el.width === 1) {
        emit(el, b);
        i++;
      } else {
        const next = bytes[i + 1];
        // Both bytes of a two-byte character come from the same half (G0: 02/01-07/14, G1: high).
        const pair = next !== undefined &&
          (b < 0x80 ? next > 0x20 && next < 0x7f : next >= 0xa1 && next < 0xff);
        if (pair) {
          emit(el, b, next);
          i += 2;
        } else {
          flush();
          out += "\ufffd";
          i++;
        }
      }
    }
    flush();
    return out;
  }
}
