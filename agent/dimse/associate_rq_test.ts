import assert from "node:assert/strict";
import {
  associateRqMalformed,
  DICOM_APPLICATION_CONTEXT,
  proposedApplicationContext,
  readAssociateRq,
} from "./associate_rq.ts";

/** An A-ASSOCIATE-RQ PDU holding `items` after its fixed fields. */
function rq(...items: [type: number, value: string][]): Uint8Array {
  return rqOfVersion(1, ...items);
}

function rqOfVersion(version: number, ...items: [type: number, value: string][]): Uint8Array {
  const body = items.flatMap(([type, value]) =>
    [type, 0, value.length >> 8, value.length & 0xff, ...value].map(
      (b) => typeof b === "number" ? b : b.charCodeAt(0),
    )
  );
  const pdu = new Uint8Array(6 + 68 + body.length);
  pdu[0] = 1;
  new DataView(pdu.buffer).setUint32(2, 68 + body.length, false);
  new DataView(pdu.buffer).setUint16(6, version, false);
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

Deno.test("readAssociateRq() gives the Protocol Version bits and the Application Context Name", () => {
  assert.deepEqual(readAssociateRq(rqOfVersion(2, [0x10, "1.2"])), {
    protocolVersion: 2,
    applicationContext: "1.2",
    contextIds: [],
  });
  assert.deepEqual(readAssociateRq(rq().subarray(0, 7)), {
    protocolVersion: 0,
    applicationContext: undefined,
    contextIds: [],
  });
});

Deno.test("readAssociateRq() lists the Presentation Context IDs as proposed, a repeated one twice", () => {
  const pc = (id: number) => [0x20, String.fromCharCode(id, 0, 0, 0) + "xx"] as [number, string];
  assert.deepEqual(readAssociateRq(rq([0x10, "1.2"], pc(1), pc(3), pc(1), [0x50, ""])).contextIds, [1, 3, 1]);
});

Deno.test("associateRqMalformed() accepts a well-formed A-ASSOCIATE-RQ with every kind of user sub-item", () => {
  const pc = String.fromCharCode(1, 0, 0, 0, 0x30, 0, 0, 3) + "1.2" + String.fromCharCode(0x40, 0, 0, 1) +
    "9";
  const user = "\x51\0\0\x04\0\0\x40\0" + "\x53\0\0\x04\0\x02\0\x02" + "\x54\0\0\x07\0\x03" + "1.2\0\x01" +
    "\x58\0\0\x0a\x01\x01\0\x02ab\0\x02cd" + "\x56\0\0\x02xy";
  assert.equal(
    associateRqMalformed(rq([0x10, DICOM_APPLICATION_CONTEXT], [0x20, pc], [0x50, user])),
    undefined,
  );
});

Deno.test("associateRqMalformed() names what runs past its holder or disagrees with its length", () => {
  const whole = rq([0x10, DICOM_APPLICATION_CONTEXT], [0x20, "\x01\0\0\0"]);
  assert.match(associateRqMalformed(whole.subarray(0, 60)) ?? "", /shorter than its fixed fields/);
  const overrun = whole.slice();
  overrun[whole.length - 5] = 0x40; // the presentation context item claims 64 bytes
  assert.match(associateRqMalformed(overrun) ?? "", /item 0x20 runs past the PDU/);
  assert.match(associateRqMalformed(rq([0x50, "\x51\0\x01\x00\0\0\x40\0"])) ?? "", /sub-item 0x51 runs past/);
  assert.match(associateRqMalformed(rq([0x50, "\x51\0\0\x02\0\0"])) ?? "", /sub-item 0x51 of 2 bytes/);
  assert.match(
    associateRqMalformed(rq([0x50, "\x54\0\0\x05\0\x09" + "1.2"])) ?? "",
    /0x54: lengths disagree/,
  );
  assert.match(
    associateRqMalformed(rq([0x50, "\x58\0\0\x06\x01\x01\0\x09ab"])) ?? "",
    /0x58: primary field runs/,
  );
  assert.match(associateRqMalformed(rq([0x20, "\x01\0"])) ?? "", /under 4 bytes/);
});
