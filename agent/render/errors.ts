/** Why an image is not rendered; both keep their class across the worker boundary (mod.ts). */

/** An image this site cannot render (not an image, a syntax or layout it does not decode): 406. */
export class RenderError extends Error {
  override name = "RenderError";
}

/** A frame that does not exist, or an instance without pixel data: 404. */
export class FrameNotFoundError extends Error {
  override name = "FrameNotFoundError";
}

/** A request the image cannot answer as asked (a viewport region outside the frame): 400. */
export class RenderRequestError extends Error {
  override name = "RenderRequestError";
}
