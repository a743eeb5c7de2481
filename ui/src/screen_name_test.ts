import assert from "node:assert/strict";
import { pageTitle, screenName } from "./screen_name.ts";

Deno.test("screenName() names every screen by its path, a study by its site alone", () => {
  assert.equal(screenName("/"), "Dashboard");
  assert.equal(screenName("/explorer"), "Explorer");
  assert.equal(screenName("/studies/north/1.2.3"), "Study at north");
  assert.equal(screenName("/transfers/"), "Transfers");
  assert.equal(screenName("/transfers/abc123"), "Transfer abc123");
  assert.equal(screenName("/sites/so%20uth"), "Site so uth");
  assert.equal(screenName("/batch"), "Batch");
  assert.equal(screenName("/admin"), "Admin");
  assert.equal(screenName("/no/such/screen"), "Nothing here");
  assert.equal(pageTitle("Sites"), "Sites · Conduit");
});
