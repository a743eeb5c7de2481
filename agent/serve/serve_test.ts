import assert from "node:assert/strict";
import { Channel, memoryPair, Reply, Request, Session, type Stream } from "@conduit/shared/tunnel";
import { Logger } from "@conduit/shared/log";
import { DimseStatusError } from "../dimse/handlers.ts";
import { UnknownNodeError } from "../nodes/operations.ts";
import { FrameError } from "../part10/frames.ts";
import { RenderError, RenderRequestError } from "../render/mod.ts";
import { BulkDataError } from "./metadata.ts";
import type { Handlers } from "./reply.ts";
import { HANDLERS, serveRequest, type SiteServices } from "./serve.ts";

const quiet = new Logger({}, "error", { write: () => {} });
/** Only the logger: the handlers under test here touch nothing else. */
const services = { log: quiet } as unknown as SiteServices;

/** Serves `request` with `handlers` over an in-memory session; resolves with every reply the hub side got. */
async function ask(request: Request, handlers: Handlers): Promise<Reply[]> {
  const [a, b] = memoryPair();
  const served = new Promise<void>((resolve) => {
    new Session(b, {
      side: "server",
      onStream: (stream: Stream) => {
        const channel = new Channel(stream);
        channel.expect(Request).then((r) => serveRequest(services, r, channel, handlers)).then(resolve);
      },
    });
  });
  const hub = new Session(a, { side: "client" });
  const channel = new Channel(hub.open());
  await channel.send(request);
  await channel.end();
  const replies: Reply[] = [];
  for (let r = await channel.next(); r; r = await channel.next()) {
    if (r.kind === "json") replies.push(Reply.parse(r.value));
  }
  await served;
  hub.close();
  return replies;
}

Deno.test("HANDLERS serves every operation the hub sends a site, and only those", () => {
  const ops = new Set(Request.options.map((o) => o.shape.op.value));
  ops.delete("relay"); // the hub's own: an agent asks it, never serves it
  assert.deepEqual(new Set(Object.keys(HANDLERS)), ops);
});

Deno.test("serveRequest() answers an operation it has no handler for as unsupported", async () => {
  assert.deepEqual(await ask({ op: "status" }, {}), [{
    type: "error",
    code: "unsupported",
    message: "this agent does not do status over the tunnel yet",
  }]);
});

Deno.test("serveRequest() turns each kind of failure into its error code", async () => {
  const cases: [Error, string][] = [
    [new UnknownNodeError("no node named x"), "unknown-node"],
    [new DimseStatusError(0xa801, "unknown move destination"), "dimse"],
    [new BulkDataError("no such instance"), "not-found"],
    [new FrameError("frame 9 does not exist"), "not-found"],
    [new RenderError("not an image"), "not-renderable"],
    [new RenderRequestError("the region is not inside the frame"), "bad-request"],
    [new Error("disk on fire"), "failed"],
  ];
  for (const [error, code] of cases) {
    const replies = await ask({ op: "status" }, {
      status: () => Promise.reject(error),
    });
    assert.equal(replies.length, 1);
    const reply = replies[0] as Extract<Reply, { type: "error" }>;
    assert.equal(reply.code, code, error.name);
    assert.equal(reply.message, error.message);
    assert.equal(reply.status, error instanceof DimseStatusError ? error.status : undefined);
  }
});

Deno.test("serveRequest() gives a handler the request of its operation and the channel to answer on", async () => {
  let limit: number | undefined;
  const replies = await ask({ op: "deadLetter", limit: 3 }, {
    deadLetter: async (_s, request, channel) => {
      limit = request.limit;
      await channel.send({ type: "ok", detail: { rows: [] } });
    },
  });
  assert.equal(limit, 3);
  assert.deepEqual(replies, [{ type: "ok", detail: { rows: [] } }]);
});
