import assert from "node:assert/strict";
import { Association } from "./_library.ts";

Deno.test("the library's association description is short, whatever the association proposes", () => {
  // Formatted for the library's silenced log at every request and accept: its own description named each
  // context's syntaxes through a copy of its UID dictionary per name (about 1 ms per association).
  const association = new Association("MODALITY", "CONDUIT");
  for (let i = 1; i <= 120; i++) {
    const pcId = association.addPresentationContext(`1.2.840.10008.5.1.4.1.1.${i}`);
    association.addTransferSyntaxToPresentationContext(pcId, "1.2.840.10008.1.2.1");
    association.addTransferSyntaxToPresentationContext(pcId, "1.2.840.10008.1.2");
  }
  const text = association.toString();
  assert.equal(text, "association MODALITY -> CONDUIT");
});
