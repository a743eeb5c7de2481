import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

// The console imports shared code through the package's faces (`@conduit/shared/deid`), as Deno resolves
// them from shared/deno.json's exports; Vite gets the same table as aliases. (Imports from the hub are
// types only, gone before Vite resolves anything.)
const shared = new URL("../shared/", import.meta.url);
const faces: Record<string, string> = JSON.parse(readFileSync(new URL("deno.json", shared), "utf8")).exports;
const alias = Object.entries(faces).map(([face, file]) => ({
  find: new RegExp(`^@conduit/shared${face.slice(1).replaceAll("/", "\\/")}$`),
  replacement: fileURLToPath(new URL(file, shared)),
}));

// `deno task build:ui` builds the console into ui/dist, which the hub serves at /.
export default defineConfig({
  plugins: [solid()],
  resolve: { alias },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
});
