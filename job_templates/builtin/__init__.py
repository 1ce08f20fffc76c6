"""The built-in templates, registered by JobTemplatesConfig.ready()."""

BUILTIN_TEMPLATES = [
    "job_templates.builtin.heartbeat.HeartbeatTemplate",
    "job_templates.builtin.database_cleanup.DatabaseCleanupTemplate",
    "job_templates.builtin.email_notification.EmailNotificationTemplate",
    "job_templates.builtin.data_export.DataExportTemplate",
    "job_templates.builtin.report_generation.ReportGenerationTemplate",
    "job_templates.builtin.backup.BackupTemplate",
    "job_templates.builtin.webhook_trigger.WebhookTriggerTemplate",
]
