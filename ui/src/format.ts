/**
 * DICOM values as a person reads them: names "Family, Given" (with the ideographic and phonetic
 * groups when present), dates and times in the reader's locale, ages and sexes in words, job and
 * object states in words, and a study named by patient, date and description. Values that do not
 * parse are shown as they are, never dropped.
 */

/** A Person Name as DICOM JSON gives it, or as text (`A^B=C^D=E^F`). */
export type PersonName = string | { Alphabetic?: string; Ideographic?: string; Phonetic?: string };

function group(text: string, western: boolean): string {
  const [family = "", given = "", middle = "", prefix = "", suffix = ""] = text.split("^").map((s) =>
    s.trim()
  );
  if (!western) return [prefix, family, given, middle, suffix].filter(Boolean).join(" ");
  const rest = [prefix, given, middle].filter(Boolean).join(" ");
  const name = family && rest ? `${family}, ${rest}` : family || rest;
  return suffix ? `${name}, ${suffix}` : name;
}

/**
 * "Family, Given Middle" from every component (prefix before the given name, suffix last), followed
 * by the ideographic and phonetic groups in parentheses when the name has them.
 */
export function personName(value: PersonName | undefined | null): string {
  if (!value) return "";
  const groups = typeof value === "string"
    ? value.split("=")
    : [value.Alphabetic ?? "", value.Ideographic ?? "", value.Phonetic ?? ""];
  const [alphabetic = "", ideographic = "", phonetic = ""] = groups.map((g) => g ?? "");
  const main = group(alphabetic, true);
  const others = [group(ideographic, false), group(phonetic, false)].filter(Boolean);
  if (!main) return others.length > 1 ? `${others[0]} (${others[1]})` : others[0] ?? "";
  return others.length ? `${main} (${others.join(", ")})` : main;
}

/** The year, month and day of a DA value (YYYYMMDD, or the old YYYY.MM.DD), or undefined. */
export function parseDate(value: string | undefined): { y: number; m: number; d: number } | undefined {
  const m = /^\s*(\d{4})\.?(\d{2})\.?(\d{2})\s*$/.exec(value ?? "");
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) return undefined;
  return { y, m: mo, d };
}

/** The hours, minutes and seconds of a TM value (HHMMSS.FFFFFF, HHMM, HH, or the old HH:MM:SS). */
export function parseTime(value: string | undefined): { h: number; m: number; s: number } | undefined {
  const m = /^\s*(\d{2}):?(\d{2})?:?(\d{2})?(?:\.\d{1,6})?\s*$/.exec(value ?? "");
  if (!m) return undefined;
  const [h, mi, s] = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
  if (h > 23 || mi > 59 || s > 60) return undefined;
  return { h, m: mi, s };
}

/** A DA value in the reader's locale ("3 Feb 2020", "Feb 3, 2020"...); unparseable values as they are. */
export function dicomDate(value: string | undefined, locale?: string): string {
  const d = parseDate(value);
  if (!d) return (value ?? "").trim();
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" })
    .format(Date.UTC(d.y, d.m - 1, d.d));
}

/** A TM value in the reader's locale (hours and minutes); unparseable values as they are. */
export function dicomTime(value: string | undefined, locale?: string): string {
  const t = parseTime(value);
  if (!t) return (value ?? "").trim();
  return new Intl.DateTimeFormat(locale, { timeStyle: "short", timeZone: "UTC" })
    .format(Date.UTC(2000, 0, 1, t.h, t.m, t.s));
}

/** A date and a time (DA and TM) together, as the reader writes them. */
export function dicomDateTime(date: string | undefined, time: string | undefined, locale?: string): string {
  const d = parseDate(date);
  const t = parseTime(time);
  if (d && t) {
    return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" })
      .format(Date.UTC(d.y, d.m - 1, d.d, t.h, t.m, t.s));
  }
  return [dicomDate(date, locale), time ? dicomTime(time, locale) : ""].filter(Boolean).join(" ");
}

/** An ISO 8601 instant (the hub's timestamps) in the reader's locale and time zone. */
export function instant(iso: string | number | undefined | null, locale?: string): string {
  if (iso === undefined || iso === null || iso === "") return "";
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return String(iso);
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(t);
}

/**
 * The time zone dates and times are shown in, said once on every screen: "Times are in your browser's time
 * zone, Europe/Paris (GMT+1)." (`zone` and `at` for tests; the browser's own and now by default).
 */
export function timeZoneNote(locale?: string, zone?: string, at: Date = new Date()): string {
  const options = zone ? { timeZone: zone } : {};
  const name = zone ?? new Intl.DateTimeFormat(locale).resolvedOptions().timeZone;
  const offset = new Intl.DateTimeFormat(locale, { ...options, timeZoneName: "shortOffset" })
    .formatToParts(at).find((p) => p.type === "timeZoneName")?.value;
  return `Times are in your browser's time zone, ${name}${offset ? ` (${offset})` : ""}.`;
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;

/** An AS value (`045Y`, `003M`, `002W`, `010D`) in words: "45 years". */
export function age(value: string | undefined): string {
  const m = /^\s*(\d{3})([DWMY])\s*$/.exec(value ?? "");
  if (!m) return (value ?? "").trim();
  const unit = { D: "day", W: "week", M: "month", Y: "year" }[m[2] as "D" | "W" | "M" | "Y"];
  return plural(Number(m[1]), unit);
}

/** The age on `at` of someone born on `birth` (both DA), in words; "" when either is missing. */
export function ageAt(birth: string | undefined, at: string | undefined): string {
  const b = parseDate(birth);
  const a = parseDate(at);
  if (!b || !a) return "";
  const months = (a.y - b.y) * 12 + (a.m - b.m) - (a.d < b.d ? 1 : 0);
  if (months < 0) return "";
  if (months >= 24) return plural(Math.floor(months / 12), "year");
  if (months >= 1) return plural(months, "month");
  const days = Math.round((Date.UTC(a.y, a.m - 1, a.d) - Date.UTC(b.y, b.m - 1, b.d)) / 86_400_000);
  return plural(days, "day");
}

/** A CS Patient's Sex in words ("" when absent). */
export function sex(value: string | undefined): string {
  const v = (value ?? "").trim().toUpperCase();
  return ({ M: "Male", F: "Female", O: "Other" } as Record<string, string>)[v] ?? v;
}

const STATUS: Record<string, string> = {
  // Transfer jobs and their studies
  pending: "Waiting to start",
  queued: "Queued at the source",
  in_progress: "In progress",
  success: "Done",
  warning: "Done with problems",
  failure: "Failed",
  canceled: "Canceled",
  canceling: "Canceling: the source has yet to settle it",
  // Sites
  online: "Online",
  offline: "Offline",
  revoked: "Revoked",
  // Objects in a site's queue
  in_flight: "On its way",
  committing: "Waiting for commitment",
  failed: "Failed, will retry",
  done: "Delivered",
  dead: "Given up (dead letter)",
  // Batches
  running: "Running",
};

/** A job, task, site or object state in words. */
export function status(value: string, kind: "job" | "site" | "object" = "job"): string {
  if (kind === "site" && value === "pending") return "Waiting for its agent to enroll";
  if (kind === "object" && value === "pending") return "Waiting";
  return STATUS[value] ?? value.replaceAll("_", " ");
}

const AUDIT: Record<string, string> = {
  login: "Logged in",
  logout: "Logged out",
  "login.failed": "Failed to log in as",
  "login.locked": "Locked out after failed logins:",
  "user.add": "Added the user",
  "user.disable": "Disabled the user",
  "user.enable": "Enabled the user",
  "user.role": "Changed the role of the user",
  "user.password": "Reset the password of the user",
  "user.password.change": "Changed their own password:",
  "user.password.change.failed": "Gave a wrong current password to change the password of",
  "token.create": "Created the API token",
  "token.revoke": "Revoked the API token",
  "site.add": "Added the site",
  "site.revoke": "Revoked the site",
  "site.rotate": "Rotated the credential of the site",
  "site.uplink": "Set the uplink cap of the site",
  "site.downlink": "Set the downlink cap of the site",
  "site.conflict.resolve": "Resolved a conflict of the site",
  "study.erase": "Erased a study at the site",
  "series.erase": "Erased a series at the site",
  "instance.erase": "Erased an instance at the site",
  "transfer.create": "Started the transfer",
  "transfer.schedule": "Rescheduled the transfer",
  "transfer.cancel": "Cancelled the transfer",
  "transfer.retry": "Retried the transfer",
  "batch.cancel": "Cancelled the batch",
  "database.restore": "Restored the hub's database from a backup",
  "audit.export": "Exported the audit log",
};

/** Kinds of audit entry, as the Admin screen's filter offers them: a prefix (`site.`) or one action. */
const AUDIT_GROUPS: [string, string][] = [
  ["login*", "Logins, failed logins and lockouts"],
  ["user.", "Any change to a user"],
  ["token.", "Any change to an API token"],
  ["site.", "Any change to a site"],
  ["transfer.", "Any change to a transfer"],
  ["batch.", "Any change to a batch"],
  ["database.", "The hub's database restored"],
  ["audit.", "Exports of the audit log"],
];

/** The audit filter's choices of what: the kinds of entry (prefixes), then each action, in words. */
export function auditActionChoices(): { groups: [string, string][]; actions: [string, string][] } {
  return { groups: AUDIT_GROUPS, actions: Object.entries(AUDIT) };
}

/** An audit log's action in words ("transfer.create" is "Started the transfer"); unknown ones as they are. */
export function auditAction(action: string): string {
  return AUDIT[action] ?? action;
}

/**
 * What an export of the audit log (`audit.export`) gave, from its detail: "105 entries as CSV, filtered by
 * actor user:bob, action login"; undefined for any other entry or a detail that is not one.
 */
export function auditExport(detail: unknown): string | undefined {
  if (typeof detail !== "object" || detail === null) return undefined;
  const d = detail as { format?: unknown; entries?: unknown; filter?: unknown; truncated?: unknown };
  if (typeof d.entries !== "number" || typeof d.format !== "string") return undefined;
  const form = d.format === "csv" ? "CSV" : d.format === "json" ? "JSON" : "a table";
  const filter = typeof d.filter === "object" && d.filter !== null
    ? Object.entries(d.filter).map(([k, v]) => `${k} ${v}`)
    : [];
  return `${d.entries} ${d.entries === 1 ? "entry" : "entries"}${
    d.truncated === true ? " (of more)" : ""
  } as ${form}${filter.length ? `, filtered by ${filter.join(", ")}` : ""}`;
}

/** How an audit entry's detail names its fields, where its own name would not read (the rest: as they are). */
const DETAIL_WORDS: Record<string, string> = {
  address: "from",
  uplinkMbps: "uplink cap",
  downlinkMbps: "downlink cap",
  bandwidthMbps: "cap",
  oldCredentialUntil: "old credential accepted until",
  deid: "de-identified",
  request: "for entry",
  unknown: "outcome unknown (the answer was lost):",
  alreadyOver: "already over",
};

/** At most this many characters of an entry's detail show in the table (the CSV has all of it). */
const DETAIL_MAX = 200;

/**
 * An audit entry's detail in a line ("from operator, to admin"; "uplink cap 12.5 Mbit/s"; "from 10.0.0.7"),
 * cut at 200 characters; an export of the log as auditExport says it; "" for none.
 */
export function auditDetail(action: string, detail: unknown): string {
  if (detail === null || detail === undefined) return "";
  if (action === "audit.export") {
    const words = auditExport(detail);
    if (words) return words;
  }
  const value = (key: string, v: unknown): string => {
    if (v === null) return key === "sites" ? "all" : "none";
    if (typeof v === "number") return /Mbps$/.test(key) ? `${v} Mbit/s` : String(v);
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "string") return /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(v) ? instant(v) : v;
    if (Array.isArray(v)) return v.length ? v.map((x) => value("", x)).join(" ") : "none";
    if (key === "window" && typeof v === "object") {
      const ws = (Array.isArray(v) ? v : [v]) as Record<string, unknown>[];
      if (ws.every((w) => typeof w?.start === "string" && typeof w?.end === "string")) {
        return windowText(ws as unknown as WindowSpec[]);
      }
    }
    if (typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (typeof o.site === "string" && Object.keys(o).every((k) => k === "site" || k === "node")) {
        return typeof o.node === "string" ? `${o.site} / ${o.node}` : o.site;
      }
    }
    return JSON.stringify(v);
  };
  const text = typeof detail === "object" && !Array.isArray(detail)
    ? Object.entries(detail as Record<string, unknown>).map(([k, v]) =>
      // A request to a site audited before it was sent: its outcome is a later entry naming its id.
      k === "requested" && v === true
        ? "asked of the site (the outcome follows)"
        : `${DETAIL_WORDS[k] ?? k} ${value(k, v)}`
    )
      .join(", ")
    : value("", detail);
  return text.length > DETAIL_MAX ? `${text.slice(0, DETAIL_MAX - 1)}…` : text;
}

/** Who did it: a user by name, an API token as such, the hub's admin CLI, or someone not logged in. */
export function auditActor(actor: string): string {
  if (actor === "cli") return "admin CLI";
  if (actor === "hub") return "the hub (scheduled)";
  if (actor === "anonymous") return "not logged in";
  const [kind, name] = [actor.slice(0, actor.indexOf(":")), actor.slice(actor.indexOf(":") + 1)];
  if (kind === "user") return name;
  if (kind === "token") return `API token ${name}`;
  return actor;
}

/** A study named for a person: "Kowalski, Lena · 3 Feb 2020 · CT chest". */
export function studyTitle(
  s: { patientName?: PersonName; date?: string; description?: string },
  locale?: string,
): string {
  return [personName(s.patientName) || "Unnamed patient", dicomDate(s.date, locale), s.description?.trim()]
    .filter(Boolean).join(" · ");
}

/**
 * Which attribute a "Patient ID or name" search value matches: a value with a digit is an ID (`12345`,
 * `PAT0001`, `MRN-7*`), as names have none; anything else is a name (`KOWALSKI*`, `Kowalski^Lena`).
 */
export function patientKey(value: string): "PatientID" | "PatientName" {
  return /\d/.test(value) ? "PatientID" : "PatientName";
}

/**
 * A name typed in the search as the Patient's Name to match, case-insensitively at the sites: the start
 * of the name, as a user of a PACS expects (`kowalski` finds `KOWALSKI^LENA`), and the console's own way of
 * writing it (`Kowalski, Lena` finds `KOWALSKI^LENA^MARIA`). A value with `^`, `*` or `?` is DICOM already
 * and goes as typed.
 */
export function nameQuery(value: string): string {
  const v = value.trim();
  if (/[\^*?]/.test(v)) return v;
  // "Family, Given Middle (ideographic, phonetic)" as personName() writes it: the alphabetic group.
  const [family, given = ""] = v.replace(/\s*\(.*\)\s*$/, "").split(/\s*,\s*/, 2);
  const words = (text: string) => text.split(/\s+/).filter(Boolean).join("*");
  return given ? `${words(family)}^${words(given)}*` : `${words(family)}*`;
}

/** A number of things, in the singular for one: `count(1, "study", "studies")` is "1 study". */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * A site's uplink and downlink caps (Mbit/s, null: none) in a few words for the Sites list: "none" when it
 * has neither, else both named ("up 4 Mbit/s, down none").
 */
export function caps(uplinkMbps: number | null, downlinkMbps: number | null): string {
  if (uplinkMbps === null && downlinkMbps === null) return "none";
  const cap = (mbps: number | null) => mbps === null ? "none" : `${mbps} Mbit/s`;
  return `up ${cap(uplinkMbps)}, down ${cap(downlinkMbps)}`;
}

/** A byte count in kB, MB or GB. */
export function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}

/** A transfer's time window as the API gives it: one, or several. */
export interface WindowSpec {
  start: string;
  end: string;
  timeZone?: string;
  days?: string[];
}

const DAY_NAMES: Record<string, string> = {
  mon: "Mon",
  tue: "Tue",
  wed: "Wed",
  thu: "Thu",
  fri: "Fri",
  sat: "Sat",
  sun: "Sun",
};

/** "Mon, Wed" or, for three days or more in a row, "Mon–Fri" (Monday first; unknown names as given, last). */
function daysText(days: readonly string[]): string {
  const order = Object.keys(DAY_NAMES);
  const known = order.filter((d) => days.includes(d));
  const runs: string[][] = [];
  for (const d of known) {
    const run = runs.at(-1);
    if (run && order.indexOf(run.at(-1)!) === order.indexOf(d) - 1) run.push(d);
    else runs.push([d]);
  }
  return [
    ...runs.flatMap((r) =>
      r.length >= 3 ? [`${DAY_NAMES[r[0]]}–${DAY_NAMES[r.at(-1)!]}`] : r.map((d) => DAY_NAMES[d])
    ),
    ...days.filter((d) => !order.includes(d)),
  ].join(", ");
}

/**
 * "19:00–07:00 Mon–Fri Europe/Paris; all day Sat, Sun": each window, its days (every day: none said) and
 * zone; several windows in one zone name it once, at the end: "19:00–07:00 Mon–Fri; all day Sat, Sun
 * (Europe/Paris)".
 */
export function windowText(w: WindowSpec | WindowSpec[]): string {
  const list = Array.isArray(w) ? w : [w];
  const zone = list.length > 1 && list.every((one) => one.timeZone && one.timeZone === list[0].timeZone)
    ? list[0].timeZone
    : undefined;
  const text = list.map((one) =>
    [
      one.start === one.end ? "all day" : `${one.start}–${one.end}`,
      one.days?.length ? daysText(one.days) : undefined,
      zone ? undefined : one.timeZone,
    ].filter(Boolean).join(" ")
  ).join("; ");
  return zone ? `${text} (${zone})` : text;
}

/** What a section says instead of its table: that it could not be read (null), that it is empty, or nothing yet. */
export function readOrEmpty(value: unknown, failed: string, empty: string): string {
  return value === null ? failed : value ? empty : "";
}
