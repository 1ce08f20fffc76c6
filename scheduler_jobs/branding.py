"""The admin site's name and home page: Dynamic Scheduler, not "Django administration".

Set once at start-up (SchedulerJobsConfig.ready) on Django's default admin site,
which every admin page of every app uses, so the header, the browser tab and
the home page all name the product.
"""

from __future__ import annotations

from django.contrib import admin

SITE_NAME = "Dynamic Scheduler"


def brand_admin_site(site: admin.AdminSite | None = None) -> None:
    """Name the site; drop the left-hand navigation sidebar.

    The sidebar repeated the whole home page beside every list: at 1440 px it
    squeezed job names onto four lines and pushed the template catalogue's last
    columns out of view, and its links cost two dozen Tab presses before a form.
    The home page (grouped, ours first) and the breadcrumbs lead everywhere it
    did.
    """
    site = site or admin.site
    site.site_header = SITE_NAME
    site.site_title = SITE_NAME
    site.index_title = "Home"
    site.enable_nav_sidebar = False
    # "View site" led to a page that does not exist: the admin is the site.
    site.site_url = None
