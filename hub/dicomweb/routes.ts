/**
 * `/dicomweb`: QIDO-RS, WADO-RS (rendered resources and thumbnails included) and STOW-RS for one
 * site (`/sites/{site}`: its agent's archive), one node of a site (`/sites/{site}/nodes/{node}`), and
 * federated over every site (`/`, where QIDO merges and retrieval by UID finds the site). Every request carries an API token or a console
 * session; every route is registered through `on`, which takes its action from the role matrix
 * (hub/auth/permissions.ts) and checks the role, the site and node names (400) and the principal's
 * sites (403) before the route runs. Any other path is a 404 problem object.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { Logger } from "@conduit/shared/log";
import { quoted } from "@conduit/shared/quote";
import { type AuthEnv, requireAuth } from "../auth/middleware.ts";
import type { ApiTokens } from "../auth/tokens.ts";
import type { Users } from "../auth/users.ts";
import {
  AccessError,
  type Action,
  authorize,
  DICOMWEB_ROOTS,
  DICOMWEB_SITE_ROUTES,
  dicomwebAction,
} from "../auth/permissions.ts";
import { actorOf } from "../auth/tokens.ts";
import { ErasureUnsupportedError, type SiteErasure } from "../sites/erasure.ts";
import { type BackendProvider, BackendUnavailableError, type InstancePath } from "./services.ts";
import { checkUid, HttpError, problem } from "./http.ts";
import { problem as problemResponse } from "../problem.ts";
import { qido } from "./qido/route.ts";
import { wadoInstances } from "./wado/instances.ts";
import type { FederationEnv } from "./federation.ts";
import { stow, type StowOptions } from "./stow/route.ts";
import { bulkdata, metadata } from "./wado/metadata.ts";
import { frames } from "./wado/frames.ts";
import { rendered, singleFrame } from "./wado/rendered.ts";
import { BodyError } from "./stow/spool.ts";
import {
  SiteNotConnectedError,
  SiteRequestError,
  SiteUnavailableError,
  UnknownSiteError,
} from "../tunnel/errors.ts";
import { SessionClosedError, StreamResetError } from "@conduit/shared/tunnel";
import type { HubMetrics } from "../metrics.ts";
import { dicomwebMetrics } from "./metrics.ts";
import { dicomwebStallBound } from "./stall.ts";
import {
  DATABASE_RETRY_AFTER_S,
  databaseAwayMessage,
  databaseAwayReason,
  isDatabaseAway,
} from "../db/errors.ts";

/** Site and node names, as the tunnel carries them. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Checks the path's names, then the principal against the route's action and the path's site. */
function guard(action: Action): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const site = c.req.param("site");
    const node = c.req.param("node");
    for (const [what, value] of [["site", site], ["node", node]] as const) {
      if (value !== undefined && !NAME.test(value)) {
        throw new HttpError(
          400,
          `${what} ${quoted(value)} is not a valid name (letters, digits, . _ -, at most 64)`,
        );
      }
    }
    authorize(c.get("principal"), action, site ? [site] : []);
    await next();
  };
}

type Handler = (c: Context<AuthEnv>) => Response | Promise<Response>;

export interface DicomwebOptions extends StowOptions {
  /** DELETE of a study, series or instance at a site (hub/sites/erasure.ts); without it DELETE is 405. */
  erase?: Pick<SiteErasure, "erase">;
  /** The hub's metrics, where each request is counted and timed by kind (./metrics.ts). */
  metrics?: HubMetrics;
  /** `dicomweb.stallSeconds`: an answer whose client takes no bytes this long is cancelled (./stall.ts). */
  stallSeconds?: number;
  /** `dicomweb.federatedSiteSeconds` in ms: how long a federated QIDO-RS, or a federated retrieval finding its study, waits for each site (../federation.ts). */
  federatedSiteMs?: number;
}

/** The DICOMweb routes behind API tokens and console sessions. */
export function dicomwebRoutes(
  provider: BackendProvider,
  tokens: ApiTokens,
  users: Users,
  options: DicomwebOptions,
  log: Logger,
): Hono<AuthEnv> {
  return dicomwebApp(provider, requireAuth(tokens, users), options, log);
}

/**
 * The DICOMweb routes over `provider`, behind `authenticate` (which sets the request's principal):
 * tests give an in-memory provider (./testing.ts) and a fixed principal.
 */
export function dicomwebApp(
  provider: BackendProvider,
  authenticate: MiddlewareHandler<AuthEnv>,
  options: DicomwebOptions,
  log: Logger,
): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  // First, so that its body is the one the server reads (the metrics count what it lets through).
  if (options.stallSeconds) {
    app.use("*", dicomwebStallBound(options.stallSeconds, log, options.metrics));
  }
  if (options.metrics) app.use("*", dicomwebMetrics(options.metrics));
  if (options.federatedSiteMs) {
    // For the routes that find a study's site (./wado/instances.ts).
    const ms = options.federatedSiteMs;
    app.use("*", async (c, next) => {
      (c as unknown as Context<FederationEnv>).set("federatedSiteMs", ms);
      await next();
    });
  }
  app.use("*", authenticate);
  app.onError((err, c) => {
    if (err instanceof BodyError) {
      log.warn("DICOMweb upload dropped", { path: c.req.path, reason: err.message });
    }
    if (err instanceof HttpError) return problem(c, err.status, err.message, err.warning);
    if (err instanceof AccessError) return problem(c, 403, err.message);
    if (err instanceof UnknownSiteError) return problem(c, 404, err.message);
    if (err instanceof ErasureUnsupportedError) return problem(c, 501, err.message);
    if (
      err instanceof BackendUnavailableError || err instanceof SiteUnavailableError ||
      err instanceof SessionClosedError || err instanceof SiteNotConnectedError
    ) {
      return problem(c, 503, err.message);
    }
    if (err instanceof StreamResetError) {
      // The site's agent broke the request off (it reset the stream) before answering.
      return problem(c, 502, "the site broke the request off before answering: try again");
    }
    if (err instanceof SiteRequestError) {
      const status = err.code === "unknown-node" || err.code === "not-found"
        ? 404
        : err.code === "not-renderable"
        ? 406
        : err.code === "bad-request"
        ? 400
        : err.code === "timeout"
        ? 504
        : err.code === "unavailable"
        ? 503
        : 502;
      return problem(c, status, `the site answered: ${err.message}`);
    }
    if (isDatabaseAway(err)) {
      log.warn("DICOMweb request refused: the database is away", {
        path: c.req.path,
        reason: databaseAwayReason(err),
      });
      return problemResponse(c, 503, databaseAwayMessage(err), {
        "retry-after": String(DATABASE_RETRY_AFTER_S),
      });
    }
    log.error("DICOMweb request failed", { path: c.req.path, err });
    return problem(c, 500 as 502, "internal error");
  });
  const onStreamError = (err: unknown) =>
    log.warn("DICOMweb response cut short", { reason: (err as Error).message });

  /** The methods each registered path answers, for the 405 of the others. */
  const methods = new Map<string, Set<string>>();
  /** Registers `path` under every root, guarded by its action in the role matrix. */
  const on = (method: "GET" | "POST", path: string, handler: Handler) => {
    const action = dicomwebAction(method, path);
    if (!action) throw new Error(`DICOMweb route ${method} ${path} has no entry in the role matrix`);
    for (const root of DICOMWEB_ROOTS) app.on(method, root + path, guard(action), handler);
    methods.set(path, (methods.get(path) ?? new Set()).add(method));
  };
  const study = (c: Context) => checkUid("study", c.req.param("study"))!;
  const uids = (c: Context) => ({
    studyInstanceUid: study(c),
    seriesInstanceUid: checkUid("series", c.req.param("series")),
    sopInstanceUid: checkUid("instance", c.req.param("instance")),
  });
  /** The instance of a path under `I`: its study and series are checked by the site that holds it. */
  const instanceAt = (c: Context): InstancePath => {
    const u = uids(c);
    return {
      studyInstanceUid: u.studyInstanceUid,
      seriesInstanceUid: u.seriesInstanceUid,
      sopInstanceUid: u.sopInstanceUid!,
    };
  };
  const I = "/studies/:study/series/:series/instances/:instance";

  // QIDO-RS
  on("GET", "/studies", (c) => qido(c, provider, options, "STUDY", {}));
  on("GET", "/series", (c) => qido(c, provider, options, "SERIES", {}));
  on("GET", "/instances", (c) => qido(c, provider, options, "IMAGE", {}));
  on(
    "GET",
    "/studies/:study/series",
    (c) => qido(c, provider, options, "SERIES", { StudyInstanceUID: study(c) }),
  );
  on(
    "GET",
    "/studies/:study/instances",
    (c) => qido(c, provider, options, "IMAGE", { StudyInstanceUID: study(c) }),
  );
  on("GET", "/studies/:study/series/:series/instances", (c) =>
    qido(c, provider, options, "IMAGE", {
      StudyInstanceUID: study(c),
      SeriesInstanceUID: checkUid("series", c.req.param("series")),
    }));
  // WADO-RS
  on(
    "GET",
    "/studies/:study",
    (c) => wadoInstances(c, provider, { studyInstanceUid: study(c) }, onStreamError),
  );
  on("GET", "/studies/:study/series/:series", (c) => {
    const { studyInstanceUid, seriesInstanceUid } = uids(c);
    return wadoInstances(c, provider, { studyInstanceUid, seriesInstanceUid }, onStreamError);
  });
  on("GET", I, (c) => wadoInstances(c, provider, uids(c), onStreamError));
  // WADO-RS metadata and bulk data
  on("GET", "/studies/:study/metadata", (c) => metadata(c, provider, options, uids(c)));
  on("GET", "/studies/:study/series/:series/metadata", (c) => metadata(c, provider, options, uids(c)));
  on("GET", `${I}/metadata`, (c) => metadata(c, provider, options, uids(c)));
  on(
    "GET",
    `${I}/bulkdata/:path{.+}`,
    (c) => bulkdata(c, provider, instanceAt(c), c.req.param("path")!, onStreamError),
  );
  on(
    "GET",
    `${I}/frames/:list`,
    (c) => frames(c, provider, instanceAt(c), c.req.param("list")!, onStreamError),
  );
  // Rendered resources and thumbnails, made at the site.
  const levels = ["/studies/:study", "/studies/:study/series/:series", I, `${I}/frames/:list`];
  for (const level of levels) {
    for (const kind of ["rendered", "thumbnail"] as const) {
      on("GET", `${level}/${kind}`, (c) => {
        const list = c.req.param("list");
        return rendered(
          c,
          provider,
          { ...uids(c), ...(list ? { frame: singleFrame(list) } : {}) },
          kind === "thumbnail",
        );
      });
    }
  }
  // STOW-RS
  on("POST", "/studies", (c) => stow(c, provider, options));
  on("POST", "/studies/:study", (c) => stow(c, provider, options, study(c)));

  // Erasure: a study, series or instance taken out of one site for good (hub/sites/erasure.ts).
  const erase = options.erase;
  if (erase) {
    for (const [key, action] of Object.entries(DICOMWEB_SITE_ROUTES)) {
      const path = key.slice("DELETE ".length);
      app.delete(`/sites/:site${path}`, guard(action), async (c) => {
        const { studyInstanceUid, seriesInstanceUid, sopInstanceUid } = uids(c);
        const target = {
          studyInstanceUid,
          ...(seriesInstanceUid ? { seriesInstanceUid } : {}),
          ...(sopInstanceUid ? { sopInstanceUid } : {}),
        };
        return c.json(await erase.erase(c.req.param("site")!, target, actorOf(c.get("principal"))));
      });
    }
  }

  // A resource asked with another method (DELETE, PUT...) exists: 405 with what it allows, not a 404.
  for (const [path, allowed] of methods) {
    const erasable = erase !== undefined && `DELETE ${path}` in DICOMWEB_SITE_ROUTES;
    for (const root of DICOMWEB_ROOTS) {
      const allow = [
        ...allowed,
        ...(allowed.has("GET") ? ["HEAD"] : []),
        ...(erasable && root === "/sites/:site" ? ["DELETE"] : []),
      ].join(", ");
      const hint = erasable && root !== "/sites/:site"
        ? ": erase at the site that holds it (DELETE /dicomweb/sites/{site}/studies/...)"
        : "";
      app.all(
        root + path,
        (c) => problemResponse(c, 405, `${c.req.method} is not allowed on ${c.req.path}${hint}`, { allow }),
      );
    }
  }
  app.all("*", (c) => problem(c, 404, `no DICOMweb resource at ${c.req.path}`));
  return app;
}
