/** Field schemas the tunnel's messages share (private to shared/tunnel). */
import { z } from "zod";

/** A site or node name. */
export const name = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, . _ -");

export const uid = z.string().min(1).max(64).regex(/^[0-9.]+$/, "a DICOM UID");

/** How long the agent may take over a request (ms). */
export const deadline = z.number().int().positive().max(24 * 3600 * 1000).optional();

/** A transfer task's id, as the hub names it. */
export const transferId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
