/**
 * How an SCU association fails, in a module of its own: callers test for these without loading the
 * association code and the DICOM library (scu.ts loads them, and is itself loaded on first use).
 */

/** The association is gone, refused or timed out. */
export class AssociationError extends Error {
  override name = "AssociationError";
}

/** The peer accepted the association but none of the presentation contexts we proposed. */
export class NoContextAcceptedError extends AssociationError {
  override name = "NoContextAcceptedError";
}
