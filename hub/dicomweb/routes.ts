/**
 * `/dicomweb`: QIDO-RS, WADO-RS and STOW-RS for one site (`/sites/{site}`: its agent's archive),
 * one node of a site (`/sites/{site}/nodes/{node}`), and federated over every site (`/`, where
 * QIDO merges and retrieval by UID finds the site). Every request carries an API token.
 */
import { Hono } from "hono";
import type { Logger } from "@conduit/shared/log.ts";
import { type AuthEnv, requireAuth } from "../auth/middleware.ts";
import type { ApiTokens } from "../auth/tokens.ts";
import type { Users } from "../auth/users.ts";
import { type BackendProvider, BackendUnavailableError, UnknownSiteError } from "./services.ts";
import { checkUid, HttpError, problem } from "./http.ts";
import { qido } from "./qido_route.ts";
import { wadoInstances } from "./wado_route.ts";
import { stow, type StowOptions } from "./stow_route.ts";
import { bulkdata, metadata } from "./metadata_route.ts";
import { frames } from "./frames_route.ts";
import { SiteRequestError, SiteUnavailableError } from "../tunnel/errors.ts";
import { SessionClosedError } from "@conduit/shared/tunnel/mod.ts";

export type DicomwebOptions = StowOptions;

export function dicomwebRoutes(
  provider: BackendProvider,
  tokens: ApiTokens,
  users: Users,
  options: DicomwebOptions,
  log: Logger,
) {
  const app = new Hono<AuthEnv>();
  app.use("*", requireAuth(tokens, users));
  app.onError((err, c) => {
    if (err instanceof HttpError) return problem(c, err.status, err.message, err.warning);
    if (err instanceof UnknownSiteError) return problem(c, 404, err.message);
    if (
      err instanceof BackendUnavailableError || err instanceof SiteUnavailableError ||
      err instanceof SessionClosedError
    ) {
      return problem(c, 503, err.message);
    }
    if (err instanceof SiteRequestError) {
      const status = err.code === "unknown-node" || err.code === "not-found"
        ? 404
        : err.code === "timeout"
        ? 504
        : 502;
      return problem(c, status, `the site answered: ${err.message}`);
    }
    log.error("DICOMweb request failed", { path: c.req.path, err });
    return problem(c, 500 as 502, "internal error");
  });
  const onStreamError = (err: unknown) =>
    log.warn("DICOMweb response cut short", { reason: (err as Error).message });

  for (const prefix of ["", "/sites/:site", "/sites/:site/nodes/:node"]) {
    // QIDO-RS
    app.get(`${prefix}/studies`, (c) => qido(c, provider, options, "STUDY", {}));
    app.get(`${prefix}/series`, (c) => qido(c, provider, options, "SERIES", {}));
    app.get(`${prefix}/instances`, (c) => qido(c, provider, options, "IMAGE", {}));
    app.get(
      `${prefix}/studies/:study/series`,
      (c) =>
        qido(c, provider, options, "SERIES", { StudyInstanceUID: checkUid("study", c.req.param("study")) }),
    );
    app.get(
      `${prefix}/studies/:study/instances`,
      (c) =>
        qido(c, provider, options, "IMAGE", { StudyInstanceUID: checkUid("study", c.req.param("study")) }),
    );
    app.get(`${prefix}/studies/:study/series/:series/instances`, (c) =>
      qido(c, provider, options, "IMAGE", {
        StudyInstanceUID: checkUid("study", c.req.param("study")),
        SeriesInstanceUID: checkUid("series", c.req.param("series")),
      }));
    // WADO-RS
    app.get(
      `${prefix}/studies/:study`,
      (c) =>
        wadoInstances(
          c,
          provider,
          { studyInstanceUid: checkUid("study", c.req.param("study"))! },
          onStreamError,
        ),
    );
    app.get(`${prefix}/studies/:study/series/:series`, (c) =>
      wadoInstances(c, provider, {
        studyInstanceUid: checkUid("study", c.req.param("study"))!,
        seriesInstanceUid: checkUid("series", c.req.param("series")),
      }, onStreamError));
    app.get(`${prefix}/studies/:study/series/:series/instances/:instance`, (c) =>
      wadoInstances(c, provider, {
        studyInstanceUid: checkUid("study", c.req.param("study"))!,
        seriesInstanceUid: checkUid("series", c.req.param("series")),
        sopInstanceUid: checkUid("instance", c.req.param("instance")),
      }, onStreamError));
    // WADO-RS metadata and bulk data
    const uids = (c: { req: { param(n: string): string | undefined } }) => ({
      studyInstanceUid: checkUid("study", c.req.param("study"))!,
      seriesInstanceUid: checkUid("series", c.req.param("series")),
      sopInstanceUid: checkUid("instance", c.req.param("instance")),
    });
    app.get(`${prefix}/studies/:study/metadata`, (c) => metadata(c, provider, options, uids(c)));
    app.get(
      `${prefix}/studies/:study/series/:series/metadata`,
      (c) => metadata(c, provider, options, uids(c)),
    );
    app.get(
      `${prefix}/studies/:study/series/:series/instances/:instance/metadata`,
      (c) => metadata(c, provider, options, uids(c)),
    );
    app.get(`${prefix}/studies/:study/series/:series/instances/:instance/bulkdata/:path{.+}`, (c) => {
      const u = uids(c);
      return bulkdata(
        c,
        provider,
        { studyInstanceUid: u.studyInstanceUid, sopInstanceUid: u.sopInstanceUid! },
        c.req.param("path"),
        onStreamError,
      );
    });
    app.get(`${prefix}/studies/:study/series/:series/instances/:instance/frames/:list`, (c) => {
      const u = uids(c);
      return frames(
        c,
        provider,
        { studyInstanceUid: u.studyInstanceUid, sopInstanceUid: u.sopInstanceUid! },
        c.req.param("list"),
        onStreamError,
      );
    });
    // STOW-RS
    app.post(`${prefix}/studies`, (c) => stow(c, provider, options));
    app.post(
      `${prefix}/studies/:study`,
      (c) => stow(c, provider, options, checkUid("study", c.req.param("study"))),
    );
  }
  return app;
}
