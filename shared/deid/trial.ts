/**
 * Clinical Trial attributes a de-identification sets on every object it writes (PS3.3 C.7.1.3 Clinical
 * Trial Subject, C.7.2.3 Clinical Trial Study, C.7.3.2 Clinical Trial Series), as data: the agent's
 * engine writes them (`agent/deid/additions.ts`), the hub checks a transfer's `deid.clinicalTrial` with
 * `trialProblem` (the tunnel's schema, `transferTrial` in shared/tunnel/messages.ts, checks the same
 * lengths), and the console lists them, from this one table.
 */
/** The attributes, by their key in the API and in `agent deid`'s request. */
export const TRIAL_ATTRIBUTES = [
  { key: "sponsorName", tag: 0x00120010, vr: "LO", title: "Clinical Trial Sponsor Name" },
  { key: "protocolId", tag: 0x00120020, vr: "LO", title: "Clinical Trial Protocol ID" },
  { key: "protocolName", tag: 0x00120021, vr: "LO", title: "Clinical Trial Protocol Name" },
  { key: "siteId", tag: 0x00120030, vr: "LO", title: "Clinical Trial Site ID" },
  { key: "siteName", tag: 0x00120031, vr: "LO", title: "Clinical Trial Site Name" },
  { key: "subjectId", tag: 0x00120040, vr: "LO", title: "Clinical Trial Subject ID" },
  { key: "timePointId", tag: 0x00120050, vr: "LO", title: "Clinical Trial Time Point ID" },
  { key: "timePointDescription", tag: 0x00120051, vr: "ST", title: "Clinical Trial Time Point Description" },
  {
    key: "coordinatingCenterName",
    tag: 0x00120060,
    vr: "LO",
    title: "Clinical Trial Coordinating Center Name",
  },
  { key: "seriesId", tag: 0x00120071, vr: "LO", title: "Clinical Trial Series ID" },
  { key: "seriesDescription", tag: 0x00120072, vr: "LO", title: "Clinical Trial Series Description" },
] as const;

export type TrialKey = (typeof TRIAL_ATTRIBUTES)[number]["key"];

/**
 * Clinical Trial attributes set from the caller. Sponsor Name, Protocol ID and Site ID are Type 1 in the
 * Clinical Trial Subject module, so they go together; Subject ID is the patient's pseudonymous Patient ID
 * when not given (a transfer never gives it: it carries many patients).
 */
export interface TrialAttributes {
  sponsorName: string;
  protocolId: string;
  protocolName?: string;
  siteId: string;
  siteName?: string;
  /** Default: the patient's pseudonymous ID. */
  subjectId?: string;
  timePointId?: string;
  timePointDescription?: string;
  coordinatingCenterName?: string;
  seriesId?: string;
  seriesDescription?: string;
}

/** The longest value of each VR used here (PS3.5 6.2). */
const MAX: Record<string, number> = { LO: 64, ST: 1024 };

/** A sentence saying why `trial` cannot be set on objects, or undefined when it can. */
export function trialProblem(
  trial: Partial<Record<string, unknown>>,
  /**
   * How a message names an attribute (`clinicalTrial: sponsorName` by default; the deid command names the
   * flag that gave it, `--trial-sponsor`, `--trial timePointId`) and the whole (`clinicalTrial`).
   */
  nameOf: (key?: string) => string = (key) => key ? `clinicalTrial: ${key}` : "clinicalTrial",
): string | undefined {
  for (const k of Object.keys(trial)) {
    if (!TRIAL_ATTRIBUTES.some((a) => a.key === k)) {
      return `${nameOf()}: unknown attribute ${JSON.stringify(k)} (known: ${
        TRIAL_ATTRIBUTES.map((a) => a.key).join(", ")
      })`;
    }
  }
  for (const k of ["sponsorName", "protocolId", "siteId"]) {
    if (trial[k] === undefined) {
      return `${nameOf(k)} is required (with sponsorName, protocolId, siteId)`;
    }
  }
  for (const a of TRIAL_ATTRIBUTES) {
    const v = trial[a.key];
    if (v === undefined) continue;
    if (typeof v !== "string" || !v) return `${nameOf(a.key)} must be a non-empty string`;
    if (v.length > MAX[a.vr]) return `${nameOf(a.key)} is longer than ${a.vr} allows (${MAX[a.vr]})`;
    if (!/^[\x20-\x5b\x5d-\x7e]*$/.test(v)) {
      return `${nameOf(a.key)} must be printable ASCII without a backslash`;
    }
  }
  return undefined;
}
