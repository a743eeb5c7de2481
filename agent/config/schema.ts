/** The agent's configuration: every key, its default, and what it accepts. */
import { z } from "zod";
import { numberKey } from "@conduit/shared/config";
import { hubUrlsProblem } from "../tunnel/hub_urls.ts";
import { proxyUrlProblem } from "../tunnel/proxy.ts";
import { MAX_WINDOWS } from "@conduit/shared/transfer-window";

const aet = z.string().trim().min(1).max(16).regex(
  /^[\x20-\x5b\x5d-\x7e]+$/,
  "AE titles are printable ASCII without backslash",
);
/** A port number; an empty value in the file is an error, not port 0. */
const port = numberKey((n) => n.int().min(0).max(65535), "expected a number from 0 to 65535");
/** A peer's port (a node's, the TLS port): 0 is no port; left out, "missing (this key is required)". */
const peerPort = numberKey((n) => n.int().min(0).max(65535), "expected a number from 1 to 65535")
  .refine((p) => p > 0, "expected a number from 1 to 65535");
const seconds = numberKey((n) => n.positive());

/** A PEM file (path). */
const pemFile = z.string().min(1);

/**
 * DICOM over TLS towards a node (PS3.15 B.1): `true` checks its certificate against the runtime's root
 * certificates; `ca` names the CA file to check it against instead; `cert` and `key` are our client
 * certificate, for nodes that ask for one.
 */
const nodeTlsSchema = z.union([
  z.boolean(),
  z.object({ ca: pemFile.optional(), cert: pemFile.optional(), key: pemFile.optional() }).strict()
    .refine((t) => Boolean(t.cert) === Boolean(t.key), "cert and key go together"),
]);

const nodeSchema = z.object({
  aet,
  host: z.string().min(1),
  port: peerPort,
  /** How to retrieve from this node: C-GET, or C-MOVE to us. */
  retrieve: z.enum(["get", "move"]).default("move"),
  /**
   * C-STOREs sent to this node before their responses: above 1, an Asynchronous Operations Window is
   * proposed (PS3.7 D.3.3.3) and used as far as the node grants it.
   */
  maxOpsInvoked: numberKey((n) => n.int().min(1).max(64)).default(1),
  /**
   * C-STORE sub-operations of a C-GET from this node (`retrieve: get`) it may send before our responses:
   * above 1, proposed as the window's maximum performed.
   */
  maxOpsPerformed: numberKey((n) => n.int().min(1).max(64)).default(1),
  tls: nodeTlsSchema.optional(),
  /**
   * Ask this node for Storage Commitment (PS3.4 J.3, we are SCU) of what is forwarded to it: a row is done
   * only once its report says the node committed the object (retention keeps the file until then).
   */
  storageCommitment: z.boolean().default(false),
  /** How long to wait for a commitment report before asking again (doubling each time, at most 8 times this). */
  commitmentTimeoutSeconds: numberKey((n) => n.positive()).default(300),
}).strict();

/** The SCP's TLS port (PS3.15 B.1), beside its plain one, on the same address. */
const scpTlsSchema = z.object({
  port: peerPort,
  cert: pemFile,
  key: pemFile,
  /** The CA file client certificates must chain to (with requireClientCert). */
  ca: pemFile.optional(),
  /** Refuse clients without a certificate issued by `ca`. */
  requireClientCert: z.boolean().default(false),
}).strict()
  .refine((t) => !t.requireClientCert || t.ca, {
    message: "requireClientCert needs ca, the CA file client certificates must chain to",
    path: ["ca"],
  })
  .refine((t) => !t.ca || t.requireClientCert, {
    message: "ca is only used to verify client certificates: set requireClientCert: true, or remove ca",
    path: ["ca"],
  });

const condition = z.union([
  z.object({ equals: z.string() }).strict(),
  z.object({ oneOf: z.array(z.string()).min(1) }).strict(),
  z.object({ glob: z.string() }).strict(),
  z.object({ regex: z.string() }).strict(),
  z.object({ present: z.boolean() }).strict(),
  z.object({ absent: z.boolean() }).strict(),
], {
  errorMap: () => ({ message: "expected one of equals, oneOf, glob, regex, present or absent" }),
});

/** One window of a route (its values checked when the routes are compiled, in the transfers' words). */
const routeWindow = z.object({
  start: z.string(),
  end: z.string(),
  timeZone: z.string().optional(),
  days: z.array(z.string()).optional(),
}).strict();

const routeSchema = z.object({
  name: z.string().min(1),
  match: z.object({
    callingAet: z.array(z.string()).optional(),
    calledAet: z.array(z.string()).optional(),
    modality: z.array(z.string()).optional(),
    sopClass: z.array(z.string()).optional(),
    tags: z.record(z.string(), condition).optional(),
  }).strict().default({}),
  exclude: z.object({
    modality: z.array(z.string()).optional(),
    sopClass: z.array(z.string()).optional(),
  }).strict().optional(),
  to: z.array(z.union([
    z.object({ node: z.string() }).strict(),
    z.object({ site: z.string(), node: z.string().optional() }).strict(),
  ], {
    errorMap: () => ({ message: "expected { node: NAME } or { site: NAME, node: NAME }, node optional" }),
  }))
    .min(1),
  /**
   * De-identify before queueing for `to` (PS3.15 Basic Profile with options): the original stays in the
   * archive, the de-identified copy is what is forwarded. The key file defaults to `deid.keyFile`.
   */
  deid: z.object({
    profile: z.literal("basic", { errorMap: () => ({ message: 'the profile is "basic" (PS3.15 E.1)' }) }),
    options: z.array(z.string()).default([]),
    /**
     * A custom profile file (docs/deidentification.md#custom-profiles): actions on tags, ranges and private
     * attributes by creator, over the basic profile; its options add to `options`. Read at start.
     */
    profileFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** Let objects that may carry burned-in text through (held back otherwise). */
    allowBurnedIn: z.boolean().default(false),
  }).strict().optional(),
  /**
   * The hours the route forwards in (HH:MM start and end, an IANA zone or the host's, optional days), one
   * window or a list: outside them its objects are archived and queued, and wait for the opening
   * (routing/windows.ts). Checked by the rules transfers' windows follow (@conduit/shared/transfer-window).
   */
  window: z.union([
    routeWindow,
    z.array(routeWindow).max(MAX_WINDOWS, { message: `at most ${MAX_WINDOWS} windows` }),
  ]).optional(),
}).strict();

export const configSchema = z.object({
  site: z.string().min(1).max(64).regex(/^[a-z0-9][a-z0-9-]*$/, "lower-case letters, digits and dashes")
    .optional(),
  data: z.string().min(1).default("./data/agent"),
  dimse: z.object({
    aet: aet.default("CONDUIT"),
    host: z.string().min(1).default("0.0.0.0"),
    port: port.default(11112),
    allowedCallingAets: z.array(z.string()).default(["*"]),
    checkCalledAet: z.boolean().default(false),
    maxAssociations: numberKey((n) => n.int().min(1).max(1000)).default(32),
    maxPduLength: numberKey((n) => n.int().min(4096).max(4194304)).default(262144),
    idleTimeoutSeconds: seconds.default(300),
    artimTimeoutSeconds: seconds.default(30),
    /** A connection that sends no byte at all is closed after min(this, artimTimeoutSeconds). */
    firstByteTimeoutSeconds: seconds.default(10),
    /** Also accept private (non-DICOM-root) SOP classes as storage. */
    acceptAnySopClass: z.boolean().default(false),
    /** Outstanding operations granted to a requestor that proposes an Asynchronous Operations Window. */
    maxOpsPerformed: numberKey((n) => n.int().min(1).max(64)).default(16),
    /**
     * As the C-GET SCP: C-STORE sub-operations sent before their responses, at most what the requestor
     * proposed to perform at once.
     */
    maxOpsInvoked: numberKey((n) => n.int().min(1).max(64)).default(16),
    maxFindResults: numberKey((n) => n.int().min(1)).default(10000),
    /** fsync each object and its directory before answering (turn off only on battery-backed storage). */
    sync: z.boolean().default(true),
    /**
     * Answer Success once the object is durable in `<data>/incoming`, and commit index and queue rows
     * after, in groups; readers of the archive wait for what was answered (docs/configuration.md).
     * false: each object is committed before its Success.
     */
    groupCommit: z.boolean().default(true),
    /** While group commits fail: how long readers wait for them, and the longest wait between two tries. */
    commitWaitSeconds: seconds.default(10),
    commitRetryCapSeconds: seconds.default(10),
    /**
     * Storage Commitment reports sent on a new association (the requester released its own): attempts
     * before the report is given up, and the wait before the second (doubled before each further one).
     */
    commitmentReportAttempts: numberKey((n) => n.int().min(1).max(20)).default(5),
    commitmentRetrySeconds: numberKey((n) => n.positive()).default(10),
    tls: scpTlsSchema.optional(),
  }).strict().default({}),
  http: z.object({
    host: z.string().min(1).default("127.0.0.1"),
    port: port.default(8181),
  }).strict().default({}),
  hub: z.object({
    /** The hub's tunnel URL, or several hubs' separated by commas (tried in order). */
    url: z.string().superRefine((v, ctx) => {
      const problem = hubUrlsProblem(v);
      if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    }).optional(),
    /**
     * The outbound HTTP proxy to reach the hub through (enrollment, the tunnel, `agent check`):
     * http://[user:password@]host:port, CONNECT to the hub's host and port. Unset: HTTPS_PROXY (wss://) or
     * HTTP_PROXY (ws://) from the environment; NO_PROXY naming the hub's host goes direct either way.
     */
    proxy: z.string().trim().min(1).superRefine((v, ctx) => {
      const problem = proxyUrlProblem(v);
      if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    }).optional(),
    /** PEM file of CA certificates to trust for a wss:// hub (besides the system's). */
    caFile: z.string().optional(),
    /**
     * The site's client certificate and its key (PEM files), for a hub whose TLS front (a proxy, usually)
     * asks for one: mutual TLS on enrollment and the tunnel. Both or neither.
     */
    clientCertFile: z.string().min(1).optional(),
    clientKeyFile: z.string().min(1).optional(),
    /** Reconnect backoff: full jitter over base * 2^attempt, capped. */
    reconnectBaseSeconds: numberKey((n) => n.positive()).default(0.5),
    reconnectCapSeconds: numberKey((n) => n.positive()).default(30),
    /** How long an attempt to open the tunnel's connection may take before it is given up and retried. */
    connectTimeoutSeconds: numberKey((n) => n.positive().max(300)).default(10),
  }).strict().superRefine((h, ctx) => {
    if (Boolean(h.clientCertFile) !== Boolean(h.clientKeyFile)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [h.clientCertFile ? "clientKeyFile" : "clientCertFile"],
        message: "give hub.clientCertFile and hub.clientKeyFile together (the certificate and its key)",
      });
    }
  }).default({}),
  archive: z.object({
    /** Same SOP Instance UID, other bytes: keep the stored object, replace it, or keep both. */
    duplicates: z.enum(["keepFirst", "keepLast", "keepBoth"]).default("keepFirst"),
    /** Below this much free space in the data directory, C-STORE answers 0xA700 before writing. */
    minFreeMegabytes: numberKey((n) => n.min(0)).default(1024),
    /**
     * Remove an archived file this long after every route it took is done (the index keeps a
     * tombstone). Unset: keep everything. Objects that no route takes are never removed.
     */
    removeAfterForwardSeconds: numberKey((n) => n.min(0)).optional(),
    /**
     * Remove an archived file received this many days ago (fractions allowed), routed or not, once
     * nothing of it is left to send: the agent as a cache. Unset: no age limit.
     */
    removeAfterDays: numberKey((n) => n.positive()).optional(),
    /**
     * Keep the archive's files under this many gigabytes (10^9 bytes), removing the oldest first, routed
     * or not, once nothing of them is left to send: the agent as a cache. Unset: no cap.
     */
    maxGigabytes: numberKey((n) => n.positive()).optional(),
  }).strict().default({}),
  queue: z.object({
    /** Associations a destination gets at once. */
    concurrency: numberKey((n) => n.int().min(1).max(16)).default(2),
    /** Objects sent on one association before it is released (at most 120: one context per SOP class and syntax). */
    batchSize: numberKey((n) => n.int().min(1).max(120)).default(100),
    /** Attempts before a row goes to the dead letter. */
    maxAttempts: numberKey((n) => n.int().min(1).max(1000)).default(10),
    backoffBaseSeconds: numberKey((n) => n.positive()).default(2),
    backoffCapSeconds: numberKey((n) => n.positive()).default(600),
    /**
     * On stop, how long the workers may take to finish the C-STORE on the wire (or the association being
     * opened) before their associations are aborted and their rows go back to pending.
     */
    stopGraceSeconds: numberKey((n) => n.positive().max(20)).default(5),
    /** How often the de-identified copies every destination has are removed (their files under <data>/deid). */
    copySweepSeconds: numberKey((n) => n.positive().max(3600)).default(5),
    /** Done rows are deleted this many days after delivery (the conflicts and the index stay). */
    keepDoneDays: numberKey((n) => n.min(0)).default(30),
    /**
     * Dead-letter rows are deleted this many days after they went dead (fractions allowed), with no replay
     * after; their objects then fall to the archive's retention rules. Unset: kept until an operator
     * replays or discards them.
     */
    keepDeadDays: numberKey((n) => n.positive()).optional(),
    /** Retry permanent failures (0xA9xx, 0xCxxx, 0x0122) like transient ones instead of dead-lettering them. */
    retryPermanent: z.boolean().default(false),
  }).strict().default({}),
  nodes: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, "node names are letters, digits, - and _"), nodeSchema)
    .default({}),
  routes: z.array(routeSchema).default([]),
  /**
   * The site's de-identification key (at least 16 bytes; the same file at every site whose pseudonyms must
   * agree): used by transfers that ask for de-identification at this site, and by routes without their own.
   */
  deid: z.object({ keyFile: z.string().min(1).optional() }).strict().default({}),
  render: z.object({
    /** The site's thumbnail cache, under `<data>/thumbnails` (least recently used first out); 0: none. */
    thumbnailCacheMegabytes: numberKey((n) => n.min(0)).default(256),
  }).strict().default({}),
  log: z.object({ level: z.enum(["debug", "info", "warn", "error"]).default("info") }).strict().default({}),
}).strict();

export type AgentConfig = z.infer<typeof configSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;
