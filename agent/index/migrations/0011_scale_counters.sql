CREATE TABLE `archive_totals` (
	`id` integer PRIMARY KEY NOT NULL,
	`objects` integer DEFAULT 0 NOT NULL,
	`bytes` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `queue_done_counts` (
	`destination` text PRIMARY KEY NOT NULL,
	`count` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `queue_state` ON `queue` (`state`,`destination`,`done_at`);--> statement-breakpoint
INSERT INTO `queue_done_counts` (`destination`, `count`)
	SELECT `destination`, count(*) FROM `queue` WHERE `state` = 'done' GROUP BY `destination`;--> statement-breakpoint
CREATE TRIGGER `queue_done_insert` AFTER INSERT ON `queue` WHEN NEW.`state` = 'done' BEGIN
	INSERT INTO `queue_done_counts` (`destination`, `count`) VALUES (NEW.`destination`, 1)
		ON CONFLICT (`destination`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `queue_done_delete` AFTER DELETE ON `queue` WHEN OLD.`state` = 'done' BEGIN
	UPDATE `queue_done_counts` SET `count` = `count` - 1 WHERE `destination` = OLD.`destination`;
END;--> statement-breakpoint
CREATE TRIGGER `queue_done_update` AFTER UPDATE OF `state`, `destination` ON `queue`
	WHEN OLD.`state` = 'done' OR NEW.`state` = 'done' BEGIN
	UPDATE `queue_done_counts` SET `count` = `count` - 1
		WHERE OLD.`state` = 'done' AND `destination` = OLD.`destination`;
	INSERT INTO `queue_done_counts` (`destination`, `count`) SELECT NEW.`destination`, 1 WHERE NEW.`state` = 'done'
		ON CONFLICT (`destination`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
INSERT INTO `archive_totals` (`id`, `objects`, `bytes`)
	SELECT 1, count(*), coalesce(sum(`file_size`), 0) FROM `instances` WHERE `removed_at` IS NULL AND `path` <> '';--> statement-breakpoint
CREATE TRIGGER `archive_totals_insert` AFTER INSERT ON `instances` BEGIN
	UPDATE `archive_totals` SET `objects` = `objects` + 1, `bytes` = `bytes` + NEW.`file_size`
		WHERE `id` = 1 AND NEW.`removed_at` IS NULL AND NEW.`path` <> '';
END;--> statement-breakpoint
CREATE TRIGGER `archive_totals_delete` AFTER DELETE ON `instances` BEGIN
	UPDATE `archive_totals` SET `objects` = `objects` - 1, `bytes` = `bytes` - OLD.`file_size`
		WHERE `id` = 1 AND OLD.`removed_at` IS NULL AND OLD.`path` <> '';
END;--> statement-breakpoint
CREATE TRIGGER `archive_totals_update` AFTER UPDATE OF `removed_at`, `path`, `file_size` ON `instances` BEGIN
	UPDATE `archive_totals` SET
		`objects` = `objects` - (OLD.`removed_at` IS NULL AND OLD.`path` <> '') + (NEW.`removed_at` IS NULL AND NEW.`path` <> ''),
		`bytes` = `bytes` - CASE WHEN OLD.`removed_at` IS NULL AND OLD.`path` <> '' THEN OLD.`file_size` ELSE 0 END
			+ CASE WHEN NEW.`removed_at` IS NULL AND NEW.`path` <> '' THEN NEW.`file_size` ELSE 0 END
		WHERE `id` = 1;
END;
