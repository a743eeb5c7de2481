/** Input schemas that procedures of several domains share. */
import { z } from "zod";
import { fromBase64 } from "@conduit/shared/base64";
import { DEID_OPTIONS, pseudonymProblem } from "@conduit/shared/deid";
import { transferTrial } from "@conduit/shared/tunnel";

/** A site or node name, as the tunnel carries it. */
export const name = z.string().min(1).max(64).regex(
  /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
  "not a site or node name (letters, digits, . _ -, at most 64)",
);

export const uid = z.string().max(64, "a UID has at most 64 characters").regex(
  /^[0-9]+(\.[0-9]+)*$/,
  "not a DICOM UID (digits separated by dots)",
);

/** A site, and one of its nodes or (absent) its archive. */
export const endpoint = z.object({ site: name, node: name.optional() }).strict();

/**
 * De-identification at the source (PS3.15 Basic Profile and options, a custom profile, Clinical Trial
 * attributes); the service checks the rest.
 */
export const deid = z.object({
  profile: z.literal("basic", { errorMap: () => ({ message: 'the profile is "basic" (PS3.15 E.1)' }) }),
  options: z.array(z.enum(DEID_OPTIONS)).max(DEID_OPTIONS.length).optional(),
  allowBurnedIn: z.boolean().optional(),
  /** Original Patient ID -> pseudonym. */
  pseudonyms: z.record(
    z.string().min(1).max(64),
    z.string().refine((p) => pseudonymProblem(p) === undefined, {
      message: "a pseudonym is 1 to 64 printable ASCII characters without a backslash",
    }),
  ).optional(),
  /** A custom profile: the object a profile file holds (checked entry by entry by the service). */
  custom: z.record(z.string(), z.unknown()).optional(),
  /** Clinical Trial attributes set on every object. */
  clinicalTrial: transferTrial.optional(),
}).strict();

/**
 * A job's or batch's id (16 hex digits as the hub makes them): at most 64 characters, so that a script's
 * mistake (a whole file as the id) is refused by name rather than echoed back in `no transfer ...`.
 */
export const jobId = z.string().min(1).max(64, "an id has at most 64 characters");

/** A job or batch named by its id. */
export const byId = z.object({ id: jobId }).strict();

/**
 * How many entries a page skips (`offset`). Capped, so a huge number (1e20, past what the database's
 * integers hold) is refused here by name rather than failing in the database.
 */
export const pageOffset = z.number().int().min(0).max(1_000_000_000);

/** A file sent whole as base64 text (at most 50 MB of text), given to the procedure as its bytes. */
export const fileBase64 = z.string().max(50_000_000).transform((text, ctx) => {
  try {
    return fromBase64(text);
  } catch {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: "not base64 text (A-Z, a-z, 0-9, + and /, = at the end)",
    });
    return z.NEVER;
  }
});
