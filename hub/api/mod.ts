/**
 * The hub's API as its clients see it: the router's type (for a typed tRPC client: the console, scripts)
 * and the role matrix's actions (what the console shows a user may do).
 */
export type { AppRouter } from "./router.ts";
export type { Action } from "../auth/permissions.ts";
