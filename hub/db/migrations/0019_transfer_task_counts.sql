CREATE TABLE `transfer_task_counts` (
	`status` text PRIMARY KEY NOT NULL,
	`count` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
INSERT INTO `transfer_task_counts` (`status`, `count`)
	SELECT `status`, count(*) FROM `transfer_tasks` GROUP BY `status`;--> statement-breakpoint
CREATE TRIGGER `transfer_task_counts_insert` AFTER INSERT ON `transfer_tasks` BEGIN
	INSERT INTO `transfer_task_counts` (`status`, `count`) VALUES (NEW.`status`, 1)
		ON CONFLICT (`status`) DO UPDATE SET `count` = `count` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `transfer_task_counts_delete` AFTER DELETE ON `transfer_tasks` BEGIN
	UPDATE `transfer_task_counts` SET `count` = `count` - 1 WHERE `status` = OLD.`status`;
END;--> statement-breakpoint
CREATE TRIGGER `transfer_task_counts_update` AFTER UPDATE OF `status` ON `transfer_tasks`
	WHEN OLD.`status` IS NOT NEW.`status` BEGIN
	UPDATE `transfer_task_counts` SET `count` = `count` - 1 WHERE `status` = OLD.`status`;
	INSERT INTO `transfer_task_counts` (`status`, `count`) VALUES (NEW.`status`, 1)
		ON CONFLICT (`status`) DO UPDATE SET `count` = `count` + 1;
END;
