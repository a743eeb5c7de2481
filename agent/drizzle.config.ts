import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./index/schema.ts",
  out: "./index/migrations",
});
