/**
 * One worker thread for pixel work (transcoding, rendering), so that decoding never stalls the event
 * loop the tunnel's heartbeats ride on. Requests queue in the worker and run one at a time; the worker is
 * started on first use and stopped after a while idle (it holds the codecs' memory). Where no worker can
 * start (a bundled build has no worker module beside it), the work runs in the calling thread instead.
 * A worker that crashes on an input fails the requests it held; the next request starts a new one.
 *
 * The worker side is `serveRequests` (worker_host.ts): `{ id, request }` in, `{ id, result }` or
 * `{ id, error }` out.
 */

/** How long an idle worker is kept before it is stopped. */
const IDLE_MS = 30_000;

export interface WorkerClientOptions<Req, Res> {
  /** The same work in this thread, where no worker starts. */
  inThread: (request: Req) => Promise<Res>;
  /** The error a failure becomes, from its message and the class name of the error thrown. */
  error: (message: string, name?: string) => Error;
  /** Buffers moved (not copied) to the worker with a request. */
  transfer?: (request: Req) => Transferable[];
  idleMs?: number;
}

interface Pending<Req, Res> {
  request: Req;
  resolve: (result: Res) => void;
  reject: (err: Error) => void;
}

export class WorkerClient<Req, Res> {
  #worker?: Worker;
  #pending = new Map<number, Pending<Req, Res>>();
  #next = 1;
  #idle?: ReturnType<typeof setTimeout>;
  #broken = false;

  constructor(private readonly url: URL, private readonly options: WorkerClientOptions<Req, Res>) {}

  #start(): Worker | undefined {
    if (this.#worker || this.#broken) return this.#worker;
    try {
      const worker = new Worker(this.url.href, { type: "module" });
      let answered = false;
      worker.onmessage = (e: MessageEvent<{ id: number; result?: Res; error?: string; name?: string }>) => {
        answered = true;
        const p = this.#pending.get(e.data.id);
        this.#pending.delete(e.data.id);
        if (e.data.error === undefined) p?.resolve(e.data.result as Res);
        else p?.reject(this.options.error(e.data.error, e.data.name));
        this.#armIdle();
      };
      worker.onerror = (e) => {
        e.preventDefault();
        if (answered) return this.#fail(this.options.error(`the worker failed: ${e.message}`));
        // A worker that never answered could not load: from now on, and for what it held, this thread.
        this.#broken = true;
        const held = [...this.#pending.values()];
        this.#pending.clear();
        this.#worker?.terminate();
        this.#worker = undefined;
        for (const p of held) this.#here(p.request).then(p.resolve, p.reject);
      };
      this.#worker = worker;
    } catch {
      this.#broken = true;
    }
    return this.#worker;
  }

  #fail(err: Error) {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  #armIdle() {
    clearTimeout(this.#idle);
    if (this.#pending.size > 0) return;
    this.#idle = setTimeout(() => {
      if (this.#pending.size === 0) {
        this.#worker?.terminate();
        this.#worker = undefined;
      }
    }, this.options.idleMs ?? IDLE_MS);
    Deno.unrefTimer(this.#idle as unknown as number);
  }

  #here(request: Req): Promise<Res> {
    return this.options.inThread(request).catch((err) => {
      const e = err instanceof Error ? err : new Error(String(err));
      throw this.options.error(e.message, e.name);
    });
  }

  /** Whether work runs in this thread (no worker could start). */
  get inThread(): boolean {
    return this.#broken;
  }

  call(request: Req): Promise<Res> {
    clearTimeout(this.#idle);
    const worker = this.#start();
    if (!worker) return this.#here(request);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { request, resolve, reject });
      worker.postMessage({ id, request }, this.options.transfer?.(request) ?? []);
    });
  }
}
