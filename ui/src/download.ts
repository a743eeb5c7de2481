/**
 * Saves a file the hub sent as base64 (batch results, the audit log's CSV) through a blob: a `data:` URL
 * of a few megabytes is past what Chromium takes as a link, and the download silently did nothing.
 */
export function saveBase64(filename: string, contentBase64: string, type = "application/octet-stream"): void {
  saveBlob(filename, new Blob([Uint8Array.from(atob(contentBase64), (c) => c.charCodeAt(0))], { type }));
}

/** Saves text the console made itself (the batch template) the same way. */
export function saveText(filename: string, text: string, type = "text/plain"): void {
  saveBlob(filename, new Blob([text], { type }));
}

/**
 * Saves a file the hub streams (a batch's results as CSV, `/api`) with the session's cookie. An error answer
 * (a problem object) is thrown with its detail, and nothing is saved.
 */
export async function saveFrom(url: string, filename: string): Promise<void> {
  const res = await fetch(url, { credentials: "same-origin" });
  if (!res.ok) {
    const detail = await res.json().then((p) => p?.detail as string | undefined, () => undefined);
    throw new Error(detail ?? `the hub answered ${res.status}`);
  }
  saveBlob(filename, await res.blob());
}

function saveBlob(filename: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.click();
  // Revoked once the browser has surely started the download.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
