"""Given to every Locust process procops starts (``-f <locustfile>,plugin.py,shape.py``): installs the recorder.

Kept apart from the locustfile so that a custom locustfile (``--locustfile``)
is measured exactly like the built-in one, and the built-in one stays a plain
locustfile that runs by hand without procops.
"""

from __future__ import annotations

from locust import events

from procops.loadtests import recorder


@events.init.add_listener
def _install_recorder(environment, **_kwargs):
    recorder.install(environment)
