from procops.monitoring.webhook import RejectionWindow


def test_the_first_refusal_is_summarised_at_once_and_the_rest_of_the_window_once_it_closes():
    w = RejectionWindow(every=60)
    first = w.add("unauthorized", 401, "missing or wrong bearer token", 0.0, "t0")
    assert first is not None and first.count == 1 and first.reasons == {"unauthorized": 1}
    assert all(w.add("unauthorized", 401, "x", 1.0 + i / 1000, f"t{i}") is None for i in range(998))
    assert w.add("too_large", 413, "body too large", 2.0, "tz") is None
    assert w.due(59.0) is None
    later = w.due(61.0)
    assert later is not None and later.count == 999
    assert later.reasons == {"unauthorized": 998, "too_large": 1}
    assert (later.window_start, later.window_end, later.code) == ("t0", "tz", 413)
    assert w.due(200.0) is None  # nothing new: no row


def test_a_forced_flush_journals_what_the_window_holds_and_nothing_when_it_is_empty():
    w = RejectionWindow(every=60)
    w.add("bad_payload", 400, "not JSON", 0.0, "a")
    w.add("bad_payload", 400, "not JSON", 1.0, "b")
    forced = w.due(2.0, force=True)
    assert forced is not None and forced.count == 1
    assert w.due(3.0, force=True) is None
