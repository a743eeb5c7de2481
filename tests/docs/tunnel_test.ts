/**
 * docs/tunnel.md's protocol tables against shared/tunnel: every operation of `OPERATIONS` has its row in the
 * requests table (and no row names one that does not exist), and the frame types, flags and reason codes
 * are the code's numbers.
 */
import assert from "node:assert/strict";
import {
  Flag,
  FrameType,
  Hello,
  LARGE_PAYLOAD,
  MAX_PAYLOAD,
  ObjectHeader,
  OPERATIONS,
  Reason,
  Reply,
  Welcome,
} from "@conduit/shared/tunnel";
import { VERSION as AGENT_VERSION } from "../../agent/version.ts";
import { VERSION as HUB_VERSION } from "../../hub/version.ts";
import { readDoc, section, tables } from "../support/markdown.ts";
import { parseBuild } from "@conduit/shared/build";

const doc = readDoc("docs/tunnel.md");
const protocol = section(doc, "## Protocol");
/** `0 Data, 1 WindowUpdate` → { Data: 0, WindowUpdate: 1 }. */
const numbered = (text: string) =>
  Object.fromEntries([...text.matchAll(/(\d+) ([A-Z][A-Za-z]+)/g)].map((m) => [m[2], Number(m[1])]));

Deno.test("docs/tunnel.md lists every tunnel operation in its requests table, and no other", () => {
  const requests = tables(protocol).find((t) => t[0] && "request (opened by)" in t[0])!;
  const documented = requests.flatMap((r) =>
    [...r["request (opened by)"].matchAll(/`(\w+)`/g)].map((m) => m[1])
  );
  assert.deepEqual(documented.toSorted(), Object.keys(OPERATIONS).toSorted());
});

Deno.test("docs/tunnel.md: frame types, flags and reason codes are the code's", () => {
  const frame = tables(protocol).find((t) => t[0] && "field" in t[0])!;
  const cell = (field: string) => frame.find((r) => r.field === field)!.meaning;
  assert.deepEqual(numbered(cell("type")), FrameType);
  assert.deepEqual(numbered(cell("flags")), Flag);
  const reasons = /\*\*Reason codes\*\*[^:]*:([\s\S]*?)\. Any of these/.exec(protocol);
  assert.ok(reasons, "the Reason codes paragraph");
  assert.deepEqual(numbered(reasons[1].replace(/\([^)]*\)/g, "")), Reason);
  // Frame sizes: 256 KiB offered, 64 KiB to a peer that names none.
  assert.equal(LARGE_PAYLOAD, 256 * 1024);
  assert.equal(MAX_PAYLOAD, 65536);
  assert.match(protocol, /its own\s+\(256 KiB in this version\),\s+and 64 KiB to a peer that names none/);
});

Deno.test("docs/tunnel.md's hello and welcome examples are exactly what the schemas take", () => {
  const connection = /\*\*Connection\.\*\*([\s\S]*?)\n\n/.exec(protocol)![1];
  const json = [...connection.matchAll(/`(\{[^`]*\})`/g)].map((m) => m[1]);
  assert.equal(json.length, 4, "refused upgrade, hello, welcome and refused hello");
  const [refusedUpgrade, hello, welcome, refusal] = json;
  Hello.strict().parse(JSON.parse(hello));
  const [accepted] = Welcome.options;
  assert.equal(accepted.shape.accepted.value, true);
  assert.equal(accepted.strict().parse(JSON.parse(welcome)).maxFrame, LARGE_PAYLOAD);
  assert.equal(JSON.parse(hello).maxFrame, LARGE_PAYLOAD);
  assert.equal(parseBuild(JSON.parse(hello).agentVersion)?.version, AGENT_VERSION);
  assert.equal(parseBuild(JSON.parse(welcome).hubVersion)?.version, HUB_VERSION);
  // A bad credential is refused before the upgrade, with the hub's own refusal as the 401's body.
  const [, refused] = Welcome.options;
  const upgrade = refused.strict().parse(JSON.parse(refusedUpgrade));
  assert.equal(upgrade.reason, Reason.BadCredential);
  const endpoint = Deno.readTextFileSync(new URL("../../hub/tunnel/endpoint.ts", import.meta.url));
  assert.ok(endpoint.includes(`refusal(Reason.BadCredential, "${upgrade.message}")`), upgrade.message);
  // The refused hello is shown in part (`...`): its reason and message are the hub's for a wrong version.
  const m = /"reason":(\d+),"message":"([^"]+)"/.exec(refusal)!;
  assert.equal(Number(m[1]), Reason.BadVersion);
  assert.match(m[2], /^protocol version \d+; this hub speaks 1$/);
});

Deno.test("docs/tunnel.md's object, error and end records name the fields of their schemas", () => {
  /** `object {a, b?}` in the document → ["a", "b?"]. */
  const fields = (name: string) => {
    const m = new RegExp("`" + name + " \\{([^}]*)\\}`").exec(protocol);
    assert.ok(m, `tunnel.md shows ${name} {...}`);
    return m[1].split(",").map((f) => f.trim()).sort();
  };
  const keys = (schema: { shape: Record<string, { isOptional(): boolean }> }) =>
    Object.entries(schema.shape).filter(([k]) => k !== "type").map(([k, v]) =>
      k + (v.isOptional() ? "?" : "")
    )
      .sort();
  const reply = (type: string) => Reply.optionsMap.get(type) as unknown as Parameters<typeof keys>[0];
  assert.deepEqual(fields("object"), keys(ObjectHeader));
  assert.deepEqual(fields("error"), keys(reply("error")));
  const end = keys(reply("end")).map((k) => k.replace("?", ""));
  for (const f of fields("end")) assert.ok(end.includes(f), `end {${f}}`);
});
