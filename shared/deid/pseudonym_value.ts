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

/** An earlier entry that one more cannot join: it gave the patient another pseudonym, or the pseudonym to another patient. */
export interface PseudonymClash<W> {
  /** "patient": the patient already has another pseudonym; "pseudonym": another patient already has it. */
  kind: "patient" | "pseudonym";
  /** The earlier entry's pseudonym (kind "patient") and where it came from (a row, a line). */
  pseudonym: string;
  where: W;
}

/**
 * A per-patient pseudonym table, built one entry at a time under its one rule: one patient, one pseudonym,
 * and one pseudonym, one patient (two patients under one pseudonym would be one patient at the destination).
 * The rule of a transfer's table, a batch's Pseudonym column and `agent deid --pseudonyms`.
 */
export class PseudonymTable<W> {
  readonly #byPatient = new Map<string, { pseudonym: string; where: W }>();
  readonly #byPseudonym = new Map<string, { patient: string; where: W }>();

  /** Adds the entry (a repeat of one already there is no clash), or returns the earlier one it clashes with. */
  add(patient: string, pseudonym: string, where: W): PseudonymClash<W> | undefined {
    const given = this.#byPatient.get(patient);
    if (given) {
      return given.pseudonym === pseudonym
        ? undefined
        : { kind: "patient", pseudonym: given.pseudonym, where: given.where };
    }
    const holder = this.#byPseudonym.get(pseudonym);
    if (holder) return { kind: "pseudonym", pseudonym, where: holder.where };
    this.#byPatient.set(patient, { pseudonym, where });
    this.#byPseudonym.set(pseudonym, { patient, where });
    return undefined;
  }

  /** How many patients the table names. */
  get size(): number {
    return this.#byPatient.size;
  }

  /** Each patient, their pseudonym and where it came from, in the order the patients were added. */
  entries(): { patient: string; pseudonym: string; where: W }[] {
    return [...this.#byPatient].map(([patient, e]) => ({ patient, ...e }));
  }

  /** Original Patient ID -> pseudonym, in the order the patients were added. */
  toMap(): Map<string, string> {
    return new Map([...this.#byPatient].map(([patient, { pseudonym }]) => [patient, pseudonym]));
  }
}
