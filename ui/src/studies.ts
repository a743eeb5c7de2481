/**
 * Studies as the console shows them: read from the hub's study-level answers (DICOM JSON), looked up
 * by UID to name the studies of a transfer, and the URLs of a study's page, viewer and download.
 */
import { api } from "./api.ts";
import type { PersonName } from "./format.ts";
import { path } from "./router.tsx";

export interface Study {
  site: string;
  uid: string;
  patientId: string;
  patientName: PersonName | undefined;
  birthDate: string;
  sex: string;
  date: string;
  time: string;
  accession: string;
  referring: PersonName | undefined;
  modalities: string;
  description: string;
  series: string;
  instances: string;
}

type Dataset = Record<string, unknown>;

/** The values of an attribute (by tag) from a DICOM JSON data set. */
export function values(ds: Dataset, tag: string): unknown[] {
  return ((ds[tag] as { Value?: unknown[] } | undefined)?.Value) ?? [];
}

/** An attribute's values as text, joined with ", " (names as their alphabetic group). */
export function text(ds: Dataset, tag: string): string {
  return values(ds, tag).map((x) =>
    typeof x === "object" && x ? (x as { Alphabetic?: string }).Alphabetic ?? "" : String(x)
  ).join(", ");
}

/** A study from one entry of `query.studies`. */
export function studyOf(site: string, ds: Dataset): Study {
  return {
    site,
    uid: text(ds, "0020000D"),
    patientId: text(ds, "00100020"),
    patientName: values(ds, "00100010")[0] as PersonName | undefined,
    birthDate: text(ds, "00100030"),
    sex: text(ds, "00100040"),
    date: text(ds, "00080020"),
    time: text(ds, "00080030"),
    accession: text(ds, "00080050"),
    referring: values(ds, "00080090")[0] as PersonName | undefined,
    modalities: values(ds, "00080061").map(String).join(", "),
    description: text(ds, "00081030"),
    series: text(ds, "00201206"),
    instances: text(ds, "00201208"),
  };
}

/**
 * Studies looked up by UID; `asked` the UIDs the site was asked about (the first 500); `unreachable` why
 * the site could not be asked (offline...), if so.
 */
export type StudiesByUid = Map<string, Study> & { asked: Set<string>; unreachable?: string };

/**
 * The studies of `uids` at a site (or one of its nodes), by UID (one UID-list query per 50). Studies the site no longer has,
 * or cannot be asked about now, are absent: the caller shows their UID, and `unreachable` tells the two
 * apart.
 */
export async function lookupStudies(site: string, uids: string[], node?: string): Promise<StudiesByUid> {
  const unique = [...new Set(uids)].slice(0, 500);
  const out: StudiesByUid = Object.assign(new Map<string, Study>(), { asked: new Set(unique) });
  for (let i = 0; i < unique.length; i += 50) {
    const batch = unique.slice(i, i + 50);
    try {
      const { studies } = await api.query.studies.query({
        site,
        ...(node ? { node } : {}),
        filters: { StudyInstanceUID: batch.join("\\") },
      });
      for (const s of studies) {
        const study = studyOf(site, s.study);
        out.set(study.uid, study);
      }
    } catch (err) {
      out.unreachable = (err as Error).message; // the site is offline or refuses: names stay UIDs
      return out;
    }
  }
  return out;
}

/** The DICOMweb root of a site (or one of its nodes) on the hub. */
export function dicomwebRoot(site: string, node?: string): string {
  return `/dicomweb${path("sites", site)}${node ? path("nodes", node) : ""}`;
}

/** The console's page of a study. */
export function studyPage(site: string, uid: string, node?: string): string {
  return path("studies", site, uid) + (node ? `?node=${encodeURIComponent(node)}` : "");
}

/** The viewer (OHIF, served by the hub) showing a study of a site. */
export function viewerUrl(site: string, uid: string): string {
  return `/viewer/viewer/${encodeURIComponent(site)}?StudyInstanceUIDs=${encodeURIComponent(uid)}`;
}

/** A zip of the study's Part 10 files, streamed from the site through the hub. */
export function downloadUrl(site: string, uid: string, node?: string): string {
  return `${dicomwebRoot(site, node)}${path("studies", uid)}?accept=${encodeURIComponent("application/zip")}`;
}

/** A file name for a study's download: patient, date and description, letters and digits only. */
export function downloadName(s: Pick<Study, "patientName" | "date" | "description" | "uid">): string {
  const name = typeof s.patientName === "string" ? s.patientName : s.patientName?.Alphabetic ?? "";
  const words = [name.replaceAll("^", " "), s.date, s.description].join(" ")
    .normalize("NFKD").replace(/[^A-Za-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80);
  return `${words || s.uid}.zip`;
}
