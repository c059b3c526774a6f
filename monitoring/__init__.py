"""procops.monitoring: 7x24 threshold alerts on the platform (R2) that start the emergency plan (R7, R11).

- :mod:`procops.monitoring.rules` - alert rules rendered from the policy, with promtool unit tests;
- :mod:`procops.monitoring.stack` - Prometheus, Alertmanager and the exporters on loopback (up/down/status/check);
- :mod:`procops.monitoring.exporter` - the ``procops_*`` metrics from the journal, incident store and textfiles;
- :mod:`procops.monitoring.webhook` - Alertmanager notifications -> incidents (dedupe by fingerprint);
- :mod:`procops.monitoring.tools` - argv builders and the runner of promtool/amtool.
"""
