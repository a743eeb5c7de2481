/**
 * The text of CSV files people open in a spreadsheet. Files the hub and the console offer for download
 * begin with UTF-8's byte order mark (`UTF8_BOM`): Excel, opening a CSV by a double click, reads it as
 * UTF-8 only then (without it, as the computer's legacy code page: Müller became MÃ¼ller, 山田 mojibake).
 */
import { accentedShare, CLEARLY_BETTER, letterScore, RAREST_NAMES } from "./csv_letters.ts";

/** U+FEFF, which UTF-8 writes EF BB BF: the first character of every CSV file offered for download. */
export const UTF8_BOM = "\uFEFF";

/**
 * The encodings a batch CSV may be read in: `auto` detects (decodeCsv()), the others are what Excel's plain
 * "CSV" writes on Windows in Japanese, Chinese (simplified), Korean, Cyrillic (Russian, Ukrainian, Bulgarian...),
 * Greek and Western European, UTF-8, and UTF-16 (Excel's "Unicode Text", tab-separated, with its byte order
 * mark: little-endian as Windows writes it, or big-endian when the mark says so).
 */
export const CSV_ENCODINGS = [
  "auto",
  "utf-8",
  "utf-16",
  "shift_jis",
  "gbk",
  "euc-kr",
  "windows-1251",
  "windows-1253",
  "windows-1252",
] as const;
export type CsvEncoding = (typeof CSV_ENCODINGS)[number];
export type KnownEncoding = Exclude<CsvEncoding, "auto">;

/** Each encoding in words (the console's select, and the messages). */
export const ENCODING_NAMES: Record<CsvEncoding, string> = {
  auto: "Detect",
  "utf-8": "UTF-8",
  "utf-16": "UTF-16 (Excel's Unicode Text)",
  shift_jis: "Shift_JIS (Japanese)",
  gbk: "GBK (Chinese)",
  "euc-kr": "EUC-KR (Korean)",
  "windows-1251": "Windows-1251 (Cyrillic)",
  "windows-1253": "Windows-1253 (Greek)",
  "windows-1252": "Windows-1252 (Western European)",
};

export class CsvEncodingError extends Error {
  override name = "CsvEncodingError";
}

/** The legacy encodings `auto` tries when a file is not UTF-8, in this order (the order of its messages). */
const LEGACY = ["shift_jis", "gbk", "euc-kr", "windows-1251", "windows-1253", "windows-1252"] as const;
type Legacy = (typeof LEGACY)[number];

/** A letter's script, as a bit: a word's scripts are their union. */
const LATIN = 1, GREEK = 2, HAN = 4, KANA = 8, HALFKANA = 16, HANGUL = 32, CYRILLIC = 64;

/**
 * The scripts one word may mix, per encoding; a word in Latin letters is fine in every one. (A Cyrillic word
 * may also hold Latin look-alikes: LOOK_ALIKES.)
 */
const WORDS: Record<Legacy, number[]> = {
  shift_jis: [LATIN, HAN | KANA, HALFKANA],
  gbk: [LATIN, HAN],
  "euc-kr": [LATIN, HANGUL],
  "windows-1251": [LATIN, CYRILLIC],
  "windows-1253": [LATIN, GREEK],
  "windows-1252": [LATIN],
};

/**
 * Latin letters that look like Cyrillic ones, which a Cyrillic word typed with a keyboard switched to Latin
 * holds (pydicom's chrRuss.dcm names Люкceмбypг, with Latin c, e, y and p); any other Latin letter in a
 * Cyrillic word makes it no name (Western text read as Windows-1251: Müller as Mьller).
 */
const LOOK_ALIKES = new Set("aceiopxyABCEHIKMOPTX");

/** Punctuation a list of names holds besides ASCII: no-break space, ’ ‘ – — · « » °. */
const PUNCTUATION = /[\u00a0\u2018\u2019\u2013\u2014\u00b7\u00ab\u00bb\u00b0]/u;
/** CJK punctuation (、。「」・ full-width space...) and full-width forms of ASCII. */
const CJK_PUNCTUATION = /[\u3000-\u303f\u30fb\uff01-\uff65]/u;
/**
 * Windows-1252's other signs (¡ to ¿, ×, ÷, €, “ ” „ … • ™): a Western file may hold them; text in another
 * encoding read as Windows-1252 still fails on its words of accented letters alone.
 */
const WESTERN_SIGNS = /[\u00a1-\u00bf\u00d7\u00f7\u20ac\u201c\u201d\u201e\u2026\u2022\u2122]/u;
/** Greek's tonos and dialytika tonos, written alone. */
const GREEK_PUNCTUATION = /[\u0384\u0385\u0387]/u;

const LETTER = /[\p{L}\p{M}]/u;
const SCRIPTS: [number, RegExp][] = [
  [HALFKANA, /[\uff66-\uff9d]/u],
  [LATIN, /\p{Script=Latin}/u],
  [GREEK, /\p{Script=Greek}/u],
  [HAN, /\p{Script=Han}/u],
  [KANA, /[\p{Script=Hiragana}\p{Script=Katakana}]/u],
  [HANGUL, /\p{Script=Hangul}/u],
  [CYRILLIC, /\p{Script=Cyrillic}/u],
];
const NEUTRAL = /[\p{Script=Common}\p{Script=Inherited}]/u;

/** A letter's script; 0 for one that belongs to none in particular (ー, ﾞ, a combining mark); -1 another. */
function scriptOf(ch: string): number {
  for (const [script, re] of SCRIPTS) if (re.test(ch)) return script;
  return NEUTRAL.test(ch) ? 0 : -1;
}

/** Whether every non-ASCII byte is half of a pair of bytes A1–FE (GB2312's and KS X 1001's common form). */
function eucForm(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] < 0x80) continue;
    if (bytes[i] < 0xa1 || bytes[i] > 0xfe || !(bytes[i + 1] >= 0xa1 && bytes[i + 1] <= 0xfe)) return false;
    i++;
  }
  return true;
}

/**
 * Whether `text` (the file read as `encoding`) reads as a list of names: each word (a run of letters) in one
 * script of that encoding's language, or in Latin letters; beside letters, only ASCII and a name's
 * punctuation; in Windows-1252 every word with an accented letter holds a plain ASCII letter too.
 */
function readsAsNames(text: string, encoding: Legacy): boolean {
  const cjk = encoding === "shift_jis" || encoding === "gbk" || encoding === "euc-kr";
  const allowed = WORDS[encoding];
  let word = 0;
  let ascii = false;
  let accented = false;
  /** A Latin letter in the word that looks like no Cyrillic one. */
  let unlike = false;
  /** The word's last letter was a small one. */
  let small = false;
  const wordFits = () => {
    if (encoding === "windows-1252" && accented && !ascii) return false;
    if (encoding === "windows-1251" && word === (LATIN | CYRILLIC)) return !unlike;
    return allowed.some((scripts) => (word & ~scripts) === 0);
  };
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    if (code < 0x80) {
      // ASCII, most of any file: a letter is Latin; anything else ends a word.
      if ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a) {
        word |= LATIN;
        ascii = true;
        if (!LOOK_ALIKES.has(ch)) unlike = true;
        small = code >= 0x61;
        continue;
      }
      if (!wordFits()) return false;
      word = 0;
      ascii =
        accented =
        unlike =
        small =
          false;
      continue;
    }
    if (LETTER.test(ch)) {
      const script = scriptOf(ch);
      if (script < 0) return false;
      // Cyrillic names are written Иванов or ИВАНОВ: a capital after a small letter is another script's
      // bytes (Chinese read as Windows-1251: іВ, ѕІ).
      const capital = ch !== ch.toLowerCase();
      if (encoding === "windows-1251" && capital && small) return false;
      small = !capital;
      word |= script;
      accented = true;
      continue;
    }
    if (!wordFits()) return false;
    word = 0;
    ascii =
      accented =
      unlike =
      small =
        false;
    if (PUNCTUATION.test(ch)) continue;
    if (cjk && CJK_PUNCTUATION.test(ch)) continue;
    if (encoding === "windows-1253" && GREEK_PUNCTUATION.test(ch)) continue;
    if (encoding === "windows-1252" && WESTERN_SIGNS.test(ch)) continue;
    return false; // a symbol, a control character, a private-use one, U+FFFD...
  }
  return wordFits();
}

/** `bytes` read as `encoding`, or undefined where it has bytes that encoding cannot read. */
function decodeOr(
  bytes: Uint8Array,
  encoding: Exclude<KnownEncoding, "utf-16"> | "utf-16le" | "utf-16be",
): string | undefined {
  try {
    return new TextDecoder(encoding, { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

const UTF8_MARK = [0xef, 0xbb, 0xbf];

/** UTF-16's byte order mark, if the file begins with one: which way round its units are. */
function utf16Mark(bytes: Uint8Array): "utf-16le" | "utf-16be" | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return "utf-16le";
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return "utf-16be";
  return undefined;
}

/**
 * A UTF-16 file's text: the way its byte order mark says (the mark left out), little-endian without one (as
 * Windows writes it); a CsvEncodingError where its units are not UTF-16 (an odd length, a lone surrogate).
 */
function utf16Text(bytes: Uint8Array): string {
  const text = decodeOr(bytes, utf16Mark(bytes) ?? "utf-16le");
  if (text === undefined) throw unreadable(bytes, "utf-16");
  return text;
}

/**
 * A CSV file's text. `encoding` names it, or is `auto`: UTF-16 when the file begins with its byte order mark
 * (Excel's "Unicode Text"); UTF-8 when the bytes are UTF-8 (with or without the byte order mark); else the one legacy encoding (of Shift_JIS, GBK, EUC-KR, Windows-1251, Windows-1253,
 * Windows-1252) that reads it without error as names (readsAsNames()), Cyrillic and Greek told apart by
 * their letters where they can be (cyrillicOrNot()), GBK and EUC-KR in their common two-byte form only
 * (both bytes A1–FE), EUC-KR before GBK when both do (Hangul syllables are also common Chinese characters in
 * GBK); else a CsvEncodingError that names the choice to make. A named encoding that cannot read the file
 * (a byte it does not have, or UTF-8's or UTF-16's byte order mark before another encoding) is a
 * CsvEncodingError too.
 */
export function decodeCsv(
  bytes: Uint8Array,
  encoding: CsvEncoding = "auto",
): { text: string; encoding: KnownEncoding } {
  // UTF-16's byte order mark says what the file is (no legacy encoding begins so: FF and FE are no
  // lead bytes, and ÿþ or þÿ begins no name).
  const utf16 = utf16Mark(bytes);
  if (encoding === "utf-16" || (encoding === "auto" && utf16)) {
    return { text: utf16Text(bytes), encoding: "utf-16" };
  }
  if (utf16 && encoding !== "utf-8") {
    throw new CsvEncodingError(
      `the file begins with UTF-16's byte order mark, so it is UTF-16, not ${
        ENCODING_NAMES[encoding]
      }: choose UTF-16 or Detect`,
    );
  }
  const utf8 = decodeOr(bytes, "utf-8");
  const marked = UTF8_MARK.every((b, i) => bytes[i] === b);
  if (encoding === "auto" || encoding === "utf-8") {
    if (utf8 !== undefined) return { text: utf8, encoding: "utf-8" };
    if (encoding === "utf-8" || marked) throw unreadable(bytes, "utf-8");
  } else {
    if (marked) {
      throw new CsvEncodingError(
        `the file begins with UTF-8's byte order mark, so it is UTF-8, not ${
          ENCODING_NAMES[encoding]
        }: choose UTF-8 or Detect`,
      );
    }
    const text = decodeOr(bytes, encoding);
    if (text === undefined) throw unreadable(bytes, encoding);
    return { text, encoding };
  }
  const fits = LEGACY.filter((e) => {
    if ((e === "gbk" || e === "euc-kr") && !eucForm(bytes)) return false;
    const text = decodeOr(bytes, e);
    return text !== undefined && readsAsNames(text, e);
  }).filter((e, _, all) => !(e === "gbk" && all.includes("euc-kr")));
  fits.splice(0, fits.length, ...cyrillicOrNot(bytes, fits));
  if (fits.length === 1) return { text: decodeOr(bytes, fits[0])!, encoding: fits[0] };
  const choose = 'choose its encoding, or save it as "CSV UTF-8" or as XLSX';
  if (fits.length > 1) {
    throw new CsvEncodingError(
      `the file is not UTF-8, and reads as names in ${
        fits.map((e) => ENCODING_NAMES[e]).join(" or ")
      } alike: ${choose}`,
    );
  }
  throw new CsvEncodingError(
    `the file is not UTF-8, and none of ${
      LEGACY.map((e) => ENCODING_NAMES[e]).join(", ")
    } reads it as names in one script: ${choose}`,
  );
}

/**
 * Of the encodings that read a file as names, those left once Windows-1251 and Windows-1253 (or -1252) are
 * told apart where the file says which (csv_letters.ts): of Cyrillic and Greek, the reading whose letters
 * are clearly likelier in its language; Windows-1252 not beside Windows-1251 when most letters of its words
 * with accents are accented (a Cyrillic word with Latin look-alikes).
 */
function cyrillicOrNot(bytes: Uint8Array, fits: Legacy[]): Legacy[] {
  if (!fits.includes("windows-1251")) return fits;
  // Letters on average rarer than Macedonian's ѓ: another encoding's bytes (a stray 0x81 is Ѓ).
  if (letterScore(decodeOr(bytes, "windows-1251")!, "cyrillic") < RAREST_NAMES) {
    return fits.filter((e) => e !== "windows-1251");
  }
  let out = fits;
  if (out.includes("windows-1253")) {
    const cyrillic = letterScore(decodeOr(bytes, "windows-1251")!, "cyrillic");
    const greek = letterScore(decodeOr(bytes, "windows-1253")!, "greek");
    if (cyrillic - greek >= CLEARLY_BETTER) out = out.filter((e) => e !== "windows-1253");
    else if (greek - cyrillic >= CLEARLY_BETTER) out = out.filter((e) => e !== "windows-1251");
  }
  if (out.includes("windows-1251") && out.includes("windows-1252")) {
    if (accentedShare(decodeOr(bytes, "windows-1252")!) > 0.5) out = out.filter((e) => e !== "windows-1252");
  }
  return out;
}

/** The refusal of a file `encoding` cannot read, naming the row of its first such byte where it can. */
function unreadable(bytes: Uint8Array, encoding: KnownEncoding): CsvEncodingError {
  const text = new TextDecoder(encoding === "utf-16" ? utf16Mark(bytes) ?? "utf-16le" : encoding).decode(
    bytes,
  );
  const at = text.indexOf("\uFFFD");
  const row = at < 0 ? "" : ` (row ${text.slice(0, at).split("\n").length} has the first)`;
  return new CsvEncodingError(
    `the file is not ${ENCODING_NAMES[encoding]}: it has bytes that encoding does not have${row}; ` +
      "choose another encoding, or Detect",
  );
}
