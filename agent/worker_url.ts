/**
 * Where a part's worker module is. From source and in a `deno compile` binary (which embeds them with
 * `--include`), beside the part: `agent/<part>/worker.ts`. In the split bundle (deploy/bundle.ts) every
 * chunk sits in one folder, this module's code among them, and the workers are built beside them as
 * `<part>/worker.js`.
 */
export function workerUrl(part: "transcode" | "render" | "deid"): URL {
  const bundled = import.meta.url.endsWith(".js");
  return new URL(bundled ? `./${part}/worker.js` : `./${part}/worker.ts`, import.meta.url);
}
