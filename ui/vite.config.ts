import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

// `deno task build:ui` builds the console into ui/dist, which the hub serves at /.
export default defineConfig({
  plugins: [solid()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
});
