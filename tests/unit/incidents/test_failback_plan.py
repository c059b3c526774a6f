"""The failback's plan and the failover's data cutoff, as a person reads them."""

from __future__ import annotations

from types import SimpleNamespace

from procops.incidents.failback import plan
from procops.incidents.response import data_cutoff
from procops.sandbox.site import ActiveSite


def test_the_data_cutoff_names_the_snapshot_time_and_says_later_writes_are_not_on_the_standby():
    cut = data_cutoff({"time": "2026-12-01T10:00:00Z", "snapshot": "a03b0495", "repository": "offsite"})
    assert cut["snapshot_time"] == "2026-12-01T10:00:00Z"
    assert "up to 2026-12-01T10:00:00Z" in cut["note"] and "not on the standby" in cut["note"]


def test_the_failback_plan_backs_up_first_and_removes_the_standby_unless_kept():
    site = ActiveSite("standby", since="2026-12-01T10:05:00Z", incident="INC-1", operation="failover")
    standby = SimpleNamespace(url="http://127.0.0.1:18180")
    main = SimpleNamespace(url="http://127.0.0.1:8080")
    steps = plan(site, standby, main, keep_standby=False)
    assert steps[0].startswith("back up the 'standby' instance") and "remove its folder" in steps[-1]
    assert not any("remove" in s for s in plan(site, standby, main, keep_standby=True))


def test_an_active_site_other_than_main_is_failed_over():
    assert ActiveSite("standby").failed_over and not ActiveSite("main").failed_over
