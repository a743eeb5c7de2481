ALTER TABLE "transfers" ADD COLUMN "idempotency_key" text;--> statement-breakpoint
ALTER TABLE "transfers" ADD COLUMN "request_hash" text;--> statement-breakpoint
CREATE UNIQUE INDEX "transfers_idempotency_key" ON "transfers" USING btree ("idempotency_key");