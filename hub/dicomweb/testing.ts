/**
 * An in-memory DICOMweb backend for route tests (`app.request()`, no agent, no tunnel): sites holding
 * Part 10 objects (from the generator), searched with a small subset of C-FIND matching (single values,
 * `*` and `?` wildcards, UID lists, date ranges), retrieved as stored, frames of native pixel data, a
 * stored rendered image, and a store that keeps what it gets. The real backend is the tunnel
 * (./tunnel_backend.ts); tests/dicomweb runs the routes against real agents.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import {
  attributeByTag,
  datasetToJson,
  type DicomJson,
  encodingOf,
  findElement,
  jsonText,
  parseDataSet,
  PIXEL_DATA,
  readPart10Header,
  tagByKeyword,
  tagHex,
} from "@conduit/shared/dicom";
import { Hono, type MiddlewareHandler } from "hono";
import { Logger } from "@conduit/shared/log";
import type { ObjectHeader } from "@conduit/shared/tunnel";
import type { AuthEnv } from "../auth/middleware.ts";
import type { Principal } from "../auth/tokens.ts";
import { generateInstance, type InstanceSpec } from "@conduit/shared/testing";
import { SiteRequestError } from "../tunnel/errors.ts";
import {
  type BackendProvider,
  BackendUnavailableError,
  type DicomwebBackend,
  UnknownSiteError,
} from "./services.ts";
import type { QidoLevel, QidoQuery, QidoService } from "./qido/service.ts";
import type {
  FramesResult,
  InstancePath,
  RenderQuery,
  RetrievedObject,
  RetrieveQuery,
  WadoService,
} from "./wado/service.ts";
import type { StoreResult, StowObject, StowService } from "./stow/service.ts";
import { dicomwebApp, type DicomwebOptions } from "./routes.ts";
import { multipartRelated, parseMultipart } from "./multipart.ts";

/** One object a memory site holds: its header, data set bytes, DICOM JSON and native frames. */
export interface MemoryObject {
  header: ObjectHeader;
  dataset: Uint8Array;
  json: DicomJson;
  frames: Uint8Array[];
}

/** Reads a Part 10 object into what the memory backend serves. */
export function memoryObject(part10: Uint8Array): MemoryObject {
  const meta = readPart10Header(part10);
  const dataset = part10.slice(meta.datasetOffset);
  const encoding = encodingOf(meta.transferSyntax);
  const { dataset: ds } = parseDataSet(dataset, encoding);
  const json = datasetToJson(dataset, ds, {
    littleEndian: encoding.littleEndian,
    bulk: (path) => `bulkdata/${path}`,
    inlineLimit: 0,
  });
  const pixels = findElement(ds, PIXEL_DATA);
  const frameCount = Number(jsonText(json, "NumberOfFrames") || "1");
  const frames: Uint8Array[] = [];
  if (pixels && pixels.length > 0) {
    const each = pixels.length / frameCount;
    for (let i = 0; i < frameCount; i++) {
      frames.push(dataset.slice(pixels.valueOffset + i * each, pixels.valueOffset + (i + 1) * each));
    }
  }
  return {
    header: {
      type: "object",
      sopInstanceUid: meta.sopInstanceUid!,
      sopClassUid: meta.sopClassUid!,
      transferSyntax: meta.transferSyntax,
      size: dataset.length,
      sha256: createHash("sha256").update(dataset).digest("hex"),
    },
    dataset,
    json,
    frames,
  };
}

/** A site of the memory backend. */
export class MemorySite {
  readonly objects: MemoryObject[];
  /** Whether it answers (false: BackendUnavailableError, as an offline site). */
  online = true;
  /** Added, never enrolled. */
  pending = false;
  /** What `store` refuses, by SOP Instance UID, with its PS3.18 FailureReason. */
  readonly refuse = new Map<string, number>();
  /** Whose `store` fails as if the site's tunnel closed under it (a `lost` result), by SOP Instance UID. */
  readonly loseTunnelAt = new Set<string>();
  /** Every SOP Instance UID `store` was asked for, in order. */
  readonly storesAsked: string[] = [];
  /** The image `render` answers with. */
  rendered = { mediaType: "image/png", bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47]) };
  /** Each render asked, as asked. */
  readonly renders: RenderQuery[] = [];

  constructor(specs: InstanceSpec[] = []) {
    this.objects = specs.map((s) => memoryObject(generateInstance(s)));
  }
}

/** Whether `value` matches a C-FIND match key (PS3.4 C.2.2.2, the subset said above). */
function matches(key: string, value: string, vr: string | undefined): boolean {
  if (key === "") return true;
  if (key.includes("\\")) return key.split("\\").includes(value);
  if ((vr === "DA" || vr === "TM") && key.includes("-")) {
    const [from, to] = key.split("-");
    return (!from || value >= from) && (!to || value <= to);
  }
  if (/[*?]/.test(key)) {
    const re = key.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".");
    return new RegExp(`^${re}$`).test(value);
  }
  return key === value;
}

const LEVEL_KEY: Record<QidoLevel, string> = {
  STUDY: "StudyInstanceUID",
  SERIES: "SeriesInstanceUID",
  IMAGE: "SOPInstanceUID",
};

class MemoryQido implements QidoService {
  constructor(private readonly site: MemorySite) {}

  async *search(query: QidoQuery, _signal?: AbortSignal): AsyncGenerator<DicomJson> {
    const seen = new Set<string>();
    let sent = 0;
    for (const o of this.site.objects) {
      const ok = Object.entries(query.keys).every(([keyword, key]) => {
        const tag = tagByKeyword(keyword);
        return matches(
          key,
          jsonText(o.json, keyword),
          tag === undefined ? undefined : attributeByTag(tag)?.vr,
        );
      });
      const id = jsonText(o.json, LEVEL_KEY[query.level]);
      if (!ok || seen.has(id)) continue;
      seen.add(id);
      if (seen.size <= (query.offset ?? 0)) continue;
      if (query.limit !== undefined && sent++ >= query.limit) return;
      yield pick(o.json, Object.keys(query.keys));
    }
  }
}

/** The attributes of `json` named by `keywords` (those it lacks are left out). */
function pick(json: DicomJson, keywords: string[]): DicomJson {
  const out: DicomJson = {};
  for (const keyword of keywords) {
    const tag = tagByKeyword(keyword);
    const hex = tag === undefined ? undefined : tagHex(tag);
    if (hex && json[hex]) out[hex] = json[hex];
  }
  return out;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

class MemoryWado implements WadoService {
  constructor(private readonly site: MemorySite) {}

  #select(q: RetrieveQuery): MemoryObject[] {
    return this.site.objects.filter((o) =>
      jsonText(o.json, "StudyInstanceUID") === q.studyInstanceUid &&
      (!q.seriesInstanceUid || jsonText(o.json, "SeriesInstanceUID") === q.seriesInstanceUid) &&
      (!q.sopInstanceUid || o.header.sopInstanceUid === q.sopInstanceUid) &&
      !q.skip?.includes(o.header.sopInstanceUid)
    );
  }

  /** The instance of a WADO-RS path, as an agent finds it: in that study and series, or not-found. */
  #instance(at: InstancePath): MemoryObject {
    const [o] = this.#select(at);
    if (!o) throw new SiteRequestError("not-found", "no such instance");
    return o;
  }

  async *retrieve(query: RetrieveQuery, _signal?: AbortSignal): AsyncGenerator<RetrievedObject> {
    for (const o of this.#select(query)) yield { header: o.header, bytes: once(o.dataset) };
  }

  async *metadata(query: RetrieveQuery, _signal?: AbortSignal): AsyncGenerator<DicomJson> {
    for (const o of this.#select(query)) yield structuredClone(o.json);
  }

  frames(instance: InstancePath, frames: number[]): Promise<FramesResult> {
    const o = this.#instance(instance);
    for (const n of frames) {
      if (n > o.frames.length) throw new SiteRequestError("not-found", `no frame ${n}`);
    }
    return Promise.resolve({
      transferSyntax: o.header.transferSyntax,
      encapsulated: false,
      frames: (async function* () {
        for (const n of frames) yield once(o.frames[n - 1]);
      })(),
    });
  }

  bulkdata(instance: InstancePath, path: string, _signal?: AbortSignal) {
    const o = this.#instance(instance);
    if (path !== "7FE00010" || !o.frames.length) {
      throw new SiteRequestError("not-found", `no bulk value ${path}`);
    }
    const bytes = new Uint8Array(o.frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of o.frames) bytes.set(f, at), at += f.length;
    const parts = (async function* () {
      yield { size: bytes.length, bytes: once(bytes) };
    })();
    return Promise.resolve({ parts, cancel: () => {} });
  }

  render(query: RenderQuery, _signal?: AbortSignal) {
    this.site.renders.push(query);
    const { mediaType, bytes } = this.site.rendered;
    return Promise.resolve({ mediaType, size: bytes.length, bytes: once(bytes) });
  }
}

class MemoryStow implements StowService {
  constructor(private readonly site: MemorySite) {}

  async store(object: StowObject, _signal?: AbortSignal): Promise<StoreResult> {
    const { sopInstanceUid, sopClassUid } = object.header;
    this.site.storesAsked.push(sopInstanceUid);
    if (this.site.loseTunnelAt.has(sopInstanceUid)) {
      return {
        sopInstanceUid,
        sopClassUid,
        ok: false,
        failureReason: 0x0110,
        message: "session closed",
        lost: true,
      };
    }
    const refused = this.site.refuse.get(sopInstanceUid);
    if (refused !== undefined) {
      const message = `the site refused it (0x${refused.toString(16)})`;
      return { sopInstanceUid, sopClassUid, ok: false, failureReason: refused, message };
    }
    // The spooled file is the whole part: its File Meta group, then the data set.
    this.site.objects.push(memoryObject(new Uint8Array(await fs.promises.readFile(object.path))));
    return { sopInstanceUid, sopClassUid, ok: true };
  }
}

/** Sites in memory, each answering the three transactions. */
export class MemoryBackendProvider implements BackendProvider {
  constructor(readonly memory: Record<string, MemorySite>) {}

  backend(site: string, node?: string): Promise<DicomwebBackend> {
    const s = this.memory[site];
    if (!s) return Promise.reject(new UnknownSiteError(`unknown site ${site}`));
    if (!s.online || s.pending) return Promise.reject(new BackendUnavailableError(`site ${site} is offline`));
    return Promise.resolve({
      site,
      node,
      qido: new MemoryQido(s),
      wado: new MemoryWado(s),
      stow: new MemoryStow(s),
    });
  }

  sites() {
    return Promise.resolve(
      Object.entries(this.memory).map(([site, s]) => ({ site, online: s.online, pending: s.pending })),
    );
  }
}

/** The DICOMweb routes over memory sites, as a principal (an admin of every site unless told). */
export function memoryDicomweb(
  memory: Record<string, MemorySite>,
  principal: Principal = { kind: "token", id: "t", name: "test", role: "admin" },
  options: Partial<DicomwebOptions> = {},
): { request(path: string, init?: RequestInit): Promise<Response>; spoolDir: string } {
  const spoolDir = Deno.makeTempDirSync({ prefix: "dicomweb-spool-" });
  const app = new Hono();
  const authenticate: MiddlewareHandler<AuthEnv> = async (c, next) => {
    c.set("principal", principal);
    await next();
  };
  app.route(
    "/dicomweb",
    dicomwebApp(new MemoryBackendProvider(memory), authenticate, {
      publicUrl: "http://hub.test",
      trustForwarded: false,
      spoolDir,
      maxStowBytes: 64 * 1024 * 1024,
      stowIdleMs: 5_000,
      ...options,
    }, new Logger({}, "error", { write: () => {} })),
  );
  return { request: (path, init) => Promise.resolve(app.request(path, init)), spoolDir };
}

/** A multipart/related response read whole: each part's Content-Type and bytes. */
export async function responseParts(res: Response): Promise<{ type: string; body: Uint8Array }[]> {
  const boundary = multipartRelated(res.headers.get("content-type") ?? "")?.boundary;
  if (!boundary) throw new Error(`not a multipart response: ${res.headers.get("content-type")}`);
  const out: { type: string; body: Uint8Array }[] = [];
  for await (const p of parseMultipart(res.body!, boundary)) {
    const chunks: Uint8Array[] = [];
    for await (const c of p.body) chunks.push(c);
    out.push({ type: p.headers.get("content-type") ?? "", body: concat(chunks) });
  }
  return out;
}

/** A STOW-RS request body: each part as application/dicom (unless its type says otherwise). */
export function multipartRequest(
  parts: { bytes: Uint8Array; type?: string }[],
): { body: Uint8Array<ArrayBuffer>; contentType: string } {
  const boundary = `test-${crypto.randomUUID()}`;
  const text = new TextEncoder();
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    chunks.push(
      text.encode(`--${boundary}\r\nContent-Type: ${p.type ?? "application/dicom"}\r\n\r\n`),
      p.bytes,
    );
    chunks.push(text.encode("\r\n"));
  }
  chunks.push(text.encode(`--${boundary}--\r\n`));
  return {
    body: concat(chunks),
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}

function concat(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) out.set(c, at), at += c.length;
  return out;
}
