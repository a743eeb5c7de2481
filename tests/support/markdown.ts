/** Reading the product's Markdown documents in tests: sections, tables, fenced examples, links. */

/** The repository's root, as a file URL. */
export const REPO = new URL("../../", import.meta.url);

/** The text of a document, by its path from the repository's root (`docs/configuration.md`). */
export function readDoc(path: string): string {
  return Deno.readTextFileSync(new URL(path, REPO));
}

/** Removes fenced code blocks, so that `#` and `|` inside examples are not read as headings or tables. */
export function withoutFences(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, "");
}

/**
 * The text under a heading (`## Nodes`) up to the next heading of the same or a higher level (outside fenced
 * blocks).
 */
export function section(text: string, heading: string): string {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const level = heading.indexOf(" ");
  let end = lines.length;
  let fence: string | undefined; // a shell comment in a fenced block is no heading
  for (let i = start + 1; i < lines.length; i++) {
    const open = /^(```|~~~)/.exec(lines[i])?.[1];
    if (open && (!fence || fence === open)) fence = fence ? undefined : open;
    if (fence || open) continue;
    const m = /^(#+) /.exec(lines[i]);
    if (m && m[1].length <= level) {
      end = i;
      break;
    }
  }
  return lines.slice(start + 1, end).join("\n");
}

/** A table's rows as objects keyed by the header's cells; `\|` inside a cell is a literal bar. */
export type Row = Record<string, string>;

/** Every table of `text`, in order. */
export function tables(text: string): Row[][] {
  const out: Row[][] = [];
  const lines = withoutFences(text).split("\n");
  const cells = (l: string) =>
    l.trim().replace(/^\|/, "").replace(/\|$/, "").split(/(?<!\\)\|/).map((c) =>
      c.trim().replaceAll("\\|", "|")
    );
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i].trim().startsWith("|") || !/^\s*\|[\s:|-]+\|\s*$/.test(lines[i + 1])) continue;
    const header = cells(lines[i]);
    const rows: Row[] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j].trim().startsWith("|"); j++) {
      const c = cells(lines[j]);
      rows.push(Object.fromEntries(header.map((h, k) => [h, c[k] ?? ""])));
    }
    out.push(rows);
    i = j;
  }
  return out;
}

/** The fenced blocks of a language (`yaml`, `sh`...), with the line each starts on. */
export function fences(text: string, lang: string): { code: string; line: number }[] {
  const out: { code: string; line: number }[] = [];
  const re = /^(```|~~~)([^\n]*)\n([\s\S]*?)^\1[ \t]*$/gm;
  for (const m of text.matchAll(re)) {
    if (m[2].trim() !== lang) continue;
    out.push({ code: m[3], line: text.slice(0, m.index).split("\n").length });
  }
  return out;
}

/** The anchors GitHub gives a document's headings (`## Free-space floor` → `free-space-floor`). */
export function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of withoutFences(text).matchAll(/^#{1,6} (.*)$/gm)) {
    const base = m[1].trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** The `[text](target)` links of a document, outside fenced blocks. */
export function links(text: string): string[] {
  return [...withoutFences(text).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}
