/** Searches: the studies of one site or of every site in reach (federated), the series of a study. */
import { z } from "zod";
import { askEverySite, federation, type LeftOut } from "../dicomweb/federation.ts";
import { parseQido, QidoParameterError } from "../dicomweb/qido/parse.ts";
import { type ApiDeps, procedure, router } from "./trpc.ts";
import { name, uid } from "./inputs.ts";

/** What QIDO-RS takes beside attributes; in `filters` they would match nothing. */
const NOT_ATTRIBUTES = new Set(["limit", "offset", "includefield", "fuzzymatching", "accept"]);

/**
 * The matching keys of `filters` (`{ PatientName: "DOE*" }`, a keyword or a tag), read as QIDO-RS reads its
 * parameters: an unknown keyword, a date or number that is not one, is refused by name rather than ignored
 * (a typo would otherwise match every study).
 */
const studyFilters = z.record(z.string(), z.string()).default({}).transform((filters, ctx) => {
  try {
    for (const name of Object.keys(filters)) {
      if (NOT_ATTRIBUTES.has(name)) throw new QidoParameterError(`${name} is not an attribute to match`);
    }
    const parsed = parseQido(new URLSearchParams(Object.entries(filters)), "STUDY", {});
    if (parsed.unknownTags.length) {
      throw new QidoParameterError(
        `${parsed.unknownTags.join(", ")}: a tag the dictionary does not name cannot be matched`,
      );
    }
    return parsed.query.keys;
  } catch (err) {
    if (!(err instanceof QidoParameterError)) throw err;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: err.message });
    return z.NEVER;
  }
});

export function queryRouter(d: Pick<ApiDeps, "provider" | "federatedSiteMs">) {
  return router({
    /** The series of one study at a site (its archive or a node). */
    series: procedure.input(
      z.object({ site: name, node: name.optional(), studyInstanceUid: uid }).strict(),
    )
      .query(async ({ input }) => {
        const backend = await d.provider.backend(input.site, input.node);
        const keys = {
          StudyInstanceUID: input.studyInstanceUid,
          SeriesInstanceUID: "",
          Modality: "",
          SeriesNumber: "",
          SeriesDescription: "",
          NumberOfSeriesRelatedInstances: "",
        };
        const out: Record<string, unknown>[] = [];
        for await (const ds of backend.qido.search({ level: "SERIES", keys }, AbortSignal.timeout(60_000))) {
          out.push(ds);
        }
        return out;
      }),
    /**
     * Study-level search on one site (its archive or a node), or on every site the principal may
     * reach; `leftOut` names each site a federated search did not ask or that did not answer.
     */
    studies: procedure.input(
      z.object({
        site: name.optional(),
        node: name.optional(),
        filters: studyFilters,
        limit: z.number().int().positive().max(10_000).optional(),
      }).strict(),
    ).query(async ({ ctx, input }) => {
      const { sites, leftOut } = input.site
        ? { sites: [input.site], leftOut: [] as LeftOut[] }
        : await federation(d.provider, ctx.principal);
      const keys: Record<string, string> = {
        StudyInstanceUID: "",
        PatientID: "",
        PatientName: "",
        PatientBirthDate: "",
        PatientSex: "",
        StudyDate: "",
        StudyTime: "",
        AccessionNumber: "",
        ReferringPhysicianName: "",
        ModalitiesInStudy: "",
        StudyDescription: "",
        NumberOfStudyRelatedSeries: "",
        NumberOfStudyRelatedInstances: "",
        ...input.filters,
      };
      const query = { level: "STUDY" as const, keys, limit: input.limit };
      const search = async (site: string, signal: AbortSignal) => {
        const backend = await d.provider.backend(site, input.node);
        const found: { site: string; study: Record<string, unknown> }[] = [];
        for await (const ds of backend.qido.search(query, signal)) found.push({ site, study: ds });
        return found;
      };
      const studies = input.site ? await search(input.site, AbortSignal.timeout(60_000)) : [];
      // Every site at once (a few at a time), each within its own time: a slow site holds no other back.
      const answers = input.site ? [] : await askEverySite(sites, search, { timeoutMs: d.federatedSiteMs });
      for (const answer of answers) {
        if ("value" in answer) studies.push(...answer.value);
        else leftOut.push(answer);
      }
      // `limit` caps the answer, as QIDO-RS over every site does: sites in order, each asked for at most as many.
      return { studies: input.limit === undefined ? studies : studies.slice(0, input.limit), leftOut };
    }),
  });
}
