/** STOW-RS answered by a site's agent through the tunnel: each object goes as one `store` request. */
import * as fs from "node:fs";
import {
  RequestChannel,
  type RequestOf,
  sendRanges,
  SessionClosedError,
  STOW_FROM,
} from "@conduit/shared/tunnel";
import type { Sessions } from "../../tunnel/sessions.ts";
import { SiteRequestError } from "../../tunnel/errors.ts";
import { BackendUnavailableError } from "../services.ts";
import type { StoreResult, StowObject, StowService } from "./service.ts";

/** How long a STOW-RS to a node waits for the site to list its nodes before it sends anyway. */
const NODE_ASK_MS = 10_000;

export class TunnelStow implements StowService {
  constructor(
    readonly site: string,
    readonly node: string | undefined,
    private readonly sessions: Sessions,
  ) {}

  /** Asks the site for its nodes when one is named; a site that does not answer in time is not refused. */
  async check(signal?: AbortSignal): Promise<void> {
    if (!this.node) return;
    let names: string[];
    try {
      const asked = AbortSignal.timeout(NODE_ASK_MS);
      const answer = await this.sessions.ask(
        this.site,
        { op: "nodes" },
        signal ? AbortSignal.any([signal, asked]) : asked,
      );
      names = answer.nodes.map((n) => n.name);
    } catch {
      return; // Each object then fails with the site's own answer.
    }
    if (!names.includes(this.node)) {
      throw new SiteRequestError(
        "unknown-node",
        `no node named ${JSON.stringify(this.node)} in the configuration`,
      );
    }
  }

  async store(
    object: StowObject,
    signal?: AbortSignal,
  ): Promise<StoreResult> {
    let stream;
    try {
      stream = await this.sessions.open(this.site);
    } catch (err) {
      throw new BackendUnavailableError((err as Error).message);
    }
    const channel = new RequestChannel(stream, "store");
    const cancel = () => channel.stream.reset("cancelled");
    signal?.addEventListener("abort", cancel);
    const result = { sopInstanceUid: object.header.sopInstanceUid, sopClassUid: object.header.sopClassUid };
    try {
      const request: RequestOf<"store"> = {
        op: "store",
        from: STOW_FROM,
        ...(this.node ? { node: this.node, deliver: "now" } : {}),
      };
      await channel.send(request);
      await channel.send(object.header);
      await sendFileRanges(channel, object.path, object.datasetOffset, object.header.size);
      await channel.end();
      const reply = await channel.reply();
      if (reply.type === "ack") return { ...result, ok: true };
      const message = reply.message;
      // The node's own status when it refused; else 0xA700 out of resources or 0xC000 cannot understand.
      const status = reply.type === "nack" ? reply.status : undefined;
      const reason = status ?? (/free disk|resources/.test(message) ? 0xa700 : 0xc000);
      return { ...result, ok: false, failureReason: reason, message };
    } catch (err) {
      channel.stream.reset("failed");
      const lost = err instanceof SessionClosedError;
      return {
        ...result,
        ok: false,
        failureReason: 0x0110,
        message: (err as Error).message,
        ...(lost ? { lost } : {}),
      };
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
  }
}

/** Sends `length` bytes of the file at `path` from `offset` (shared's sendRanges over a file handle). */
async function sendFileRanges(
  channel: RequestChannel<"store">,
  path: string,
  offset: number,
  length: number,
): Promise<void> {
  const fd = await fs.promises.open(path, "r");
  try {
    await sendRanges(channel, {
      read: async (into, position) => (await fd.read(into, 0, into.length, position)).bytesRead,
    }, [{ offset, length }]);
  } finally {
    await fd.close();
  }
}
