"""The built-in templates, registered by JobTemplatesConfig.ready()."""

BUILTIN_TEMPLATES = [
    "job_templates.builtin.heartbeat.HeartbeatTemplate",
]
