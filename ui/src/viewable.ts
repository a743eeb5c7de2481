/**
 * What the console offers to show of a study: which series have no image to make a thumbnail of, and when
 * the viewer would have nothing to draw.
 */

/**
 * Modalities whose series hold no image to make a thumbnail of: no request for one (each was a 406 in the
 * browser's console, QA 2026-12-07), a placeholder saying so.
 */
export const NO_IMAGE = new Set([
  "SR",
  "KO",
  "PR",
  "RTSTRUCT",
  "RTPLAN",
  "RTRECORD",
  "ECG",
  "HD",
  "AU",
  "DOC",
  "REG",
  "FID",
  "PLAN",
]);

/** Series of these alone leave the viewer nothing to show: they point at images elsewhere. */
const POINTERS_ONLY = new Set(["RTSTRUCT", "SEG", "RTPLAN", "KO", "PR"]);

/** Why the viewer has nothing to show of a study whose series are all `modalities`, or undefined. */
export function viewerHasNothing(modalities: string[]): string | undefined {
  if (modalities.length === 0 || !modalities.every((m) => POINTERS_ONLY.has(m))) return undefined;
  return `this study holds only ${[...new Set(modalities)].join(", ")}, which point at images of another ` +
    "study: the viewer would have nothing to draw them over (download it, or open the study of its images)";
}
