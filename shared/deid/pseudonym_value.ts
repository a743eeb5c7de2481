/**
 * What a given pseudonym may be: it becomes the Patient ID (LO) and the Patient Name (PN) of every object of its
 * patient, so one value of at most 64 characters, without a backslash (the value separator) or a control
 * character. The agent's command line, a transfer's `pseudonyms` and a batch file's Pseudonym column all
 * check it here.
 */

/** Why `pseudonym` cannot be written as a Patient ID and Patient Name, or undefined when it can. */
export function pseudonymProblem(pseudonym: string): string | undefined {
  if (!pseudonym) return "is empty";
  if (pseudonym.length > 64) return "is longer than 64 characters";
  if ([...pseudonym].some((c) => c === "\\" || c < " " || c === "\x7f")) {
    return "has a backslash or a control character (it becomes the Patient ID and Patient Name)";
  }
  return undefined;
}
