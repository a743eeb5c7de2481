/**
 * What the agent does with a configured node as an SCU: echo, find (streamed), retrieve a study,
 * series or instance into our archive (C-GET, or C-MOVE to us with the arrivals counted against
 * what the node said it has), and store archived objects into it. The wire work is ScuAssociation's;
 * this file holds the job logic.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import type { AgentConfig, NodeConfig } from "../config/schema.ts";
import type { Identifier, QueryModel, StoreHandler } from "../dimse/handlers.ts";
import { isWarning, Status } from "../dimse/handlers.ts";
import type { ScuAssociation } from "../dimse/scu.ts";
import { NoContextAcceptedError } from "../dimse/scu_errors.ts";
import { storageGroups } from "../dimse/contexts.ts";
import { echoNode, scuTo } from "./connect.ts";
import { loadPart } from "../lazy_part.ts";
import type { GetStep, ListedInstance } from "./get_plan.ts";

/** The C-GET planner, loaded with the first node retrieve (not with every agent: issue 16, idle memory). */
const getPlan = () => loadPart("nodes/get_plan");
/** Its reads of the index (drizzle `sql`), loaded with the first retrieve or store (issue 16). */
const indexReads = () => loadPart("nodes/index_reads");
import type { Archive } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";

/** The node is not in the configuration. */
export class UnknownNodeError extends Error {
  override name = "UnknownNodeError";
}

/**
 * A retrieve broken off before the node's final response (its association dropped or refused, the node
 * gone): the error's message says so with the counts, `report` what the node listed and what of it is
 * archived now (`ok` false; no DIMSE status or sub-operation counts: the node sent none). What arrived
 * stays archived.
 */
export class RetrieveInterruptedError extends Error {
  override name = "RetrieveInterruptedError";
  constructor(
    message: string,
    readonly report: Omit<RetrieveReport, "status" | "completed" | "failed" | "warning">,
  ) {
    super(message);
  }
}

export type RetrieveLevel = "STUDY" | "SERIES" | "IMAGE";

/** A retrieve's transfer: the node's counts and final status, and the storage contexts a C-GET proposed. */
interface Fetched {
  result: { status: number; completed: number; failed: number; warning: number };
  contexts?: number;
}

export interface RetrieveRequest {
  level: RetrieveLevel;
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
}

export interface RetrieveReport {
  method: "get" | "move";
  /** DIMSE status of the final C-GET/C-MOVE response. */
  status: number;
  /** Instances the node listed for the request (C-FIND at IMAGE level) before retrieving. */
  expected: number;
  /** Of those, how many are now in our archive. */
  arrived: number;
  /** Expected instances that did not arrive (UIDs). */
  missing: string[];
  completed: number;
  failed: number;
  warning: number;
  /** True only when every expected instance arrived and the node reported no failure. */
  ok: boolean;
}

export interface StoreReport {
  sent: number;
  failed: { sopInstanceUid: string; status: number }[];
}

export class NodeOperations {
  constructor(
    private readonly config: AgentConfig,
    private readonly store: StoreHandler,
    private readonly archive: Archive,
    private readonly db: Database,
    private readonly log: Logger,
  ) {}

  /** Configured nodes by name. */
  list(): { name: string; node: NodeConfig }[] {
    return Object.entries(this.config.nodes).map(([name, node]) => ({ name, node }));
  }

  node(name: string): NodeConfig {
    const node = this.config.nodes[name];
    if (!node) throw new UnknownNodeError(`no node named ${JSON.stringify(name)} in the configuration`);
    return node;
  }

  #scu(node: NodeConfig, storeHandler?: StoreHandler): Promise<ScuAssociation> {
    return scuTo(this.config, node, storeHandler);
  }

  echo(name: string): Promise<{ status: number; ms: number }> {
    return echoNode(this.config, this.node(name));
  }

  /** Streams a C-FIND's matches as they arrive. */
  async *find(
    name: string,
    model: QueryModel,
    identifier: Identifier,
    signal?: AbortSignal,
  ): AsyncGenerator<Identifier> {
    const scu = await this.#scu(this.node(name));
    await scu.open({ find: [model] });
    try {
      yield* scu.find(model, identifier, signal);
    } finally {
      await scu.release();
    }
  }

  /** Lists the instances a retrieve would bring (C-FIND at IMAGE level, Study Root). */
  async #expected(name: string, req: RetrieveRequest, signal?: AbortSignal) {
    const identifier: Identifier = {
      QueryRetrieveLevel: "IMAGE",
      StudyInstanceUID: req.studyInstanceUid,
      SeriesInstanceUID: req.seriesInstanceUid ?? "",
      SOPInstanceUID: req.sopInstanceUid ?? "",
      SOPClassUID: "",
      // The syntaxes the node holds each instance in, where it says (dcm4chee does): the C-GET then
      // proposes those alone (get_plan.ts).
      AvailableTransferSyntaxUID: "",
    };
    const out: ListedInstance[] = [];
    const { listedInstance } = await getPlan();
    for await (const m of this.find(name, "study", identifier, signal)) {
      const listed = listedInstance(m);
      if (listed) out.push(listed);
    }
    return out;
  }

  /** Retrieves into our archive by the node's configured method, and checks what arrived. */
  async retrieve(name: string, req: RetrieveRequest, signal?: AbortSignal): Promise<RetrieveReport> {
    const node = this.node(name);
    const expected = await this.#expected(name, req, signal);
    const identifier: Identifier = { QueryRetrieveLevel: req.level, StudyInstanceUID: req.studyInstanceUid };
    if (req.level !== "STUDY") identifier.SeriesInstanceUID = req.seriesInstanceUid ?? "";
    if (req.level === "IMAGE") identifier.SOPInstanceUID = req.sopInstanceUid ?? "";
    const log = this.log.child({ node: name, study: hashUid(req.studyInstanceUid), method: node.retrieve });
    let fetched: Fetched;
    try {
      fetched = await this.#fetchFrom(node, identifier, expected, signal, log);
    } catch (err) {
      if (signal?.aborted) throw err;
      // What arrived before the break stays archived: say how much that is, and which are missing.
      await this.store.settled?.();
      const present = await this.#present(expected.map((e) => e.sopInstanceUid));
      const missing = expected.map((e) => e.sopInstanceUid).filter((u) => !present.has(u));
      const arrived = expected.length - missing.length;
      const reason = (err as Error).message;
      log.warn("retrieve interrupted", {
        expected: expected.length,
        arrived,
        missing: missing.length,
        reason,
      });
      throw new RetrieveInterruptedError(
        `${reason} (${arrived} of the ${expected.length} objects the node listed are archived, ${missing.length} missing)`,
        { method: node.retrieve, expected: expected.length, arrived, missing, ok: false },
      );
    }
    const { result, contexts } = fetched;
    // Objects answered Success reach the index in group commits: wait for those that arrived.
    await this.store.settled?.();
    const present = await this.#present(expected.map((e) => e.sopInstanceUid));
    const missing = expected.map((e) => e.sopInstanceUid).filter((u) => !present.has(u));
    const report: RetrieveReport = {
      method: node.retrieve,
      status: result.status,
      expected: expected.length,
      arrived: expected.length - missing.length,
      missing,
      completed: result.completed,
      failed: result.failed,
      warning: result.warning,
      ok: missing.length === 0 && result.failed === 0 &&
        (result.status === Status.Success || result.status === Status.Warning && result.warning > 0),
    };
    // A retrieve that left objects missing or failed is a warning (an alert may watch for it).
    (report.ok ? log.info : log.warn).call(log, "retrieve finished", {
      ...report,
      missing: report.missing.length,
      contexts,
    });
    return report;
  }

  /**
   * The retrieve's transfer itself, by the node's method: C-GET (planned by SOP class and syntax, failed
   * objects asked again without uncompressed contexts) or C-MOVE to our own AE title. Its counts and final
   * status, and the storage contexts a C-GET proposed (for the log). Throws when broken off.
   */
  async #fetchFrom(
    node: NodeConfig,
    identifier: Identifier,
    expected: ListedInstance[],
    signal: AbortSignal | undefined,
    log: Logger,
  ): Promise<Fetched> {
    let result: Fetched["result"];
    /** Storage contexts the C-GET proposed, over all its associations (for the log). */
    let contexts: number | undefined;
    if (node.retrieve === "get" && expected.length === 0) {
      // Nothing listed, so no storage class to offer the node for its C-STOREs: a C-GET could bring
      // nothing, and a node may end such an association without a response (Orthanc does).
      result = { status: Status.Success, completed: 0, failed: 0, warning: 0 };
    } else if (node.retrieve === "get") {
      // One context per SOP class and syntax; several associations when they exceed one (get_plan.ts).
      const { planGet, planRetry } = await getPlan();
      const steps = planGet(identifier, expected);
      contexts = steps.reduce((n, step) => n + step.contexts.length, 0);
      if (steps.length > 1) {
        log.info("C-GET split over several associations", { associations: steps.length });
      }
      result = await this.#getSteps(node, steps, signal, log);
      if (result.failed > 0 && !signal?.aborted) {
        // A node that sends every object of a class on the first context it accepted for it (DCMTK's
        // dcmqrscp) converts one stored compressed to that context's uncompressed syntax, or fails it when
        // it cannot: those missing are asked for again, one by one, on associations without the
        // uncompressed contexts, so that it finds the stored syntax first.
        await this.store.settled?.();
        const present = await this.#present(expected.map((e) => e.sopInstanceUid));
        const retry = planRetry(identifier, expected.filter((e) => !present.has(e.sopInstanceUid)));
        if (retry.length) {
          log.info("C-GET of failed objects again without uncompressed contexts", {
            objects: retry.reduce((n, step) => n + step.identifiers.length, 0),
          });
          const again = await this.#getSteps(node, retry, signal, log, true);
          const recovered = Math.min(result.failed, again.completed + again.warning);
          const failed = result.failed - recovered;
          const warning = result.warning + again.warning;
          result = {
            status: failed > 0 ? result.status : warning > 0 ? Status.Warning : Status.Success,
            completed: result.completed + again.completed,
            failed,
            warning,
          };
        }
      }
    } else {
      // The node C-STOREs to our SCP; what arrived is checked against the index below.
      const scu = await this.#scu(node);
      await scu.open({ move: ["study"] });
      try {
        result = await scu.move("study", identifier, this.config.dimse.aet, signal);
      } finally {
        await scu.release();
      }
    }
    return { result, contexts };
  }

  /**
   * Runs the C-GETs of a plan, one association per step in turn; the counts summed. An association that
   * cannot be opened fails the retrieve when it is the first of the main pass (nothing was asked yet);
   * after that, and on the second pass, its objects are left missing (and the report says so).
   */
  async #getSteps(
    node: NodeConfig,
    steps: GetStep[],
    signal: AbortSignal | undefined,
    log: Logger,
    retry = false,
  ) {
    const results = [];
    for (const [i, step] of steps.entries()) {
      if (signal?.aborted) break;
      const scu = await this.#scu(node, this.store);
      try {
        await scu.open({ get: { models: ["study"], storage: step.contexts } });
      } catch (err) {
        if (i === 0 && !retry) throw err;
        log.warn("C-GET association not opened; its objects stay missing", {
          reason: (err as Error).message,
          requests: step.identifiers.length,
        });
        continue;
      }
      try {
        for (const id of step.identifiers) {
          if (signal?.aborted) break;
          results.push(await scu.get("study", id, signal));
        }
      } finally {
        await scu.release();
      }
    }
    return (await getPlan()).combineResults(results);
  }

  async #present(uids: string[]): Promise<Set<string>> {
    return await (await indexReads()).presentUids(this.db, uids);
  }

  /**
   * Sends archived objects (by SOP Instance UID, or a whole study) to a node on one association (several
   * when they need more than 128 presentation contexts).
   */
  async storeTo(
    name: string,
    what: { studyInstanceUid?: string; sopInstanceUids?: string[] },
  ): Promise<StoreReport> {
    const node = this.node(name);
    const items = await (await indexReads()).filesToStore(this.db, this.archive, what);
    const report: StoreReport = { sent: 0, failed: [] };
    if (items.length === 0) return report;
    // One association, or one per group of objects when they span more (SOP class, syntax) pairs than
    // one holds (storageGroups).
    const groups = storageGroups(items);
    for (const group of groups) {
      const scu = await this.#scu(node);
      try {
        await scu.open({
          storage: group.map((i) => ({ sopClassUid: i.sopClassUid, transferSyntax: i.transferSyntax })),
        });
      } catch (err) {
        // Alone, the failure is the answer; with several groups the others still go, these count as failed.
        if (groups.length === 1) throw err;
        const status = err instanceof NoContextAcceptedError
          ? Status.SopClassNotSupported
          : Status.ProcessingFailure;
        for (const item of group) report.failed.push({ sopInstanceUid: item.sopInstanceUid, status });
        continue;
      }
      try {
        for (const item of group) {
          let status: number;
          try {
            status = await scu.store(item);
          } catch {
            status = Status.ProcessingFailure;
          }
          if (status === Status.Success || isWarning(status)) report.sent++;
          else report.failed.push({ sopInstanceUid: item.sopInstanceUid, status });
        }
      } finally {
        await scu.release();
      }
    }
    return report;
  }
}
