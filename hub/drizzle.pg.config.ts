import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./db/tables_pg.ts",
  out: "./db/migrations_pg",
});
