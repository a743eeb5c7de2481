/** Reading a multipart/related response whole in tests: each part's Content-Type and bytes. */
import { parseMultipart } from "../../hub/dicomweb/multipart.ts";

export interface Part {
  type: string;
  body: Uint8Array<ArrayBuffer>;
}

export async function responseParts(res: Response): Promise<Part[]> {
  const boundary = /boundary=([^;]+)/.exec(res.headers.get("content-type") ?? "")?.[1];
  if (!boundary) throw new Error(`not a multipart response: ${res.headers.get("content-type")}`);
  const out: Part[] = [];
  for await (const p of parseMultipart(res.body!, boundary)) {
    const chunks: Uint8Array[] = [];
    for await (const c of p.body) chunks.push(c);
    out.push({
      type: p.headers.get("content-type") ?? "",
      body: new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer()),
    });
  }
  return out;
}
