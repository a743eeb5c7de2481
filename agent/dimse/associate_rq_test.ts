import assert from "node:assert/strict";
import { DICOM_APPLICATION_CONTEXT, proposedApplicationContext } from "./associate_rq.ts";

/** An A-ASSOCIATE-RQ PDU holding `items` after its fixed fields. */
function rq(...items: [type: number, value: string][]): Uint8Array {
  const body = items.flatMap(([type, value]) =>
    [type, 0, value.length >> 8, value.length & 0xff, ...value].map(
      (b) => typeof b === "number" ? b : b.charCodeAt(0),
    )
  );
  const pdu = new Uint8Array(6 + 68 + body.length);
  pdu[0] = 1;
  new DataView(pdu.buffer).setUint32(2, 68 + body.length, false);
  pdu.set(body, 74);
  return pdu;
}

Deno.test("proposedApplicationContext() reads the Application Context item wherever it is", () => {
  assert.equal(proposedApplicationContext(rq([0x10, DICOM_APPLICATION_CONTEXT])), DICOM_APPLICATION_CONTEXT);
  assert.equal(proposedApplicationContext(rq([0x20, "xx"], [0x10, "1.2.3.4\0"])), "1.2.3.4");
});

Deno.test("proposedApplicationContext() is undefined without one, or for a PDU cut short", () => {
  assert.equal(proposedApplicationContext(rq([0x20, "abc"])), undefined);
  assert.equal(proposedApplicationContext(rq().subarray(0, 40)), undefined);
  assert.equal(proposedApplicationContext(rq([0x10, "1.2.840"]).subarray(0, 78)), "");
});
