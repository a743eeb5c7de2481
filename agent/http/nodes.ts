/**
 * Node operations on the loopback HTTP API: the CLI (`deno task agent node ...`) and, later, the
 * tunnel call these. Find results stream as JSON lines.
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import type { NodeOperations } from "../nodes/operations.ts";
import { RetrieveInterruptedError, UnknownNodeError } from "../nodes/operations.ts";

const findBody = z.object({
  model: z.enum(["patient", "study"]).default("study"),
  level: z.enum(["PATIENT", "STUDY", "SERIES", "IMAGE"]),
  keys: z.record(z.string(), z.union([z.string(), z.array(z.string())])).default({}),
}).strict();

const retrieveBody = z.object({
  level: z.enum(["STUDY", "SERIES", "IMAGE"]).default("STUDY"),
  studyInstanceUid: z.string().min(1),
  seriesInstanceUid: z.string().optional(),
  sopInstanceUid: z.string().optional(),
}).strict();

const storeBody = z.object({
  studyInstanceUid: z.string().optional(),
  sopInstanceUids: z.array(z.string()).optional(),
}).strict().refine(
  (b) => b.studyInstanceUid || b.sopInstanceUids?.length,
  "give studyInstanceUid or sopInstanceUids",
);

/** A body that is not JSON at all (400, as a body of the wrong shape is). */
class BadBodyError extends Error {
  override name = "BadBodyError";
}

const jsonOf = (c: Context) =>
  c.req.json().catch((err: Error) => {
    throw new BadBodyError(`the body is not JSON: ${err.message}`);
  });

/** Keywords whose values are person names, which the DIMSE layer wants in dcmjs's PN form. */
const PN_KEYS = new Set([
  "PatientName",
  "ReferringPhysicianName",
  "PerformingPhysicianName",
  "OperatorsName",
]);

export function nodeRoutes(ops: NodeOperations): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof UnknownNodeError) return c.json({ error: err.message }, 404);
    if (err instanceof z.ZodError) return c.json({ error: "bad request", issues: err.issues }, 400);
    if (err instanceof BadBodyError) return c.json({ error: err.message }, 400);
    // Broken off: what arrived before, and what is missing (agent node retrieve prints it).
    if (err instanceof RetrieveInterruptedError) return c.json({ error: err.message, ...err.report }, 502);
    return c.json({ error: err.message }, 502);
  });
  app.get("/", (c) => c.json(ops.list().map(({ name, node }) => ({ name, ...node }))));
  app.post("/:node/echo", async (c) => c.json(await ops.echo(c.req.param("node"))));
  app.post("/:node/find", async (c) => {
    const name = c.req.param("node");
    ops.node(name);
    const body = findBody.parse(await jsonOf(c));
    const identifier: Record<string, unknown> = { QueryRetrieveLevel: body.level };
    for (const [k, v] of Object.entries(body.keys)) {
      const text = Array.isArray(v) ? v.join("\\") : v;
      identifier[k] = PN_KEYS.has(k) ? (text ? [{ Alphabetic: text }] : "") : text;
    }
    const encoder = new TextEncoder();
    const signal = c.req.raw.signal;
    const matches = ops.find(name, body.model, identifier, signal);
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await matches.next();
          if (next.done) return controller.close();
          controller.enqueue(encoder.encode(JSON.stringify(next.value) + "\n"));
        } catch (err) {
          controller.enqueue(encoder.encode(JSON.stringify({ error: (err as Error).message }) + "\n"));
          controller.close();
        }
      },
      async cancel() {
        await matches.return(undefined);
      },
    });
    return c.body(stream, 200, { "content-type": "application/x-ndjson" });
  });
  app.post("/:node/retrieve", async (c) => {
    const body = retrieveBody.parse(await jsonOf(c));
    return c.json(await ops.retrieve(c.req.param("node"), body, c.req.raw.signal));
  });
  app.post("/:node/store", async (c) => {
    const body = storeBody.parse(await jsonOf(c));
    return c.json(await ops.storeTo(c.req.param("node"), body));
  });
  return app;
}
