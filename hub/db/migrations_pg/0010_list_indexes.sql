CREATE INDEX "batches_created" ON "batches" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "batches_status" ON "batches" USING btree ("status","updated_at");--> statement-breakpoint
CREATE INDEX "transfers_status" ON "transfers" USING btree ("status");--> statement-breakpoint
CREATE INDEX "transfers_created" ON "transfers" USING btree ("created_at","id");