/**
 * Follows the PDVs of an association message by message (PS3.7 6.3.1, PS3.8 9.3.5.1): a command set in
 * fragments, then its data set when the command announces one. What does not fit (a command set that
 * cannot be parsed or is absurdly long, data with no command announcing it, a command in the middle of
 * a data set) is reported at once, so the association is aborted instead of held until its idle
 * timeout, and the library never sees it.
 */
import { checkCommandSet } from "./command_codec.ts";

/** No real command set comes near this (they are a few hundred bytes). */
export const MAX_COMMAND_BYTES = 64 * 1024;

export interface PdvFacts {
  isCommand: boolean;
  isLast: boolean;
  value: Uint8Array;
}

export class PdvGuard {
  #command: Uint8Array[] = [];
  #commandBytes = 0;
  #expectData = false;

  /** Takes the next PDV; returns why it breaks the protocol, or undefined. */
  next(pdv: PdvFacts): string | undefined {
    if (!pdv.isCommand) {
      if (!this.#expectData) {
        return this.#commandBytes > 0
          ? "a data set fragment in the middle of a command set"
          : "a data set fragment with no command announcing one";
      }
      if (pdv.isLast) this.#expectData = false;
      return undefined;
    }
    if (this.#expectData) return "a command fragment while a data set is expected";
    this.#commandBytes += pdv.value.length;
    if (this.#commandBytes > MAX_COMMAND_BYTES) return `a command set longer than ${MAX_COMMAND_BYTES} bytes`;
    this.#command.push(pdv.value);
    if (!pdv.isLast) return undefined;
    const bytes = this.#command.length === 1 ? this.#command[0] : concat(this.#command, this.#commandBytes);
    this.#command = [];
    this.#commandBytes = 0;
    const check = checkCommandSet(bytes);
    if (!check.ok) return check.problem;
    this.#expectData = check.hasDataset;
    return undefined;
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}
