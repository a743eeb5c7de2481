/**
 * What a given pseudonym may be: it becomes the Patient ID (LO) and the Patient Name (PN) of every object of its
 * patient, so one value of at most 64 printable ASCII characters without a backslash (the value separator):
 * the object's character set is not known where the pseudonym is given, and text outside ASCII would be
 * written in the wrong one. The agent's command line, a transfer's `pseudonyms` and a batch file's Pseudonym
 * column all check it here.
 */

/** Why `pseudonym` cannot be written as a Patient ID and Patient Name, or undefined when it can. */
export function pseudonymProblem(pseudonym: string): string | undefined {
  if (!pseudonym) return "is empty";
  if (pseudonym.length > 64) return "is longer than 64 characters";
  if (!/^[\x20-\x5b\x5d-\x7e]+$/.test(pseudonym)) {
    return "is not printable ASCII without a backslash (it becomes the Patient ID and Patient Name)";
  }
  return undefined;
}
