"""procops.incidents: the incident model, store, the three clocks, escalation, standby/failover, the
fault-analysis report, the alert receiver and the runbook loader (R7, R11, R12)."""
