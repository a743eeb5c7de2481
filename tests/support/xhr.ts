/**
 * A small XMLHttpRequest over fetch, enough for npm `dicomweb-client` (which needs XHR, absent in
 * Deno): open, headers, responseType, send, readyState/status/response, response headers and the
 * event handlers the client sets. Installed on globalThis by `installXhr()`.
 */
class FetchXhr {
  readyState = 0;
  status = 0;
  responseType: "" | "arraybuffer" | "json" | "text" = "";
  response: unknown = null;
  withCredentials = false;
  onreadystatechange: (() => void) | null = null;
  onloadstart: (() => void) | null = null;
  onloadend: (() => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  onprogress: ((e: unknown) => void) | null = null;
  #method = "GET";
  #url = "";
  #headers = new Headers();
  #responseHeaders = new Headers();

  open(method: string, url: string) {
    this.#method = method;
    this.#url = url;
    this.readyState = 1;
  }

  setRequestHeader(name: string, value: string) {
    this.#headers.set(name, value);
  }

  getResponseHeader(name: string): string | null {
    return this.#responseHeaders.get(name);
  }

  getAllResponseHeaders(): string {
    return [...this.#responseHeaders].map(([k, v]) => `${k}: ${v}`).join("\r\n");
  }

  send(data?: BodyInit | null) {
    this.onloadstart?.();
    fetch(this.#url, { method: this.#method, headers: this.#headers, body: data ?? undefined })
      .then(async (res) => {
        this.status = res.status;
        this.#responseHeaders = res.headers;
        const buffer = await res.arrayBuffer();
        if (this.responseType === "arraybuffer") this.response = buffer;
        else {
          const text = new TextDecoder().decode(buffer);
          this.response = this.responseType === "json" ? (text ? JSON.parse(text) : null) : text;
        }
        this.readyState = 4;
        this.onreadystatechange?.();
        this.onloadend?.();
      })
      .catch((err) => {
        this.readyState = 4;
        this.status = 0;
        this.onerror?.(err);
        this.onreadystatechange?.();
      });
  }
}

export function installXhr(): void {
  (globalThis as unknown as { XMLHttpRequest: unknown }).XMLHttpRequest = FetchXhr;
}
