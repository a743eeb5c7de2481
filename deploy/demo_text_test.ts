import assert from "node:assert/strict";
import * as path from "node:path";
import { banner, moveTs, shownDir, shownPath } from "./demo_text.ts";

const site = { aet: "NORTH", dimsePort: 11112 };
const text = (dir: string, viewerBuilt = true) =>
  banner({
    dir,
    hubUrl: "http://127.0.0.1:8080",
    admin: { user: "admin", password: "pw" },
    sites: { north: site, south: { aet: "SOUTH", dimsePort: 11113 } },
    seeded: { studies: 8, objects: 400 },
    apiToken: "token",
    pacsNote: "no PACS",
    viewerBuilt,
  });

Deno.test("banner() names the demo's folder it was given: CONDUIT_DEMO_DIR whole, .demo/ under the cwd", () => {
  const elsewhere = text("/srv/demo-data");
  assert.match(elsewhere, /data and logs in \/srv\/demo-data\/, details in \/srv\/demo-data\/demo\.json/);
  assert.doesNotMatch(elsewhere, /\.demo\//);
  const usual = text(path.join(Deno.cwd(), ".demo"));
  assert.match(usual, /data and logs in \.demo\/, details in \.demo\/demo\.json/);
});

Deno.test("shownPath() is relative under the cwd and whole elsewhere; moveTs() names its own folder", () => {
  assert.equal(shownPath("/repo/.demo/north.log", "/repo"), ".demo/north.log");
  assert.equal(shownPath("/tmp/d/north.log", "/repo"), "/tmp/d/north.log");
  assert.equal(shownPath("/repo", "/repo"), ".");
  assert.equal(shownDir("/tmp/d/", "/repo"), "/tmp/d/");
  assert.match(moveTs("http://h", "t", "/tmp/d"), /^\/\/ Run from the repository: .* \/tmp\/d\/move\.ts$/m);
});

Deno.test("banner() says how to build the viewer when ui/viewer does not hold it, and not when it does", () => {
  const missing = text("/srv/d", false).split("\n").find((l) => l.includes("/viewer/"));
  assert.match(missing ?? "", /not built yet: run deno task build:viewer/);
  const built = text("/srv/d", true).split("\n").find((l) => l.includes("/viewer/"));
  assert.match(built ?? "", /after logging in to the console\)$/);
  assert.doesNotMatch(built ?? "", /build:viewer/);
});
