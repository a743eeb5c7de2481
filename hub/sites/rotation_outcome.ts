/** What a credential rotation (rotation.ts) answers, asked here or through another hub. */

/** How a rotation ended: the agent saved the new credential, its answer did not come, or nothing changed. */
export type RotationOutcome = "confirmed" | "unconfirmed" | "refused";

export interface RotationResult {
  site: string;
  outcome: RotationOutcome;
  message: string;
  /** When the agent confirmed (confirmed). */
  rotatedAt?: string;
  /** Until when the replaced credential is still accepted, at most (confirmed). */
  oldCredentialUntil?: string;
}

/** How long the agent has to save and answer, unless RotationOptions.answerMs says otherwise. */
export const DEFAULT_ANSWER_MS = 30_000;

export const iso = (ms: number) => new Date(ms).toISOString();

export function refused(site: string, message: string): RotationResult {
  return { site, outcome: "refused", message };
}
