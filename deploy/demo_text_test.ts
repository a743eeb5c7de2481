import assert from "node:assert/strict";
import * as path from "node:path";
import { banner, denoCommand, moveTs, nextSteps, shellPath, shownDir, shownPath } from "./demo_text.ts";

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

Deno.test("nextSteps() starts its commands with the deno it is given: npx's pinned one when deno is not on PATH", () => {
  const steps = (onPath: boolean) =>
    nextSteps({
      deno: denoCommand(onPath, "2.9.6"),
      moveScript: ".demo/move.ts",
      denoJson: "deno.json",
      hubData: ".demo/hub",
      projectKey: ".demo/project.key",
      north: site,
    });
  const bare = steps(false);
  assert.match(bare, /^ {2}npx -y deno@2\.9\.6 run -A --config deno\.json \.demo\/move\.ts$/m);
  assert.match(bare, /^ {2}npx -y deno@2\.9\.6 task hub admin site list --data \.demo\/hub$/m);
  assert.doesNotMatch(bare, /^ {2}deno /m);
  assert.match(steps(true), /^ {2}deno task hub admin site list --data \.demo\/hub$/m);
  assert.match(steps(true), /storescu -aec NORTH 127\.0\.0\.1 11112 FILE\.\.\.$/m);
});

Deno.test("shellPath() drops the folders npx and npm put on PATH, so npx's own deno is not taken for the reader's", () => {
  // The PATH a `npx -y deno@2.9.6 task demo` gives the demo (seen on 2026-12-06).
  const npx =
    "/root/.npm/_npx/7a40be787520bede/node_modules/.bin:/tmp/node_modules/.bin:/node_modules/.bin:" +
    "/usr/lib/node_modules/npm/node_modules/@npmcli/run-script/lib/node-gyp-bin:/usr/local/bin:/usr/bin:/bin";
  assert.equal(shellPath(npx), "/usr/local/bin:/usr/bin:/bin");
  assert.equal(shellPath("/home/me/.deno/bin:/usr/bin"), "/home/me/.deno/bin:/usr/bin");
});
