import assert from "node:assert/strict";
import { ConfigError } from "@conduit/shared/config";
import { loadHubConfig } from "./config.ts";

const load = (yaml: string, flags: Record<string, string> = {}, env: Record<string, string> = {}) =>
  loadHubConfig({ flags: { config: "hub.yaml", ...flags }, env, readFile: () => yaml });

Deno.test("loadHubConfig() layers file < variables < flags", () => {
  const { config } = load("port: 9000\nhost: 0.0.0.0\n", { port: "9002" }, {
    CONDUIT_HUB_PORT: "9001",
    CONDUIT_HUB_HOST: "10.0.0.2",
  });
  assert.deepEqual([config.port, config.host], [9002, "10.0.0.2"]);
  assert.equal(load("port: '9000'\n").config.port, 9000);
});

Deno.test("loadHubConfig() refuses an empty port or a boolean instead of listening on port 0 or 1", () => {
  for (const yaml of ["port:\n", "port: ''\n", "port: true\n", "dicomweb: { maxStowMegabytes: true }\n"]) {
    assert.throws(
      () => load(yaml),
      (err: Error) => err instanceof ConfigError && /^config: \S+: expected a number/.test(err.message),
      yaml,
    );
  }
  assert.throws(() => load("", {}, { CONDUIT_HUB_PORT: "x" }), (err: Error) => {
    assert.equal(
      err.message,
      'config: port: expected a number from 0 to 65535, got "x" (variable CONDUIT_HUB_PORT)',
    );
    return true;
  });
});

Deno.test("loadHubConfig() reads tunnel.relays and names a bad site in it", () => {
  assert.deepEqual(
    load("tunnel:\n  relays:\n    north: [south]\n    '*': [archive]\n").config.tunnel.relays,
    {
      north: ["south"],
      "*": ["archive"],
    },
  );
  assert.equal(load("").config.tunnel.relays, undefined);
  assert.throws(
    () => load("tunnel:\n  relays:\n    north: [South Site]\n"),
    (err: Error) =>
      err instanceof ConfigError && /tunnel\.relays\.north\.0: expected a site name or \*/.test(err.message),
  );
});

Deno.test("loadHubConfig() reads dicomweb.cors: exact origins or * alone, off by default", () => {
  assert.deepEqual(load("").config.dicomweb.cors, { origins: [], maxAgeSeconds: 600 });
  assert.deepEqual(
    load(
      "dicomweb:\n  cors:\n    origins: [https://viewer.example, 'http://10.0.0.5:3000']\n    maxAgeSeconds: 60\n",
    )
      .config.dicomweb.cors,
    { origins: ["https://viewer.example", "http://10.0.0.5:3000"], maxAgeSeconds: 60 },
  );
  assert.deepEqual(load("dicomweb: { cors: { origins: ['*'] } }\n").config.dicomweb.cors.origins, ["*"]);
  const refused: [string, RegExp][] = [
    ["https://viewer.example/", /origins\.0: expected an origin: .* \(https:\/\/viewer\.example\?\)/],
    ["https://viewer.example/ohif", /origins\.0: expected an origin/],
    ["https://Viewer.Example", /origins\.0: expected an origin: .*\(https:\/\/viewer\.example\?\)/],
    ["https://viewer.example:443", /\(https:\/\/viewer\.example\?\)/],
    ["viewer.example", /origins\.0: expected an origin/],
    ["file:///tmp/x.html", /origins\.0: expected an origin/],
    ["null", /origins\.0: expected an origin/],
  ];
  for (const [origin, message] of refused) {
    assert.throws(
      () => load(`dicomweb: { cors: { origins: ['${origin}'] } }\n`),
      (err: Error) =>
        err instanceof ConfigError && /dicomweb\.cors\.origins/.test(err.message) &&
        message.test(err.message),
      origin,
    );
  }
  assert.throws(
    () => load("dicomweb: { cors: { origins: ['*', https://viewer.example] } }\n"),
    (err: Error) =>
      err instanceof ConfigError &&
      /dicomweb\.cors\.origins: \* \(any origin\) stands alone/.test(err.message),
  );
  for (const bad of ["-1", "86401", "1.5", "true"]) {
    assert.throws(
      () => load(`dicomweb: { cors: { maxAgeSeconds: ${bad} } }\n`),
      (err: Error) =>
        err instanceof ConfigError &&
        /dicomweb\.cors\.maxAgeSeconds: .*(0|86400|integer|expected a number)/.test(err.message),
      bad,
    );
  }
  assert.throws(
    () => load("dicomweb: { cors: { origins: [], credentials: true } }\n"),
    (err: Error) => err instanceof ConfigError && /credentials/.test(err.message),
  );
});

Deno.test("loadHubConfig() takes dicomweb.stallSeconds (300 by default) and refuses 0 or a word", () => {
  assert.equal(load("").config.dicomweb.stallSeconds, 300);
  assert.equal(load("dicomweb: { stallSeconds: 2.5 }\n").config.dicomweb.stallSeconds, 2.5);
  for (const yaml of ["dicomweb: { stallSeconds: 0 }\n", "dicomweb: { stallSeconds: soon }\n"]) {
    assert.throws(
      () => load(yaml),
      (err: Error) => err instanceof ConfigError && /^config: dicomweb\.stallSeconds: /.test(err.message),
      yaml,
    );
  }
});
