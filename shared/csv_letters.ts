/**
 * Telling Cyrillic names from Greek ones when a batch CSV's bytes read as letters in Windows-1251 and in
 * Windows-1253 alike (csv_text.ts): both put their letters at C0-FF, so the same bytes are a word in either
 * alphabet. Read the wrong way, a language's common letters become rare ones of the other (Russian о and а
 * are Greek ξ and ΰ; Greek α and τ are Cyrillic б and ф), and Greek's accented small letters ά έ ή ί become
 * capitals in the middle of a Cyrillic word. So each reading is scored by how likely its letters are in its
 * own language, one letter at a time, and the better one is taken only when it is clearly better.
 */

/**
 * How often each small letter comes in running Russian (with the letters of Ukrainian, Belarusian,
 * Bulgarian, Serbian and Macedonian that Windows-1251 also has) and in Greek, per cent, rounded: written
 * from common knowledge of the two languages, not measured here; only their orders of magnitude matter.
 */
const CYRILLIC: Record<string, number> = {
  о: 11,
  е: 8.5,
  а: 8,
  и: 7.4,
  н: 6.7,
  т: 6.3,
  с: 5.5,
  р: 4.7,
  в: 4.5,
  л: 4.4,
  к: 3.5,
  м: 3.2,
  д: 3,
  п: 2.8,
  у: 2.6,
  я: 2,
  ы: 1.9,
  ь: 1.7,
  г: 1.7,
  з: 1.7,
  б: 1.6,
  ч: 1.4,
  й: 1.2,
  х: 1,
  ж: 0.9,
  ш: 0.7,
  ю: 0.6,
  ц: 0.5,
  щ: 0.4,
  э: 0.3,
  ф: 0.3,
  ъ: 0.04,
  ё: 0.04,
  і: 3,
  ї: 0.5,
  є: 0.6,
  ґ: 0.1,
  ў: 0.1,
  ј: 0.05,
  љ: 0.05,
  њ: 0.05,
  ђ: 0.02,
  ћ: 0.02,
  џ: 0.02,
  ѕ: 0.02,
  ќ: 0.02,
  ѓ: 0.02,
};
const GREEK: Record<string, number> = {
  α: 12,
  ο: 9.8,
  ε: 8,
  ι: 7.9,
  τ: 8,
  σ: 5.5,
  ς: 1.5,
  ν: 6.6,
  η: 5.5,
  υ: 4.5,
  ρ: 4.8,
  π: 4.2,
  κ: 4.1,
  μ: 3.5,
  λ: 2.8,
  ω: 1.9,
  γ: 1.8,
  δ: 1.8,
  θ: 1.3,
  χ: 1.1,
  φ: 0.8,
  β: 0.7,
  ξ: 0.5,
  ζ: 0.4,
  ψ: 0.15,
  ϊ: 0.05,
  ϋ: 0.03,
  ΐ: 0.02,
  ΰ: 0.01,
};
/** A letter the table has not (another script's, a sign): as likely as the rarest. */
const UNKNOWN = 0.001;
/**
 * How much better per letter (natural log) one reading must score to be taken; less, and the user chooses.
 * The ten Russian and Greek name lists of csv_text_test.ts, one to three names each, score 0.5-3.0 apart the
 * right way round; one Greek name alone can score as well read as Cyrillic (Ξενοφών as Оенпцюн: 0.04 the
 * wrong way).
 */
export const CLEARLY_BETTER = 0.25;

/**
 * The lowest score a Cyrillic reading of names may have (ln of 0.25 %): Russian, Ukrainian and Bulgarian name
 * lists score -2.8 to -4.2 (Фёдоров^Фёдор, with two ё), one letter of the rarest (Ѓ alone) -8.5.
 */
export const RAREST_NAMES = -6;

const ACCENTS = /[\u0300-\u036f]/g;

/** A small letter as the table has it: itself, or without its accents (ά as α), Greek's ΐ ΰ as themselves. */
function frequency(table: Record<string, number>, small: string): number {
  return table[small] ?? table[small.normalize("NFD").replace(ACCENTS, "")] ?? UNKNOWN;
}

/**
 * The mean natural log of the likelihood of each non-ASCII letter of `text` in `language` (a capital after
 * a small letter in one word counts as the rarest: names are written Иванов or ИВАНОВ, not ЕлЭнз); 0 for
 * a text with none.
 */
export function letterScore(text: string, language: "cyrillic" | "greek"): number {
  const table = language === "cyrillic" ? CYRILLIC : GREEK;
  let sum = 0;
  let letters = 0;
  let afterSmall = false;
  for (const ch of text) {
    if (ch.charCodeAt(0) < 0x80 || !/\p{L}/u.test(ch)) {
      afterSmall = false;
      continue;
    }
    const small = ch.toLowerCase();
    const capital = small !== ch;
    const p = capital && afterSmall ? UNKNOWN : frequency(table, small);
    afterSmall = !capital;
    sum += Math.log(p / 100);
    letters++;
  }
  return letters === 0 ? 0 : sum / letters;
}

/**
 * Of the letters of words that hold an accented one, the share accented: a few in Western names (Müller,
 * José: one of five or six), most of a Cyrillic word read as Windows-1252 whose Latin look-alikes were typed
 * on a Latin keyboard (Люкceмбypг as Ëþêceìáypã: six of ten).
 */
export function accentedShare(text: string): number {
  let accented = 0;
  let letters = 0;
  for (const word of text.match(/[\p{L}\p{M}]+/gu) ?? []) {
    let inWord = 0;
    for (const ch of word) if (ch.charCodeAt(0) >= 0x80) inWord++;
    if (inWord === 0) continue;
    accented += inWord;
    letters += [...word].length;
  }
  return letters === 0 ? 0 : accented / letters;
}
