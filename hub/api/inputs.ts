/** Input schemas that procedures of several domains share. */
import { z } from "zod";
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

/** A job or batch named by its id. */
export const byId = z.object({ id: z.string().min(1) }).strict();
