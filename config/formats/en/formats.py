"""Date and time formats for English: the admin's one format, with the zone.

Django's own English default reads "Dec. 1, 2026, 1:34 p.m." with no zone;
every page of the scheduler writes "2026-12-01 13:34 UTC" instead
(scheduler_jobs.labels), and this makes the admin's generic lists and forms
(the audit log, users) say it the same way.
"""

DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
