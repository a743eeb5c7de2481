import assert from "node:assert/strict";
import type { DicomwebBackend, RetrievedObject, RetrieveQuery } from "../services.ts";
import { acceptableCopy, firstAcceptable } from "./next_syntax.ts";

const STORED = "1.2.840.10008.1.2.1";
const [X, Y] = ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.80"];

/** A site of two objects: `a` can be given in X or Y, `b` only in Y; what cannot be given goes as stored. */
function site() {
  const gives: Record<string, string[]> = { a: [X, Y], b: [Y] };
  const asked: { sop?: string; ts?: string }[] = [];
  const read: string[] = [];
  const object = (sop: string, ts: string | undefined): RetrievedObject => {
    const syntax = ts && gives[sop].includes(ts) ? ts : STORED;
    return {
      header: {
        type: "object",
        sopInstanceUid: sop,
        sopClassUid: "1.2",
        transferSyntax: syntax,
        size: 2,
        sha256: "0".repeat(64),
      },
      bytes: (async function* () {
        yield new TextEncoder().encode(`${sop}@${syntax}`);
        read.push(`${sop}@${syntax}`);
      })(),
    };
  };
  const backend = {
    wado: {
      async *retrieve(q: RetrieveQuery) {
        asked.push({ sop: q.sopInstanceUid, ts: q.transferSyntax });
        for (const sop of q.sopInstanceUid ? [q.sopInstanceUid] : ["a", "b"]) {
          yield object(sop, q.transferSyntax);
        }
      },
    },
  } as unknown as DicomwebBackend;
  return { backend, asked, read };
}

const text = async (o: RetrievedObject) => {
  let s = "";
  for await (const chunk of o.bytes) s += new TextDecoder().decode(chunk);
  return s;
};

Deno.test("firstAcceptable() asks again in the next syntax of the Accept when the first object came as stored", async () => {
  const { backend, asked } = site();
  const query = { studyInstanceUid: "1", sopInstanceUid: "b" };
  const found = await firstAcceptable(backend, query, [X, Y]);
  assert.ok("first" in found);
  assert.equal(found.asked, Y);
  assert.equal(await text(found.first), "b@" + Y);
  assert.deepEqual(asked.map((a) => a.ts), [X, Y]);
  const none = await firstAcceptable(backend, query, [X]);
  assert.ok("refused" in none && none.refused.transferSyntax === STORED, "nothing else to try: refused");
  const stored = await firstAcceptable(backend, query, [X, "*"]);
  assert.ok("first" in stored && stored.first.header.transferSyntax === STORED, "as stored, when * is taken");
});

Deno.test("acceptableCopy(): an object of a mixed study that the stream's syntax does not suit comes alone in a later one", async () => {
  const { backend, asked, read } = site();
  const query = { studyInstanceUid: "1" };
  const found = await firstAcceptable(backend, query, [X, Y]);
  assert.ok("first" in found && found.asked === X);
  assert.equal(await text(found.first), "a@" + X);
  const b = (await found.objects.next()).value as RetrievedObject;
  assert.equal(b.header.transferSyntax, STORED);
  const copy = await acceptableCopy(backend, query, b, [Y], [X, Y]);
  assert.ok(copy);
  assert.equal(await text(copy), "b@" + Y);
  assert.ok(
    read.includes("b@" + STORED),
    "the stored copy's bytes were read through (the stream goes on after them)",
  );
  assert.deepEqual(asked.at(-1), { sop: "b", ts: Y });
  assert.equal((await found.objects.next()).done, true);
  // Nothing later to try: none.
  const again = await firstAcceptable(backend, query, [X]);
  assert.ok("first" in again);
  const b2 = (await again.objects.next()).value as RetrievedObject;
  assert.equal(await acceptableCopy(backend, query, b2, [], [X]), undefined);
});
