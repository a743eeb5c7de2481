/**
 * WADO-RS rendered resources (PS3.18 10.4.1.1.3) and thumbnails (10.6): one image, made at the site, as
 * `image/jpeg` (the default) or `image/png` as the Accept header asks (406 for anything else). Query
 * parameters (PS3.18 8.3.5.1): `window=center,width[,function]` (linear, linear-exact, sigmoid),
 * `viewport=vw,vh[,sx,sy,sw,sh]` (the image fits in vw × vh with its aspect kept; sx..sh a region of
 * the frame), `quality` (JPEG, 1 to 100). `annotation` and `iccprofile` are not supported and ignored.
 * A series or study renders one image (its first instance; a thumbnail its middle one), and frames
 * one frame at a time.
 */
import type { Context } from "hono";
import { acceptOf, HttpError } from "../http.ts";
import { backendFor } from "./instances.ts";
import { acceptedImageType } from "./accept.ts";
import type { BackendProvider, RenderQuery } from "../services.ts";

type WindowFunction = NonNullable<RenderQuery["window"]>["function"];

const FUNCTIONS: Record<string, WindowFunction> = {
  "linear": "LINEAR",
  "linear-exact": "LINEAR_EXACT",
  "sigmoid": "SIGMOID",
};

function numbers(name: string, text: string): (number | undefined)[] {
  return text.split(",").map((x) => {
    if (x.trim() === "") return undefined;
    const n = Number(x);
    if (!Number.isFinite(n)) {
      throw new HttpError(400, `${name}=${text}: ${JSON.stringify(x)} is not a number`);
    }
    return n;
  });
}

function positiveInt(
  name: string,
  text: string,
  n: number | undefined,
  allowZero = false,
): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) {
    throw new HttpError(400, `${name}=${text}: expected whole numbers${allowZero ? "" : " above 0"}`);
  }
  return n;
}

/** The rendering parameters of a request's query string; 400 with the reason for a bad one. */
export function renderParameters(url: URL): Pick<RenderQuery, "quality" | "window" | "viewport"> {
  const out: Pick<RenderQuery, "quality" | "window" | "viewport"> = {};
  const quality = url.searchParams.get("quality");
  if (quality !== null) {
    const q = Number(quality);
    if (!Number.isInteger(q) || q < 1 || q > 100) {
      throw new HttpError(400, `quality=${quality}: expected a whole number from 1 to 100`);
    }
    out.quality = q;
  }
  const window = url.searchParams.get("window");
  if (window !== null) {
    const [center, width, fn, ...rest] = window.split(",");
    const name = (fn ?? "linear").trim().toLowerCase() || "linear";
    const c = Number(center), w = Number(width);
    if (
      rest.length || center?.trim() === "" || width?.trim() === "" || !Number.isFinite(c) ||
      !Number.isFinite(w)
    ) {
      throw new HttpError(400, `window=${window}: expected center,width[,function]`);
    }
    const f = FUNCTIONS[name];
    if (!f) throw new HttpError(400, `window=${window}: the function is linear, linear-exact or sigmoid`);
    if (f === "LINEAR" ? w < 1 : w <= 0) {
      throw new HttpError(
        400,
        `window=${window}: the width must be ${f === "LINEAR" ? "at least 1" : "above 0"}`,
      );
    }
    out.window = { center: c, width: w, function: f };
  }
  const viewport = url.searchParams.get("viewport");
  if (viewport !== null) {
    const v = numbers("viewport", viewport);
    if (v.length !== 2 && v.length !== 6) {
      throw new HttpError(400, `viewport=${viewport}: expected vw,vh or vw,vh,sx,sy,sw,sh`);
    }
    const [vw, vh] = [positiveInt("viewport", viewport, v[0]), positiveInt("viewport", viewport, v[1])];
    if (vw === undefined && vh === undefined) {
      throw new HttpError(400, `viewport=${viewport}: give the width, the height or both`);
    }
    if ((vw ?? 0) > 65535 || (vh ?? 0) > 65535) throw new HttpError(400, `viewport=${viewport}: too large`);
    out.viewport = { ...(vw ? { width: vw } : {}), ...(vh ? { height: vh } : {}) };
    if (v.length === 6) {
      if (v.slice(2).some((x) => x === undefined)) {
        throw new HttpError(400, `viewport=${viewport}: give all of sx,sy,sw,sh, or none`);
      }
      if ((v[4] ?? 0) < 0 || (v[5] ?? 0) < 0) {
        throw new HttpError(400, `viewport=${viewport}: flipping (a negative sw or sh) is not supported`);
      }
      out.viewport.region = {
        x: positiveInt("viewport", viewport, v[2], true)!,
        y: positiveInt("viewport", viewport, v[3], true)!,
        width: positiveInt("viewport", viewport, v[4])!,
        height: positiveInt("viewport", viewport, v[5])!,
      };
    }
  }
  return out;
}

/** The one frame a `/frames/{list}/rendered` (or thumbnail) path names. */
export function singleFrame(list: string): number {
  if (!/^\d+(,\d+)*$/.test(list)) {
    throw new HttpError(400, `frame list ${JSON.stringify(list)}: give 1-based numbers, comma-separated`);
  }
  const frames = list.split(",").map(Number);
  if (frames.length > 1) throw new HttpError(400, "rendered frames are served one frame at a time");
  if (frames[0] < 1) throw new HttpError(400, "frame numbers start at 1");
  return frames[0];
}

export async function rendered(
  c: Context,
  provider: BackendProvider,
  target: Pick<RenderQuery, "studyInstanceUid" | "seriesInstanceUid" | "sopInstanceUid" | "frame">,
  thumbnail: boolean,
): Promise<Response> {
  const media = acceptedImageType(acceptOf(c));
  const params = renderParameters(new URL(c.req.url));
  const backend = await backendFor(c, provider, target.studyInstanceUid);
  const image = await backend.wado.render(
    { ...target, media, ...params, ...(thumbnail ? { thumbnail } : {}) },
  );
  const bytes = image.bytes[Symbol.asyncIterator]();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await bytes.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      } catch (err) {
        controller.error(err);
      }
    },
    async cancel() {
      await bytes.return?.(undefined);
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": image.mediaType, "content-length": String(image.size) },
  });
}
