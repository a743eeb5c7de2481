/** The agent's version, reported in /healthz and to the hub. */
export const VERSION = "0.1.0";
