/**
 * HEAD requests answered as GET without the body. Hono's own HEAD handling runs the GET route and
 * drops its body without cancelling it: a streamed answer (a WADO-RS retrieval from a site) was left
 * running with nobody reading it, and Deno then sent `content-length: 0`, which a HEAD response must not
 * claim when GET would send more (RFC 9110 9.3.2). Here the GET answer's body is cancelled at once (the
 * route's cancel hook ends the site's stream) and its headers go out with an empty body: an exact
 * `content-length` stays, a streamed one stays unsaid.
 */
type Fetch<I> = (req: Request, info: I) => Response | Promise<Response>;

export function withHead<I>(fetch: Fetch<I>): Fetch<I> {
  return async (req, info) => {
    if (req.method !== "HEAD") return await fetch(req, info);
    const res = await fetch(new Request(req, { method: "GET" }), info);
    await res.body?.cancel().catch(() => {});
    const empty = new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
    return new Response(empty, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
