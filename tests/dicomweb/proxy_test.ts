/**
 * PS3.18 behind a reverse proxy: RetrieveURL and BulkDataURI follow `publicUrl` when it is set, and
 * `X-Forwarded-Proto/Host/Prefix` only when the hub is told to trust them.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`proxy_test: skipped: ${skip}`);
const CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";

async function withSite(
  hubOptions: Parameters<typeof startTestHub>[0],
  fn: (hub: TestHub, token: string) => Promise<void>,
) {
  const hub = await startTestHub(hubOptions);
  let agent: AgentProcess | undefined;
  try {
    agent = await startAgentProcess({
      args: await siteArgs(hub, "north"),
    });
    const sent = await storescu([path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm")], agent);
    assert.equal(sent.code, 0, sent.stderr);
    await eventually("north online", () => hub.sessions.get("north"));
    await fn(hub, (await hub.tokens.create("proxy", "viewer")).token);
  } finally {
    await agent?.stop();
    await hub.stop();
  }
}

const forwarded = {
  "x-forwarded-proto": "https",
  "x-forwarded-host": "pacs.example.org",
  "x-forwarded-prefix": "/conduit",
};

Deno.test({
  name: "PS3.18 8.2 (base URL) links follow trusted X-Forwarded-* headers, and only when trusted",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withSite({ trustForwardedHeaders: true }, async (hub, token) => {
      const res = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies`, {
        headers: { authorization: `Bearer ${token}`, ...forwarded },
      });
      const [study] = await res.json();
      assert.equal(
        study["00081190"].Value[0],
        `https://pacs.example.org/conduit/dicomweb/sites/north/studies/${CT_STUDY}`,
      );
      const meta =
        await (await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies/${CT_STUDY}/metadata`, {
          headers: { authorization: `Bearer ${token}`, ...forwarded },
        })).json();
      assert.match(
        meta[0]["7FE00010"].BulkDataURI,
        /^https:\/\/pacs\.example\.org\/conduit\/dicomweb\/sites\/north\//,
      );
    });
    await withSite({}, async (hub, token) => {
      const res = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies`, {
        headers: { authorization: `Bearer ${token}`, ...forwarded },
      });
      const [study] = await res.json();
      assert.match(
        study["00081190"].Value[0],
        new RegExp(`^http://127\\.0\\.0\\.1:${hub.port}/dicomweb/`),
        "untrusted headers are ignored",
      );
    });
  },
});

Deno.test({
  name: "PS3.18 8.2 (base URL) links follow publicUrl when it is set",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withSite(
      { publicUrl: "https://hub.example.org/base/", trustForwardedHeaders: true },
      async (hub, token) => {
        const res = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies`, {
          headers: { authorization: `Bearer ${token}`, ...forwarded },
        });
        const [study] = await res.json();
        assert.equal(
          study["00081190"].Value[0],
          `https://hub.example.org/base/dicomweb/sites/north/studies/${CT_STUDY}`,
        );
      },
    );
  },
});
