/** The parser of `storescu -v` output in tests/support/crash.ts, on logs as DCMTK 3.6.7 writes them. */
import assert from "node:assert/strict";
import { acknowledgedFiles } from "./crash.ts";

Deno.test("acknowledgedFiles counts a file only when its Success follows its Sending line", () => {
  const files = ["/s/1.dcm", "/s/2.dcm", "/s/3.dcm"];
  const log = [
    "I: checking input files ...",
    "I: Requesting Association",
    "I: Association Accepted (Max Send PDV: 16372)",
    "I: Sending file: /s/1.dcm",
    "I: Converting transfer syntax: Little Endian Explicit -> Little Endian Explicit",
    "I: Sending Store Request (MsgID 1, CT)",
    "I: Received Store Response (Success)",
    "I: Sending file: /s/2.dcm",
    "I: Converting transfer syntax: Little Endian Explicit -> Little Endian Explicit",
    "I: Sending Store Request (MsgID 2, CT)",
    "E: Store Failed, file: /s/2.dcm:",
    "E: 0006:020e DIMSE Failed to send message",
    "E: 0006:031d TCP I/O Error (Broken pipe) occurred in routine: writeDataPDU",
    "E: Store SCU Failed: 0006:020e DIMSE Failed to send message",
    "I: Aborting Association",
  ].join("\n");
  assert.deepEqual(acknowledgedFiles(log, files), ["/s/1.dcm"]);
  assert.deepEqual(
    acknowledgedFiles(
      "I: Sending file: /s/1.dcm\nI: Received Store Response (Warning: Coercion of Data Elements)\n",
      files,
    ),
    [],
  );
  assert.throws(
    () => acknowledgedFiles("I: Received Store Response (Success)\n", files),
    /no file being sent/,
  );
  assert.throws(
    () =>
      acknowledgedFiles(
        "I: Sending file: /s/1.dcm\nI: Received Store Response (Success)\nI: Received Store Response (Success)\n",
        files,
      ),
    /no file being sent/,
  );
  assert.throws(() => acknowledgedFiles("I: Sending file: /s/9.dcm\n", files), /not a file expected/);
  assert.throws(
    () => acknowledgedFiles("I: Sending file: /s/2.dcm\nI: Sending file: /s/1.dcm\n", files),
    /not a file expected/,
  );
  assert.throws(() => acknowledgedFiles("I: Received Store Response Success\n", files), /unexpected format/);
});
