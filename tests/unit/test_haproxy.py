from procops.haproxy import parse_stat

STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act
platform,FRONTEND,,,0,1,4096,12,0,0,0,0,0,,,,,OPEN,,
replicas,r1,0,0,2,3,,40,0,0,,0,,0,0,0,0,UP,100,1
replicas,r2,0,0,0,1,,38,0,0,,0,,0,0,0,0,DOWN,50,1
replicas,BACKEND,0,0,2,3,410,78,0,0,0,0,,0,0,0,0,UP,150,2
other,x1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1
"""


def test_parse_stat_keeps_servers_only():
    rows = parse_stat(STAT)
    assert [(r.backend, r.server) for r in rows] == [("replicas", "r1"), ("replicas", "r2"), ("other", "x1")]
    r1, r2 = rows[0], rows[1]
    assert r1.up and r1.weight == 100 and r1.current_sessions == 2 and r1.total_sessions == 40
    assert not r2.up and r2.status == "DOWN"


def test_parse_stat_filters_by_backend():
    assert [r.server for r in parse_stat(STAT, "other")] == ["x1"]
